/**
 * The firmware bridge: how the printer's firmware (in this emulation, the simulator) hands jobs and
 * status to the panel. JSON over HTTP on a Unix domain socket that only local processes can open
 * (mode 0600, in the data directory by default); no TCP port, no login, no CSRF: being able to open
 * the socket is the authorization, as on a real printer where both run on one board.
 *
 *   POST /scan-to-email  {to[], subject?, fileName?, pdfBase64, pages?} → 202 {jobId, held}
 *   POST /events         {kind, detail?}                                → 202 {eventId, alertJobId}
 *   GET  /status                                                        → 200 {model, events, outbox, tokens, pop}
 *   POST /pop/check                                                     → 200 {ok, fetched, problem}
 *   errors: {error, message} with 400 / 404 / 413 / 500 / 503
 *
 * Everything mails through the MailSender (outbox, batching, holds). Requests are logged at debug
 * without bodies: PDFs and addresses stay out of the log. A 20 MB scan arrives as ~27 MB of JSON:
 * the body is read into one buffer and the base64 decoded from it piecewise, so the device never holds
 * the JSON text as a string as well (see extractPdf); scans are taken one at a time.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { hasMessage, translator, type MessageKey, type Params } from '../i18n/index.js';
import { MailJobError } from '../mail/sender.js';
import { MAIL_PURPOSES, smtpForm, type MailPurpose } from '../settings/pages.js';
import type { Services } from '../services.js';
import type { TokenState } from '../oauth/token-state.js';
import { alertMail, alertSettings, shortModel } from './alerts.js';
import { DeviceStatus, isDeviceEventKind, type DeviceEvent } from './device-status.js';

const t = translator('en');

/** The largest PDF a scan may carry (decoded). */
export const MAX_PDF_BYTES = 20 * 1024 * 1024;
export const MAX_SCAN_RECIPIENTS = 500;
/** base64 of the largest PDF, plus room for 500 addresses and the other fields. */
const MAX_SCAN_BODY = Math.ceil(MAX_PDF_BYTES / 3) * 4 + 512 * 1024;
const MAX_SMALL_BODY = 16 * 1024;
const MAX_DETAIL = 200;
const MAX_SUBJECT = 255;
const MAX_FILE_NAME = 128;
/** close() lets requests under way finish this long, then drops their connections. */
const CLOSE_GRACE_MS = 2_000;
/** sun_path is 108 bytes on Linux (104 on macOS), NUL included. */
const MAX_SOCKET_PATH = 103;

export interface BridgeLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface FirmwareBridgeOptions {
  services: Services;
  socketPath: string;
  log: BridgeLogger;
}

export interface FirmwareBridge {
  readonly socketPath: string;
  readonly deviceStatus: DeviceStatus;
  close(): Promise<void>;
}

export type BridgeErrorCode = 'bad_request' | 'not_found' | 'too_large' | 'unavailable' | 'internal';
const STATUS_OF: Record<BridgeErrorCode, number> = { bad_request: 400, not_found: 404, too_large: 413, unavailable: 503, internal: 500 };

export class BridgeError extends Error {
  constructor(
    readonly code: BridgeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const fail = (code: BridgeErrorCode, key: MessageKey, params?: Params) => new BridgeError(code, t(key, params));

export interface BridgeStatus {
  model: string;
  events: { id: number; kind: DeviceEvent['kind']; detail: string | null; at: number }[];
  outbox: { queued: number; held: number; failed: number; sent: number };
  tokens: Record<MailPurpose, TokenState>;
  pop: { lastCheckAt: number | null; inbox: number };
}

/** A POP problem in the words the E-mail Status page uses (pop_auth is a token reason). */
function problemText(code: string): string {
  for (const key of [`popCheck.problem.${code}`, `reason.${code}`]) if (hasMessage(key)) return t(key);
  return t('popCheck.problem.internal');
}

// ---- the socket file ---------------------------------------------------------------------------------

/** A socket file left by a device that died is removed; one a live device answers on is not. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) throw new Error(t('firmware.log.notASocket', { path: socketPath }));
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(t('firmware.log.socketInUse', { path: socketPath }));
  fs.unlinkSync(socketPath);
}

function removeSocket(socketPath: string, inode: number | undefined): void {
  try {
    const stat = fs.lstatSync(socketPath);
    // Only our own socket: another device may have taken the path since.
    if (stat.isSocket() && (inode === undefined || stat.ino === inode)) fs.unlinkSync(socketPath);
  } catch {
    /* already gone */
  }
}

