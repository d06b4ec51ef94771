// The device's firmware bridge, as the printer's firmware talks to it: JSON over HTTP on a Unix
// socket (`<MFP_DATA_DIR>/firmware.sock` unless MFP_FIRMWARE_SOCKET says otherwise).
import { request } from 'node:http';
import path from 'node:path';

export type DeviceEventKind = 'toner_low' | 'paper_jam' | 'service_call' | 'cleared';
export const DEVICE_EVENT_KINDS: readonly DeviceEventKind[] = ['toner_low', 'paper_jam', 'service_call', 'cleared'];
export type BridgeTokenState = 'not_obtained' | 'awaiting_authorization' | 'obtained' | 'invalid';

export interface ScanToEmailRequest { to: string[]; subject?: string; fileName?: string; pdfBase64: string; pages?: number }
export interface ScanToEmailAnswer { jobId: string | number; held: boolean }
export interface EventAnswer { eventId: string | number; alertJobId: string | number | null }
export interface BridgeStatus {
  model: string;
  events: unknown[];
  outbox: { queued: number; held: number; failed: number };
  tokens: { smtp: BridgeTokenState; pop: BridgeTokenState };
  pop: { lastCheckAt: string | number | null; inbox: unknown };
}
export interface PopCheckAnswer { ok: boolean; fetched: number; problem: { code: string; message: string } | null }

export class BridgeError extends Error {
  constructor(message: string, readonly status?: number, readonly body?: unknown, readonly unavailable = false) {
    super(message);
    this.name = 'BridgeError';
  }
}

export function bridgeSocketPath(dataDir: string, env: NodeJS.ProcessEnv = {}): string {
  return path.resolve(env.MFP_FIRMWARE_SOCKET || path.join(dataDir, 'firmware.sock'));
}

export class BridgeClient {
  constructor(readonly socketPath: string, readonly timeoutMs = 30_000) {}

  call<T>(method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<{ status: number; body: T }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request({
        socketPath: this.socketPath,
        path: urlPath,
        method,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
        timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = text ? JSON.parse(text) : null; } catch { /* keep the text */ }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.on('timeout', () => req.destroy(new BridgeError(`${method} ${urlPath}: no answer from the bridge within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof BridgeError) return reject(err);
        const unavailable = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
        reject(new BridgeError(`${method} ${urlPath}: ${unavailable ? `no firmware bridge at ${this.socketPath}` : err.message}`, undefined, undefined, unavailable));
      });
      req.end(payload);
    });
  }

  async #expect<T>(method: 'GET' | 'POST', urlPath: string, ok: number[], body?: unknown): Promise<T> {
    const answer = await this.call<T>(method, urlPath, body);
    if (!ok.includes(answer.status)) {
      const detail = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      throw new BridgeError(`${method} ${urlPath} answered HTTP ${answer.status}: ${detail.slice(0, 300)}`, answer.status, answer.body);
    }
    return answer.body;
  }

  scanToEmail(job: ScanToEmailRequest): Promise<ScanToEmailAnswer> {
    return this.#expect('POST', '/scan-to-email', [202, 200], job);
  }

  event(kind: DeviceEventKind, detail?: string): Promise<EventAnswer> {
    return this.#expect('POST', '/events', [202, 200], detail === undefined ? { kind } : { kind, detail });
  }

  status(): Promise<BridgeStatus> {
    return this.#expect('GET', '/status', [200]);
  }

  popCheck(): Promise<PopCheckAnswer> {
    return this.#expect('POST', '/pop/check', [200, 202]);
  }

  /** Waits until the bridge answers GET /status; false when it never did (a device without a bridge). */
  async waitUntilUp(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.status();
        return true;
      } catch (err) {
        if (!(err instanceof BridgeError) || Date.now() > deadline) return false;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
