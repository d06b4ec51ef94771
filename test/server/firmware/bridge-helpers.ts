/** Talks to a device's firmware bridge the way the firmware does: JSON over HTTP on its Unix socket. */
import http from 'node:http';

export interface BridgeAnswer<T = Record<string, unknown>> {
  status: number;
  contentType: string | undefined;
  body: T;
}

/** `chunked`: no Content-Length, the body goes out in small pieces (Transfer-Encoding: chunked). */
export function bridgeCall<T = Record<string, unknown>>(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown, options: { chunked?: boolean } = {}): Promise<BridgeAnswer<T>> {
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const headers = payload ? { 'content-type': 'application/json', ...(options.chunked ? {} : { 'content-length': payload.length }) } : {};
    const request = http.request(
      { socketPath, method, path, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], body: JSON.parse(text) as T });
          } catch (err) {
            reject(new Error(`not JSON (HTTP ${response.statusCode}): ${text.slice(0, 200)}`, { cause: err }));
          }
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    if (payload && options.chunked) {
      for (let i = 0; i < payload.length; i += 1000) request.write(payload.subarray(i, i + 1000));
      request.end();
    } else request.end(payload);
  });
}

/** The bytes of the attachment `fileName` in a raw MIME message (base64 transfer encoding). */
export function attachmentOf(raw: Buffer, fileName: string): Buffer | undefined {
  const text = raw.toString('latin1');
  const at = text.indexOf(`filename=${fileName}`);
  if (at < 0) return undefined;
  const start = text.indexOf('\r\n\r\n', at);
  const end = text.indexOf('\r\n--', start);
  return Buffer.from(text.slice(start + 4, end).replace(/\s+/g, ''), 'base64');
}