async function listenOnSocket(server: http.Server, socketPath: string): Promise<void> {
  // The socket is created by bind() inside listen(); with umask 0177 it is born 0600 (no window in
  // which others could open it). chmod afterwards covers platforms that ignore the umask for sockets.
  let previous: number | undefined;
  try {
    previous = process.umask(0o177);
  } catch {
    /* worker threads cannot change the umask: the chmod below still applies */
  }
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
  fs.chmodSync(socketPath, 0o600);
}

// ---- request bodies --------------------------------------------------------------------------------

/** A refused body up to this size is read and discarded, so the client gets its 413 rather than a broken pipe. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = request.headers['content-length'] === undefined ? NaN : Number(request.headers['content-length']);
    let error: BridgeError | undefined;
    if (declared > limit) {
      error = fail('too_large', 'firmware.error.tooLarge');
      // Too large even to discard: answer now and drop the connection.
      if (declared > DRAIN_LIMIT) return reject(error);
    }
    // With a Content-Length the body goes straight into one buffer of that size (no chunk list, no copy).
    const whole = !error && Number.isFinite(declared) && declared >= 0 ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let length = 0;
    request.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (error) {
        if (length > DRAIN_LIMIT) request.destroy();
        return;
      }
      if (length > (whole ? whole.length : limit)) {
        error = fail('too_large', 'firmware.error.tooLarge');
        chunks.length = 0;
        return;
      }
      if (whole) chunk.copy(whole, length - chunk.length);
      else chunks.push(chunk);
    });
    request.once('end', () => {
      if (error) reject(error);
      else if (whole && length !== whole.length) reject(fail('bad_request', 'firmware.error.badLength'));
      else resolve(whole ?? Buffer.concat(chunks, length));
    });
    request.once('close', () => {
      if (!request.readableEnded) reject(error ?? fail('bad_request', 'firmware.error.badLength'));
    });
  });
}

function parseJson(body: Buffer | string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw fail('bad_request', 'firmware.error.json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('bad_request', 'firmware.error.json');
  return value as Record<string, unknown>;
}

const B64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;
const EQ = 0x3d;
const QUOTE = 0x22;
const PLACEHOLDER = '\u0000pdf';

/** Where the base64 text [start, end) of a buffer ends its padding-free part; -1 if not base64. */
function base64Extent(bytes: Buffer, start: number, end: number): number {
  let data = end;
  while (data > start && bytes[data - 1] === EQ && end - data < 2) data--;
  for (let i = start; i < data; i++) if (!B64[bytes[i]!]) return -1;
  return (data - start) % 4 === 1 ? -1 : data;
}

/** Decodes base64 held in a buffer without turning all of it into one string. */
function decodeBase64(bytes: Buffer, start: number, end: number): Buffer {
  const dataEnd = base64Extent(bytes, start, end);
  if (dataEnd < 0) throw fail('bad_request', 'firmware.error.base64');
  const size = Math.floor(((dataEnd - start) * 3) / 4);
  if (size > MAX_PDF_BYTES) throw fail('too_large', 'firmware.error.pdfTooLarge', { max: MAX_PDF_BYTES / (1024 * 1024) });
  const out = Buffer.allocUnsafe(size);
  const step = 4 * 1024 * 1024; // a multiple of 4 characters: every piece decodes on its own
  let written = 0;
  for (let i = start; i < dataEnd; i += step) written += out.write(bytes.toString('latin1', i, Math.min(i + step, dataEnd)), written, 'base64');
  return written === size ? out : out.subarray(0, written);
}

/**
 * The scan request's JSON with its pdfBase64 decoded. Fast path: the base64 value is located in the
 * raw bytes, decoded in place and replaced by a placeholder before the (now small) JSON is parsed; the
 * placeholder coming back as the top-level pdfBase64 proves the cut was the real field. Anything
 * unusual (escapes, duplicate keys) takes the plain path: parse everything, then decode.
 */
export function extractPdf(body: Buffer): { fields: Record<string, unknown>; pdf: Buffer } {
  const key = body.indexOf('"pdfBase64"');
  if (key >= 0) {
    let i = key + '"pdfBase64"'.length;
    while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
    if (body[i] === 0x3a) {
      i++;
      while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
      const close = body[i] === QUOTE ? body.indexOf(QUOTE, i + 1) : -1;
      if (close > i && base64Extent(body, i + 1, close) >= 0) {
        let fields: Record<string, unknown> | undefined;
        try {
          fields = parseJson(Buffer.concat([body.subarray(0, i), Buffer.from(JSON.stringify(PLACEHOLDER)), body.subarray(close + 1)]));
        } catch {
          fields = undefined;
        }
        if (fields?.pdfBase64 === PLACEHOLDER) return { fields, pdf: decodeBase64(body, i + 1, close) };
      }
    }
  }
  const fields = parseJson(body);
  if (typeof fields.pdfBase64 !== 'string' || fields.pdfBase64 === '') throw fail('bad_request', 'firmware.error.pdfMissing');
  const text = Buffer.from(fields.pdfBase64, 'latin1');
  delete fields.pdfBase64;
  return { fields, pdf: decodeBase64(text, 0, text.length) };
}

