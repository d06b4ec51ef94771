// A small POP3 client (RFC 1939, CAPA/STLS from RFC 2449/2595, SASL AUTH from RFC 5034) for the
// printer's "E-mail Status" check. Written in-house because node-pop3 treats any `+` line as success
// (a failed XOAUTH2 challenge looks like a login), has no AUTH and assumes one TCP chunk per reply.
// Node built-ins only: it runs on the printer.
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionOptions } from 'node:tls';

export type Pop3Security = 'none' | 'starttls' | 'tls';

export interface Pop3ConnectOptions {
  host: string;
  port: number;
  security: Pop3Security;
  /** Connect + TLS + greeting must finish within this; each command must make progress within it. */
  timeoutMs: number;
  /** Extra TLS options (ca, rejectUnauthorized, servername) for 'tls' and 'starttls'. */
  tls?: ConnectionOptions;
}

/** One transcript entry; credentials are already masked. */
export interface TranscriptLine {
  direction: 'client' | 'server' | 'info';
  text: string;
}

export type Pop3ErrorKind = 'network' | 'timeout' | 'tls' | 'protocol' | 'auth' | 'temporary' | 'unsupported';

export class Pop3Error extends Error {
  override name = 'Pop3Error';
  readonly kind: Pop3ErrorKind;
  /** The server's -ERR line (masked), when the server answered. */
  readonly response?: string;
  /** Decoded JSON of a `+ <base64>` XOAUTH2 error challenge (e.g. {status, schemes, scope}). */
  readonly challenge?: unknown;

  constructor(kind: Pop3ErrorKind, message: string, extra: { response?: string; challenge?: unknown; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.kind = kind;
    if (extra.response !== undefined) this.response = extra.response;
    if (extra.challenge !== undefined) this.challenge = extra.challenge;
  }
}

export interface Pop3Session {
  readonly greeting: string;
  readonly transcript: TranscriptLine[];
  /** CAPA; an empty list if the server answers -ERR (pre-CAPA servers). */
  capabilities(): Promise<string[]>;
  /** USER/PASS. */
  loginWithPassword(user: string, password: string): Promise<void>;
  /** Two-step SASL XOAUTH2, the form Microsoft requires (Dovecot accepts it too). */
  loginWithXoauth2(user: string, accessToken: string): Promise<void>;
  stat(): Promise<{ count: number; size: number }>;
  /** unique id → message number. */
  uidl(): Promise<Map<string, number>>;
  /** RETR: the message exactly as stored (dot-unstuffed, line endings untouched). */
  retrieve(messageNumber: number): Promise<Buffer>;
  delete(messageNumber: number): Promise<void>;
  /** QUIT (commits deletions) and close. */
  quit(): Promise<void>;
  /** Hard close; pending commands fail with kind 'network'. */
  close(): void;
}

// Longest run of bytes without LF we buffer; guards memory against a hostile or broken server.
const MAX_LINE_BYTES = 1024 * 1024;
// Transcripts are shown in the admin panel and kept in memory: bound them.
const MAX_TRANSCRIPT = 500;
const MAX_LISTED_LINES = 20;
// TCP-level failures are 'network' even when they happen during a TLS handshake.
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
  'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ERR_SOCKET_CLOSED', 'ERR_STREAM_DESTROYED',
]);

interface Waiter {
  /** Fed one line at a time (with its line ending); returns true when it has read enough. */
  onLine?: (line: Buffer) => boolean;
  /** Settled when the TLS handshake completes (STLS upgrade). */
  onSecure?: () => void;
  what: string;
  done: (err?: Pop3Error) => void;
}

