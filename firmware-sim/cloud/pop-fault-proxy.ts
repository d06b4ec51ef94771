// A small TCP proxy in front of the lab's Dovecot, so POP faults are real bytes on a real socket:
// the device is configured to the proxy's port and cannot tell it from Dovecot.
//
// Faults (setFault, one at a time; `count` = how many matching events get it, unset = until cleared):
// - {kind:'auth'}      the next AUTH is answered `-ERR [AUTH] Authentication failed.` (what Dovecot
//                      says for a refused token) without asking Dovecot;
// - {kind:'sys_temp'}  the next AUTH is answered `-ERR [SYS/TEMP] Temporary authentication failure.`
//                      (Dovecot's answer when its token introspection fails);
// - {kind:'challenge'} the next AUTH gets the XOAUTH2 error challenge `+ <base64 {status:"401",…}>`,
//                      and after the client's empty answer `-ERR [AUTH] Authentication failed.`;
// - {kind:'drop', at?:'connect'|'auth'} the TCP connection is cut on connect (default) or at AUTH;
// - {kind:'slow', ms?} every server line of the next `count` connections is delayed by `ms` (1000).
// Everything else is passed through byte for byte.
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export type PopFault =
  | null
  | { kind: 'auth' | 'sys_temp' | 'challenge'; count?: number }
  | { kind: 'drop'; at?: 'connect' | 'auth'; count?: number }
  | { kind: 'slow'; ms?: number; count?: number };

export interface PopFaultProxy {
  port: number;
  /** connections opened so far */
  readonly connections: number;
  /** what each injected fault did, oldest first (e.g. "AUTH → -ERR [AUTH] Authentication failed.") */
  readonly injected: string[];
  setFault(fault: PopFault): void;
  readonly fault: PopFault;
  close(): Promise<void>;
}

export const POP_REPLIES = {
  auth: '-ERR [AUTH] Authentication failed.',
  sys_temp: '-ERR [SYS/TEMP] Temporary authentication failure.',
  challenge: `+ ${Buffer.from(JSON.stringify({ status: '401', schemes: 'bearer', scope: 'mail.pop' })).toString('base64')}`,
} as const;

export async function startPopFaultProxy(opts: { target: number; port?: number; host?: string }): Promise<PopFaultProxy> {
  const host = opts.host ?? '127.0.0.1';
  let fault: PopFault = null;
  let connections = 0;
  const injected: string[] = [];
  const sockets = new Set<Socket>();

  function take(): void {
    if (fault && fault.count !== undefined) {
      fault.count -= 1;
      if (fault.count <= 0) fault = null;
    }
  }

  const server = net.createServer((client) => {
    connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const f = fault;
    if (f && f.kind === 'drop' && (f.at ?? 'connect') === 'connect') {
      take();
      injected.push('connect → connection dropped');
      client.destroy();
      return;
    }
    let delay = 0;
    if (f && f.kind === 'slow') {
      take();
      delay = f.ms ?? 1000;
      injected.push(`connect → every reply delayed ${delay} ms`);
    }
    const upstream = net.connect({ host: '127.0.0.1', port: opts.target });
    sockets.add(upstream);
    // Dovecot closed (after QUIT): let what is still on its way reach the client first.
    upstream.on('close', () => { sockets.delete(upstream); setTimeout(() => client.end(), delay); });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());

    const toClient = (data: Buffer | string): void => {
      if (delay > 0) setTimeout(() => { if (!client.destroyed) client.write(data); }, delay);
      else if (!client.destroyed) client.write(data);
    };
    upstream.on('data', (data: Buffer) => toClient(data));

    // Client → server, line by line: an AUTH may be answered here instead of by Dovecot.
    let buffer = '';
    // 'none' = pass through; otherwise we are inside an AUTH exchange we answer ourselves.
    let state: 'none' | 'await-credentials' | 'await-challenge-answer' = 'none';
    let pending: 'auth' | 'sys_temp' | 'challenge' = 'auth';
    client.on('data', (data: Buffer) => {
      buffer += data.toString('latin1');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl + 1);
        buffer = buffer.slice(nl + 1);
        onLine(line);
      }
    });

    function finish(kind: 'auth' | 'sys_temp' | 'challenge'): void {
      if (kind === 'challenge') {
        toClient(`${POP_REPLIES.challenge}\r\n`);
        state = 'await-challenge-answer';
        return;
      }
      toClient(`${POP_REPLIES[kind]}\r\n`);
      state = 'none';
    }

    function onLine(line: string): void {
      if (state === 'await-credentials') return finish(pending);
      if (state === 'await-challenge-answer') {
        toClient(`${POP_REPLIES.auth}\r\n`);
        state = 'none';
        return;
      }
      const command = /^AUTH\s+(\S+)(?:\s+(\S+))?/i.exec(line.trim());
      const f2 = fault;
      if (command && f2 && f2.kind === 'drop' && f2.at === 'auth') {
        take();
        injected.push(`AUTH ${command[1]} → connection dropped`);
        client.destroy();
        return;
      }
      if (command && f2 && (f2.kind === 'auth' || f2.kind === 'sys_temp' || f2.kind === 'challenge')) {
        take();
        pending = f2.kind;
        injected.push(`AUTH ${command[1]} → ${f2.kind === 'challenge' ? `${POP_REPLIES.challenge} then ${POP_REPLIES.auth}` : POP_REPLIES[f2.kind]}`);
        if (command[2] !== undefined) return finish(pending); // initial response on the AUTH line
        toClient('+ \r\n');
        state = 'await-credentials';
        return;
      }
      upstream.write(Buffer.from(line, 'latin1'));
    }
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    port,
    get connections() { return connections; },
    injected,
    get fault() { return fault; },
    setFault(next) { fault = next ? { ...next } : null; },
    close() {
      closed ??= new Promise<void>((resolve) => {
        fault = null;
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}
