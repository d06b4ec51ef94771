import net from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on right now (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Why a server could not listen on 127.0.0.1:port right now (EADDRINUSE, EACCES), or undefined if it could. */
export function portUnavailable(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(err.code) : reject(err)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(undefined)));
  });
}