/** The socket plus a line reader that copes with replies split over, or packed into, TCP chunks. */
class Wire {
  socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: Waiter | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timeoutMs = 0;
  /** Set once the connection is unusable; later commands fail with it. */
  gone: Pop3Error | null = null;
  private handshaking = false;
  private readonly onData = (chunk: Buffer): void => this.data(chunk);
  private readonly onError = (err: Error): void => this.fail(this.classify(err));
  private readonly onClose = (): void => this.fail(new Pop3Error('network', 'connection closed by the server'));
  private readonly onSecureConnect = (): void => {
    this.handshaking = false;
    const s = this.socket as tls.TLSSocket;
    this.info(`TLS established (${s.getProtocol?.() ?? 'unknown protocol'}, ${s.getCipher?.()?.name ?? 'unknown cipher'})`);
    const w = this.waiter;
    if (w?.onSecure) this.settle();
  };

  constructor(socket: net.Socket, isTls: boolean, readonly info: (text: string) => void) {
    this.socket = socket;
    this.attach(socket, isTls);
  }

  attach(socket: net.Socket, isTls: boolean): void {
    this.socket = socket;
    this.handshaking = isTls;
    socket.setNoDelay(true); // small commands must not wait for the peer's delayed ACK (REFERENCE §2b)
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    if (isTls) socket.once('secureConnect', this.onSecureConnect);
  }

  /** Hand the raw socket to TLS (STLS). Refuses if the server sent anything after its +OK:
   *  those bytes were never protected and could be injected (the classic STARTTLS flaw). */
  detachForTls(): net.Socket {
    if (this.buf.length > 0) {
      const err = new Pop3Error('protocol', 'server sent data after the STLS response; refusing to continue');
      this.fail(err);
      throw err;
    }
    const s = this.socket;
    s.off('data', this.onData);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    s.on('error', () => {}); // errors now surface on the TLS socket; never crash on the raw one
    return s;
  }

  private classify(err: Error & { code?: string }): Pop3Error {
    const code = err.code ?? '';
    if (NETWORK_CODES.has(code)) return new Pop3Error('network', `network error: ${err.message}`, { cause: err });
    if (this.handshaking || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(err.message)) {
      return new Pop3Error('tls', `TLS error: ${err.message}`, { cause: err });
    }
    return new Pop3Error('network', `network error: ${err.message}`, { cause: err });
  }

  private data(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.waiter && this.timer) this.timer.refresh(); // progress: the timeout is about silence
    this.pump();
    if (!this.gone && this.buf.length > MAX_LINE_BYTES && this.buf.indexOf(0x0a) < 0) {
      this.fail(new Pop3Error('protocol', `server sent more than ${MAX_LINE_BYTES} bytes without a line break`));
    }
  }

  private pump(): void {
    while (this.waiter?.onLine && !this.gone) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl + 1);
      this.buf = this.buf.subarray(nl + 1);
      if (this.waiter.onLine(line)) this.settle();
    }
  }

  private settle(err?: Pop3Error): void {
    const w = this.waiter;
    this.waiter = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    w?.done(err);
  }

  /** Wait for lines (or the TLS handshake) until the waiter is satisfied, with a silence timeout. */
  wait(w: Omit<Waiter, 'done'>, timeoutMs: number): Promise<void> {
    if (this.gone) return Promise.reject(this.gone);
    if (this.waiter) return Promise.reject(new Pop3Error('protocol', 'internal: overlapping reads'));
    return new Promise<void>((resolve, reject) => {
      this.waiter = { ...w, done: (err) => (err ? reject(err) : resolve()) };
      this.timeoutMs = timeoutMs;
      this.timer = setTimeout(() => {
        this.fail(new Pop3Error('timeout', `no answer to ${w.what} within ${this.timeoutMs} ms`));
      }, timeoutMs);
      if (w.onSecure && !this.handshaking) this.settle();
      else this.pump();
    });
  }

  readLine(what: string, timeoutMs: number): Promise<Buffer> {
    let got: Buffer = Buffer.alloc(0);
    return this.wait({ what, onLine: (line) => ((got = line), true) }, timeoutMs).then(() => got);
  }

  write(data: string | Buffer): void {
    if (this.gone) throw this.gone;
    this.socket.write(data);
  }

  /** Close for good: the waiter (if any) gets `err`, later commands a 'network' error. */
  fail(err: Pop3Error): void {
    if (this.gone) return;
    this.gone = err.kind === 'network' ? err : new Pop3Error('network', `connection is closed (${err.message})`);
    this.socket.destroy();
    this.settle(err);
  }
}