// ---- the bridge --------------------------------------------------------------------------------------

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]+/g;

function optionalText(value: unknown, max: number, key: MessageKey): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max) throw fail('bad_request', key, { max });
  const text = value.replace(CONTROL, ' ').trim();
  return text === '' ? undefined : text;
}

export async function startFirmwareBridge(options: FirmwareBridgeOptions): Promise<FirmwareBridge> {
  const { services, socketPath, log } = options;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) throw new Error(t('firmware.log.pathTooLong', { path: socketPath, max: MAX_SOCKET_PATH }));
  const deviceStatus = new DeviceStatus(services.db);
  /** Jobs this bridge queued that were still in the outbox when last looked at; gone ones count as sent. */
  const pendingJobs = new Set<number>();
  let sent = 0;
  let closing = false;
  let scans: Promise<unknown> = Promise.resolve();

  const track = (id: number) => pendingJobs.add(id);

  /** Whether the sender will hold a new job rather than try it (same rules as the sender's own check). */
  function smtpWouldHold(): boolean {
    const { settings, accounts, tokens } = services;
    if (!settings.isSaved(smtpForm)) return true;
    const values = settings.values(smtpForm);
    if (!values.primaryServer || !values.senderAddress) return true;
    if (values.authMethod !== 'oauth2') return false;
    const key = accounts.keyFor('smtp');
    if (!key || !accounts.providerOf(key)) return true;
    return tokens.status(key).state !== 'obtained';
  }

  function tokenState(purpose: MailPurpose): TokenState {
    const key = services.accounts.keyFor(purpose);
    if (!key || !services.accounts.providerOf(key)) return 'not_obtained';
    return services.tokens.status(key).state;
  }

  // ---- handlers ----

  async function scanToEmail(request: http.IncomingMessage): Promise<[number, object]> {
    // One scan at a time: a second 20 MB body waits (the socket applies back-pressure) instead of
    // doubling the device's memory.
    const turn = scans.then(async () => {
      const { fields, pdf } = extractPdf(await readBody(request, MAX_SCAN_BODY));
      const to = fields.to;
      if (!Array.isArray(to) || to.length === 0 || to.length > MAX_SCAN_RECIPIENTS || !to.every((address) => typeof address === 'string')) {
        throw fail('bad_request', 'firmware.error.recipients', { max: MAX_SCAN_RECIPIENTS });
      }
      if (pdf.length === 0) throw fail('bad_request', 'firmware.error.pdfMissing');
      const pages = fields.pages;
      if (pages !== undefined && pages !== null && !(Number.isInteger(pages) && (pages as number) >= 1 && (pages as number) <= 9999)) {
        throw fail('bad_request', 'firmware.error.pages');
      }
      const model = shortModel(services.config.modelName);
      const subject = optionalText(fields.subject, MAX_SUBJECT, 'firmware.error.subject') ?? t('firmware.scan.subject', { model });
      const fileName = (optionalText(fields.fileName, MAX_FILE_NAME, 'firmware.error.fileName') ?? 'scan.pdf').replace(/[/\\]/g, '_');
      const text = typeof pages === 'number' ? t('firmware.scan.body', { model, pages }) : t('firmware.scan.bodyNoPages', { model });
      let id: number;
      try {
        ({ id } = services.sender.enqueue({ kind: 'scan', to: to as string[], subject, text, attachments: [{ filename: fileName, contentType: 'application/pdf', content: pdf }] }));
      } catch (err) {
        if (err instanceof MailJobError) throw new BridgeError('bad_request', err.message);
        throw err;
      }
      track(id);
      const held = smtpWouldHold();
      log.info({ firmware: 'scan', jobId: id, recipients: to.length, bytes: pdf.length, held }, 'scan-to-email queued');
      return [202, { jobId: id, held }] as [number, object];
    });
    scans = turn.catch(() => undefined);
    return turn;
  }

  async function recordEvent(request: http.IncomingMessage): Promise<[number, object]> {
    const fields = parseJson(await readBody(request, MAX_SMALL_BODY));
    if (!isDeviceEventKind(fields.kind)) throw fail('bad_request', 'firmware.error.kind');
    const kind = fields.kind;
    const detail = optionalText(fields.detail, MAX_DETAIL, 'firmware.error.detail') ?? null;
    const at = Date.now();
    const eventId = deviceStatus.record(kind, detail, at);
    let alertJobId: number | null = null;
    if (kind !== 'cleared') {
      const alert = alertSettings(services.settings);
      if (alert.enabled && alert.recipients.length && alert.events.includes(kind)) {
        try {
          alertJobId = services.sender.enqueue({ kind: 'alert', to: alert.recipients, ...alertMail(services.config.modelName, kind, detail, at) }).id;
          deviceStatus.setAlertJob(eventId, alertJobId);
          track(alertJobId);
        } catch (err) {
          if (!(err instanceof MailJobError)) throw err;
          log.warn({ firmware: 'event', eventId, kind, problem: err.message }, 'e-mail alert not queued');
        }
      }
    }
    log.info({ firmware: 'event', eventId, kind, alertJobId }, 'device status event');
    return [202, { eventId, alertJobId }];
  }

  function status(): BridgeStatus {
    for (const id of pendingJobs) {
      if (!services.sender.outbox.get(id)) {
        pendingJobs.delete(id);
        sent++;
      }
    }
    const lastCheck = services.popChecker.lastCheck();
    return {
      model: services.config.modelName,
      events: deviceStatus.active().map(({ id, kind, detail, at }) => ({ id, kind, detail, at })),
      outbox: { ...services.sender.outbox.counts(), sent },
      tokens: Object.fromEntries(MAIL_PURPOSES.map((purpose) => [purpose, tokenState(purpose)])) as Record<MailPurpose, TokenState>,
      pop: { lastCheckAt: lastCheck?.startedAt ?? null, inbox: services.popChecker.listInbox(services.popChecker.inbox.keepEntries).length },
    };
  }

  async function popCheck(request: http.IncomingMessage): Promise<[number, object]> {
    request.resume(); // no body expected
    let outcome;
    try {
      outcome = await services.popChecker.checkNow();
    } catch (err) {
      if (closing) throw fail('unavailable', 'firmware.error.closing');
      throw err;
    }
    const problem = outcome.problem
      ? {
          code: outcome.problem.code,
          message: [problemText(outcome.problem.code), outcome.problem.detail ? `(${outcome.problem.detail})` : null].filter(Boolean).join(' '),
        }
      : null;
    return [200, { ok: outcome.ok, fetched: outcome.fetched, problem }];
  }

  const routes: Record<string, (request: http.IncomingMessage) => Promise<[number, object]>> = {
    'POST /scan-to-email': scanToEmail,
    'POST /events': recordEvent,
    'GET /status': async (request) => (request.resume(), [200, status()]),
    'POST /pop/check': popCheck,
  };

  function send(response: http.ServerResponse, code: number, body: object): void {
    if (response.headersSent || response.destroyed) return;
    const json = JSON.stringify(body);
    response.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store' });
    response.end(json);
  }

  const inFlight = new Set<Promise<void>>();
  const server = http.createServer((request, response) => {
    const started = performance.now();
    const path = (request.url ?? '/').split('?')[0]!;
    const work = (async () => {
      let code = 500;
      try {
        if (closing) throw fail('unavailable', 'firmware.error.closing');
        const route = routes[`${request.method} ${path}`];
        if (!route) throw fail('not_found', 'firmware.error.notFound');
        const [status, body] = await route(request);
        code = status;
        send(response, status, body);
      } catch (err) {
        const known = err instanceof BridgeError ? err : undefined;
        code = known ? STATUS_OF[known.code] : 500;
        if (!known) log.error({ err, firmware: path }, 'firmware request failed');
        send(response, code, { error: known?.code ?? 'internal', message: known?.message ?? t('firmware.error.internal') });
        // A body left unread (too large, refused early) is discarded, not buffered.
        if (!request.readableEnded) request.resume();
      } finally {
        log.debug({ firmware: { method: request.method, path, status: code, ms: Math.round(performance.now() - started) } }, 'firmware request');
      }
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 5_000;

  await clearStaleSocket(socketPath);
  await listenOnSocket(server, socketPath);
  const inode = fs.lstatSync(socketPath).ino;
  log.info({ firmware: 'bridge', socket: socketPath }, 'firmware bridge listening');

  return {
    socketPath,
    deviceStatus,
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...inFlight]), new Promise<void>((resolve) => (grace = setTimeout(resolve, CLOSE_GRACE_MS)))]);
      clearTimeout(grace);
      server.closeAllConnections();
      await closed;
      removeSocket(socketPath, inode);
    },
  };
}