function statusText(line: Buffer): string {
  return line.toString('utf8').replace(/\r?\n$/, '');
}

/** Map an -ERR line to an error kind; RFC 3206 response codes win over the caller's default. */
function errKind(line: string, fallback: Pop3ErrorKind): Pop3ErrorKind {
  const code = /^-ERR\s*\[([^\]]+)\]/i.exec(line)?.[1]?.toUpperCase() ?? '';
  if (code.startsWith('SYS/TEMP') || code.startsWith('IN-USE') || code.startsWith('LOGIN-DELAY')) return 'temporary';
  if (code === 'AUTH') return 'auth';
  return fallback;
}

function checkNoControl(label: string, value: string): void {
  // CR/LF would inject commands; ^A would corrupt the XOAUTH2 record.
  if (/[\r\n\x00\x01]/.test(value)) throw new TypeError(`${label} must not contain CR, LF, NUL or ^A`);
}

function checkMessageNumber(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`invalid message number: ${n}`);
}

class Session implements Pop3Session {
  greeting = '';
  readonly transcript: TranscriptLine[] = [];
  private readonly secrets: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  wire!: Wire;

  constructor(readonly opts: Pop3ConnectOptions) {}

  // Masks every secret this session has seen, wherever it turns up (even echoed by a server).
  mask(text: string): string {
    let out = text;
    for (const s of this.secrets) if (s.length >= 4) out = out.split(s).join('********');
    return out;
  }

  note(direction: TranscriptLine['direction'], text: string): void {
    if (this.transcript.length < MAX_TRANSCRIPT) this.transcript.push({ direction, text: this.mask(text) });
    else if (this.transcript.length === MAX_TRANSCRIPT) this.transcript.push({ direction: 'info', text: '(transcript truncated)' });
  }

  /** Every error leaving the session goes through here: masked message and response. */
  private masked(err: unknown): unknown {
    if (!(err instanceof Pop3Error)) return err;
    const m = this.mask(err.message);
    const r = err.response === undefined ? undefined : this.mask(err.response);
    if (m === err.message && r === err.response) return err;
    return new Pop3Error(err.kind, m, { response: r, challenge: err.challenge, cause: err.cause });
  }

  /** POP3 is strictly request/response: serialize callers. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn).catch((e: unknown) => {
      throw this.masked(e);
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  send(line: string, shown = line): void {
    this.note('client', shown);
    this.wire.write(line + '\r\n');
  }

  async status(what: string): Promise<string> {
    const text = statusText(await this.wire.readLine(what, this.opts.timeoutMs));
    this.note('server', text);
    return text;
  }

  /** Send a command, expect +OK; -ERR becomes a Pop3Error of the right kind. */
  async simple(cmd: string, fallback: Pop3ErrorKind, shown = cmd): Promise<string> {
    const what = shown.split(' ')[0] ?? shown;
    this.send(cmd, shown);
    const line = await this.status(what);
    if (line.startsWith('+OK')) return line;
    if (line.startsWith('-ERR')) throw new Pop3Error(errKind(line, fallback), `${what} failed: ${line}`, { response: line });
    throw new Pop3Error('protocol', `unexpected answer to ${what}: ${line}`);
  }

  /** Read a multi-line body up to the lone ".": byte-exact, dot-unstuffed. */
  async body(what: string, record: 'lines' | 'summary'): Promise<Buffer> {
    const parts: Buffer[] = [];
    let listed = 0;
    await this.wire.wait({
      what,
      onLine: (line) => {
        // Only CRLF.CRLF ends the body: tolerating a bare ".\n" could cut a binary message short.
        if (line.length === 3 && line[0] === 0x2e && line[1] === 0x0d && line[2] === 0x0a) return true;
        const content = line[0] === 0x2e ? line.subarray(1) : line;
        parts.push(content);
        if (record === 'lines' && listed++ < MAX_LISTED_LINES) this.note('server', statusText(content));
        return false;
      },
    }, this.opts.timeoutMs);
    const out = Buffer.concat(parts);
    if (record === 'summary') this.note('info', `(message body: ${out.length} bytes)`);
    else if (listed > MAX_LISTED_LINES) this.note('info', `(${listed - MAX_LISTED_LINES} more lines)`);
    this.note('server', '.');
    return out;
  }

  capabilities(): Promise<string[]> {
    return this.run(() => this.capa());
  }

  async capa(): Promise<string[]> {
    this.send('CAPA');
    const line = await this.status('CAPA');
    if (line.startsWith('-ERR')) return [];
    if (!line.startsWith('+OK')) throw new Pop3Error('protocol', `unexpected answer to CAPA: ${line}`);
    const body = await this.body('CAPA', 'lines');
    return body.toString('utf8').split(/\r?\n/).filter((l) => l.length > 0);
  }

  async loginWithPassword(user: string, password: string): Promise<void> {
    checkNoControl('user', user);
    checkNoControl('password', password);
    this.secrets.push(password);
    return this.run(async () => {
      await this.simple(`USER ${user}`, 'auth');
      await this.simple(`PASS ${password}`, 'auth', 'PASS ********');
    });
  }

  async loginWithXoauth2(user: string, accessToken: string): Promise<void> {
    checkNoControl('user', user);
    checkNoControl('access token', accessToken);
    const initial = Buffer.from(`user=${user}\x01auth=Bearer ${accessToken}\x01\x01`).toString('base64');
    this.secrets.push(accessToken, initial);
    return this.run(async () => {
      this.send('AUTH XOAUTH2');
      let line = await this.status('AUTH');
      if (line.startsWith('-ERR')) {
        // Refused before any credentials were sent: the mechanism is not offered (unless a code says otherwise).
        throw new Pop3Error(errKind(line, 'unsupported'), `AUTH XOAUTH2 refused: ${line}`, { response: line });
      }
      if (line !== '+' && !line.startsWith('+ ')) throw new Pop3Error('protocol', `unexpected answer to AUTH XOAUTH2: ${line}`);
      this.send(initial, '<XOAUTH2 credentials hidden>');
      line = await this.status('AUTH');
      let challenge: unknown;
      if (line === '+' || line.startsWith('+ ')) {
        // XOAUTH2's error challenge: base64 JSON {status, schemes, scope}. The client must answer
        // with an empty line; the server then sends the real -ERR.
        challenge = decodeChallenge(line.slice(2).trim());
        if (challenge !== undefined) this.note('info', `challenge: ${JSON.stringify(challenge)}`);
        this.send('');
        line = await this.status('AUTH');
      }
      if (line.startsWith('+OK') && challenge === undefined) return;
      if (line.startsWith('-ERR') || line.startsWith('+OK')) {
        // (+OK after an error challenge is a broken server: still not a login we can trust.)
        throw new Pop3Error(errKind(line, 'auth'), `XOAUTH2 login failed: ${line}`, { response: line, challenge });
      }
      throw new Pop3Error('protocol', `unexpected answer to XOAUTH2 credentials: ${line}`);
    });
  }

  stat(): Promise<{ count: number; size: number }> {
    return this.run(async () => {
      const line = await this.simple('STAT', 'protocol');
      const m = /^\+OK (\d+) (\d+)/.exec(line);
      if (!m) throw new Pop3Error('protocol', `malformed STAT answer: ${line}`);
      return { count: Number(m[1]), size: Number(m[2]) };
    });
  }

  uidl(): Promise<Map<string, number>> {
    return this.run(async () => {
      await this.simple('UIDL', 'protocol');
      const body = await this.body('UIDL', 'lines');
      const map = new Map<string, number>();
      for (const l of body.toString('utf8').split(/\r?\n/)) {
        if (l.length === 0) continue;
        const m = /^(\d+) +(\S+)/.exec(l);
        if (!m) throw new Pop3Error('protocol', `malformed UIDL line: ${l}`);
        map.set(m[2]!, Number(m[1]));
      }
      return map;
    });
  }

  async retrieve(messageNumber: number): Promise<Buffer> {
    checkMessageNumber(messageNumber);
    return this.run(async () => {
      await this.simple(`RETR ${messageNumber}`, 'protocol');
      return this.body('RETR', 'summary'); // message bodies are private: not in the transcript
    });
  }

  async delete(messageNumber: number): Promise<void> {
    checkMessageNumber(messageNumber);
    return this.run(async () => {
      await this.simple(`DELE ${messageNumber}`, 'protocol');
    });
  }

  quit(): Promise<void> {
    return this.run(async () => {
      try {
        await this.simple('QUIT', 'protocol');
      } finally {
        await this.endGracefully();
      }
    });
  }

  private async endGracefully(): Promise<void> {
    const wire = this.wire;
    if (wire.gone) return;
    const socket = wire.socket;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => socket.destroy(), this.opts.timeoutMs);
      socket.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      wire.gone = new Pop3Error('network', 'connection is closed (QUIT)');
      socket.end();
    });
    this.note('info', 'connection closed');
  }

  close(): void {
    if (!this.wire.gone) this.note('info', 'connection closed by the client');
    this.wire.fail(new Pop3Error('network', 'connection closed by the client'));
  }

  async starttls(): Promise<void> {
    const caps = await this.capa();
    if (!caps.some((c) => c.toUpperCase() === 'STLS')) {
      // Never fall back to plain text: the credentials would cross the network unprotected.
      throw new Pop3Error('unsupported', 'the server does not offer STLS; refusing to continue without TLS');
    }
    await this.simple('STLS', 'tls');
    const raw = this.wire.detachForTls();
    const secure = tls.connect({ ...tlsOptions(this.opts), socket: raw });
    this.wire.attach(secure, true);
    await this.wire.wait({ what: 'TLS handshake', onSecure: () => {} }, this.opts.timeoutMs);
  }
}

function decodeChallenge(b64: string): unknown {
  if (b64.length === 0) return undefined;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // not JSON: keep the decoded text, it still explains the failure
  }
}

function tlsOptions(opts: Pop3ConnectOptions): ConnectionOptions {
  // SNI must be a host name; node warns (and RFC 6066 forbids) sending an IP address.
  const servername = opts.tls?.servername ?? (net.isIP(opts.host) ? undefined : opts.host);
  const o: ConnectionOptions = { ...opts.tls };
  if (servername !== undefined) o.servername = servername;
  return o;
}

export async function connectPop3(opts: Pop3ConnectOptions): Promise<Pop3Session> {
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new TypeError(`invalid port: ${opts.port}`);
  if (!(opts.timeoutMs > 0)) throw new TypeError(`invalid timeoutMs: ${opts.timeoutMs}`);
  if (!['none', 'starttls', 'tls'].includes(opts.security)) throw new TypeError(`invalid security: ${String(opts.security)}`);
  const session = new Session(opts);
  session.note('info', `connecting to ${opts.host}:${opts.port} (${opts.security})`);
  const socket =
    opts.security === 'tls'
      ? tls.connect({ ...tlsOptions(opts), host: opts.host, port: opts.port })
      : net.connect({ host: opts.host, port: opts.port });
  session.wire = new Wire(socket, opts.security === 'tls', (t) => session.note('info', t));
  try {
    // The greeting wait also covers TCP connect and the implicit TLS handshake.
    const greeting = await session.status('greeting');
    if (greeting.startsWith('-ERR')) {
      throw new Pop3Error(errKind(greeting, 'protocol'), `server refused the connection: ${greeting}`, { response: greeting });
    }
    if (!greeting.startsWith('+OK')) throw new Pop3Error('protocol', `not a POP3 greeting: ${greeting}`);
    session.greeting = greeting;
    if (opts.security === 'starttls') await session.starttls();
    return session;
  } catch (err) {
    session.wire.fail(err instanceof Pop3Error ? err : new Pop3Error('network', String(err)));
    throw err;
  }
}
