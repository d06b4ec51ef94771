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
 *   errors: {error, message} with 400 / 404 / 408 / 413 / 500 / 503; a request whose body was not read
 *   to its end (too large, stalled) is answered and its connection closed
 *
 * Everything mails through the MailSender (outbox, batching, holds). Requests are logged at debug
 * without bodies: PDFs and addresses stay out of the log. A 20 MB scan arrives as ~27 MB of JSON:
 * its base64 is decoded as it arrives (ScanBodyDecoder) straight into the outbox's attachment file,
 * with back-pressure on the socket, so the device holds neither the body nor the PDF; scans are
 * taken one at a time.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { hasMessage, localeFor, translator, type MessageKey, type Params } from '../i18n/index.js';
import { deviceLanguage } from '../settings/device-preferences.js';
import type { AttachmentWriter } from '../mail/attachment-files.js';
import { MailJobError } from '../mail/sender.js';
import { MAIL_PURPOSES, smtpForm, type MailPurpose } from '../settings/pages.js';
import type { Services } from '../services.js';
import type { TokenState } from '../oauth/token-state.js';
import { alertMail, alertSettings, shortModel } from './alerts.js';
import { DeviceStatus, isDeviceEventKind, type DeviceEvent } from './device-status.js';

// The bridge's answers and log lines are for the firmware and QA: English. Mail the device writes speaks its default language.
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

export type BridgeErrorCode = 'bad_request' | 'not_found' | 'timeout' | 'too_large' | 'unavailable' | 'internal';
const STATUS_OF: Record<BridgeErrorCode, number> = { bad_request: 400, not_found: 404, timeout: 408, too_large: 413, unavailable: 503, internal: 500 };

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

/**
 * A body that stops arriving for this long is given up (408, connection closed): one stalled upload
 * must not hold the scan queue (scans are taken one at a time) for the server's 120 s request timeout.
 */
export const BODY_IDLE_MS = 5_000;

interface BodySink<T> {
  /** May throw a BridgeError: the request is then answered with it and its connection closed. */
  write(chunk: Buffer): void;
  /** Back-pressure: a promise while the sink is behind (reading pauses until it settles). */
  ready?(): Promise<void> | undefined;
  end(): T;
}

/**
 * Feeds a request body to a sink as it arrives. Over `limit` (declared or actual) → 413, a silence
 * of BODY_IDLE_MS → 408, a sink's error → that error: at once, leaving the rest of the body unread
 * (the caller answers and closes the connection rather than reading on).
 */
function consume<T>(request: http.IncomingMessage, limit: number, sink: BodySink<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let idle: NodeJS.Timeout | undefined;
    const settle = (err: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      request.off('data', onData);
      if (err === undefined) return resolve(value as T);
      request.pause();
      reject(err);
    };
    const waitForMore = () => {
      clearTimeout(idle);
      idle = setTimeout(() => settle(fail('timeout', 'firmware.error.stalled', { seconds: BODY_IDLE_MS / 1000 })), BODY_IDLE_MS);
    };
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) return settle(fail('too_large', 'firmware.error.tooLarge'));
      try {
        sink.write(chunk);
        const behind = sink.ready?.();
        if (behind) {
          // The device's own disk is behind: that is not the client's silence.
          clearTimeout(idle);
          request.pause();
          behind.then(() => {
            if (settled) return;
            request.resume();
            waitForMore();
          }, (err: unknown) => settle(err));
          return;
        }
      } catch (err) {
        return settle(err);
      }
      waitForMore();
    };
    const declared = request.headers['content-length'] === undefined ? NaN : Number(request.headers['content-length']);
    if (declared > limit) return settle(fail('too_large', 'firmware.error.tooLarge'));
    request.on('data', onData);
    request.once('end', () => {
      if (settled) return;
      let value: T;
      try {
        value = sink.end();
      } catch (err) {
        return settle(err);
      }
      settle(undefined, value);
    });
    request.once('close', () => {
      if (!request.readableEnded) settle(fail('bad_request', 'firmware.error.badLength'));
    });
    waitForMore();
  });
}

function collector(): BodySink<Buffer> {
  const chunks: Buffer[] = [];
  return { write: (chunk) => void chunks.push(chunk), end: () => Buffer.concat(chunks) };
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const EQ = 0x3d;
const isSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/** Where the decoded PDF goes: one buffer (tests, small callers) or the outbox's attachment file. */
export interface PdfTarget<P> {
  /** Decodes `text` (whole base64 quads, padding only at the end) and keeps the bytes; returns how many. */
  put(text: string): number;
  /** Back-pressure: a promise while the target is behind. */
  ready?(): Promise<void> | undefined;
  /** After the last put(): what the request yields, `bytes` long. */
  done(bytes: number): P;
}

/** The PDF in one buffer, sized from the Content-Length (grown when there is none). */
export function bufferTarget(expectedBytes: number): PdfTarget<Buffer> {
  let out = Buffer.allocUnsafe(Math.min(MAX_PDF_BYTES + 3, Math.max(expectedBytes, 0)));
  let written = 0;
  return {
    put(text) {
      const need = written + Math.ceil((text.length * 3) / 4);
      if (need > out.length) {
        // No Content-Length to size it from: grow (up to the cap, checked in Base64Writer.write()).
        const bigger = Buffer.allocUnsafe(Math.min(MAX_PDF_BYTES + 3, Math.max(need, out.length * 2)));
        out.copy(bigger, 0, 0, written);
        out = bigger;
      }
      const n = out.write(text, written, 'base64');
      written += n;
      return n;
    },
    done: (bytes) => out.subarray(0, bytes),
  };
}

/** The PDF streamed into an outbox attachment file, one socket chunk's worth at a time. */
export function fileTarget(writer: AttachmentWriter): PdfTarget<AttachmentWriter> {
  return {
    put(text) {
      const bytes = Buffer.from(text, 'base64');
      writer.write(bytes);
      return bytes.length;
    },
    ready: () => writer.ready(),
    done: () => writer,
  };
}

/**
 * Base64 decoded piece by piece into a target. Node's decoder skips characters outside the alphabet
 * instead of failing; such a character makes fewer bytes come out than the characters account for,
 * which end() detects — so the check costs nothing per byte in JavaScript.
 */
class Base64Writer<P> {
  readonly #target: PdfTarget<P>;
  #written = 0;
  #chars = 0;
  #carry = '';
  #tail = '';

  constructor(target: PdfTarget<P>) {
    this.#target = target;
  }

  write(piece: Buffer): void {
    if (!piece.length) return;
    this.#chars += piece.length;
    if (Math.floor((this.#chars * 3) / 4) > MAX_PDF_BYTES + 2) throw fail('too_large', 'firmware.error.pdfTooLarge', { max: MAX_PDF_BYTES / (1024 * 1024) });
    const text = this.#carry + piece.toString('latin1');
    this.#tail = (this.#tail + text.slice(-2)).slice(-2);
    const whole = text.length - (text.length % 4);
    this.#put(text.slice(0, whole));
    this.#carry = text.slice(whole);
  }

  ready(): Promise<void> | undefined {
    return this.#target.ready?.();
  }

  #put(text: string): void {
    if (text) this.#written += this.#target.put(text);
  }

  end(): P {
    this.#put(this.#carry);
    const padding = this.#tail === '==' ? 2 : this.#tail.endsWith('=') ? 1 : 0;
    const data = this.#chars - padding;
    if (data % 4 === 1 || this.#written !== Math.floor((data * 3) / 4)) throw fail('bad_request', 'firmware.error.base64');
    if (this.#written > MAX_PDF_BYTES) throw fail('too_large', 'firmware.error.pdfTooLarge', { max: MAX_PDF_BYTES / (1024 * 1024) });
    return this.#target.done(this.#written);
  }
}

/**
 * Reads a scan request as it arrives: the top-level "pdfBase64" string is decoded straight into the
 * PDF's target (a buffer by default; the bridge gives the outbox's attachment file), everything else
 * is kept (as JSON, with pdfBase64 emptied) and parsed at the end. So a 20 MB scan costs the device
 * neither ~27 MB of body nor a 27 MB string, and with a file target not the PDF either. A small
 * tokenizer follows strings and nesting just enough to find that key; inside the value it jumps to the
 * closing quote with indexOf. A value with JSON escapes (base64 needs none) is refused.
 */
export class ScanBodyDecoder<P = Buffer> implements BodySink<{ fields: Record<string, unknown>; pdf: P }> {
  static readonly MAX_FIELDS_BYTES = 512 * 1024;
  readonly #rest: Buffer[] = [];
  #restLength = 0;
  #depth = 0;
  #inString = false;
  #escape = false;
  /** At depth 1, the next string is a key. */
  #keyNext = false;
  #readingKey = false;
  #key = '';
  /** A key has been read and its ':' is awaited / its value is awaited. */
  #afterKey: 'colon' | 'value' | null = null;
  #pdf: Base64Writer<P> | null = null;
  #inPdf = false;
  #pdfDone = false;
  /** Made when the PDF starts (a file target creates its file then). */
  readonly #target: () => PdfTarget<P>;

  /** `target` defaults to one buffer sized from the Content-Length (P = Buffer). */
  constructor(contentLength: number, target?: () => PdfTarget<P>) {
    const expectedBytes = Number.isFinite(contentLength) ? Math.ceil((contentLength * 3) / 4) : 1024 * 1024;
    this.#target = target ?? ((() => bufferTarget(expectedBytes)) as unknown as () => PdfTarget<P>);
  }

  ready(): Promise<void> | undefined {
    return this.#pdf?.ready();
  }

  write(chunk: Buffer): void {
    let i = 0;
    let keepFrom = 0;
    while (i < chunk.length) {
      if (this.#inPdf) {
        const close = chunk.indexOf(QUOTE, i);
        const end = close < 0 ? chunk.length : close;
        const escape = chunk.indexOf(BACKSLASH, i);
        if (escape >= 0 && escape < end) throw fail('bad_request', 'firmware.error.base64');
        this.#pdf!.write(chunk.subarray(i, end));
        if (close < 0) return;
        this.#inPdf = false;
        this.#pdfDone = true;
        i = close + 1;
        keepFrom = close; // the closing quote stays: the kept JSON reads "pdfBase64":""
        continue;
      }
      const byte = chunk[i]!;
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (byte === BACKSLASH) this.#escape = true;
        else if (byte === QUOTE) {
          this.#inString = false;
          if (this.#readingKey) {
            this.#readingKey = false;
            this.#afterKey = 'colon';
          }
        }
        if (this.#readingKey && this.#key.length <= 16) this.#key += String.fromCharCode(byte);
      } else if (byte === QUOTE) {
        if (this.#depth === 1 && this.#afterKey === 'value' && this.#key === 'pdfBase64') {
          if (this.#pdfDone || this.#pdf) throw fail('bad_request', 'firmware.error.duplicatePdf');
          this.#keep(chunk.subarray(keepFrom, i + 1));
          this.#pdf = new Base64Writer(this.#target());
          this.#inPdf = true;
          this.#afterKey = null;
          keepFrom = ++i;
          continue;
        }
        this.#inString = true;
        this.#readingKey = this.#depth === 1 && this.#keyNext;
        if (this.#readingKey) this.#key = '';
        this.#keyNext = false;
        this.#afterKey = null;
      } else if (!isSpace(byte)) {
        if (byte === 0x7b || byte === 0x5b) {
          this.#depth++;
          this.#keyNext = this.#depth === 1 && byte === 0x7b;
        } else if (byte === 0x7d || byte === 0x5d) this.#depth--;
        else if (byte === 0x2c) this.#keyNext = this.#depth === 1;
        this.#afterKey = byte === 0x3a && this.#afterKey === 'colon' ? 'value' : null;
      }
      i++;
    }
    this.#keep(chunk.subarray(keepFrom));
  }

  #keep(bytes: Buffer): void {
    this.#restLength += bytes.length;
    if (this.#restLength > ScanBodyDecoder.MAX_FIELDS_BYTES) throw fail('too_large', 'firmware.error.tooLarge');
    this.#rest.push(Buffer.from(bytes)); // a copy: the socket's chunk can go
  }

  end(): { fields: Record<string, unknown>; pdf: P } {
    if (this.#inPdf) throw fail('bad_request', 'firmware.error.json');
    const fields = parseJson(Buffer.concat(this.#rest, this.#restLength));
    if (this.#pdf) return { fields, pdf: this.#pdf.end() };
    // The key was spelled with escapes, or the value was not a string: the plain way (the fields
    // are at most MAX_FIELDS_BYTES, so this PDF is small).
    if (typeof fields.pdfBase64 !== 'string' || fields.pdfBase64 === '') throw fail('bad_request', 'firmware.error.pdfMissing');
    const writer = new Base64Writer(this.#target());
    writer.write(Buffer.from(fields.pdfBase64, 'latin1'));
    return { fields, pdf: writer.end() };
  }
}

/** How long a connection stays after the answer to a request whose body was left unread. */
const LINGER_MS = 1_000;

/**
 * A body left unread (too large, stalled, refused early) is not read on: the answer says
 * "Connection: close" and the connection is closed. Not at once, though: Node would close it as soon
 * as the answer is out, and a client still sending would get EPIPE before it read the answer. So our
 * side is shut, nothing more is read, and the socket is closed a moment later.
 */
function closeAfterAnswer(request: http.IncomingMessage, response: http.ServerResponse): void {
  response.shouldKeepAlive = false;
  response.once('finish', () => {
    const socket = request.socket;
    // Node's socket.destroySoon() (called for "Connection: close") destroys on the socket's 'finish'.
    socket.removeListener('finish', socket.destroy);
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
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
    // competing for the device's memory and flash.
    const turn = scans.then(async () => {
      const declared = request.headers['content-length'] === undefined ? NaN : Number(request.headers['content-length']);
      // The PDF goes to a file in the outbox as it is decoded. Until its job is queued, any failure
      // (bad request, client gone, disk full) removes the file again; from then on the outbox owns it.
      let pdf: AttachmentWriter | undefined;
      let queued = false;
      try {
        const body = await consume(request, MAX_SCAN_BODY, new ScanBodyDecoder(declared, () => fileTarget((pdf = services.sender.outbox.files.create()))));
        const { fields } = body;
        pdf = body.pdf;
        const to = fields.to;
        if (!Array.isArray(to) || to.length === 0 || to.length > MAX_SCAN_RECIPIENTS || !to.every((address) => typeof address === 'string')) {
          throw fail('bad_request', 'firmware.error.recipients', { max: MAX_SCAN_RECIPIENTS });
        }
        if (pdf.size === 0) throw fail('bad_request', 'firmware.error.pdfMissing');
        const pages = fields.pages;
        if (pages !== undefined && pages !== null && !(Number.isInteger(pages) && (pages as number) >= 1 && (pages as number) <= 9999)) {
          throw fail('bad_request', 'firmware.error.pages');
        }
        const model = shortModel(services.config.modelName);
        const mailT = localeFor(deviceLanguage(services.settings)).t;
        const subject = optionalText(fields.subject, MAX_SUBJECT, 'firmware.error.subject') ?? mailT('firmware.scan.subject', { model });
        const fileName = (optionalText(fields.fileName, MAX_FILE_NAME, 'firmware.error.fileName') ?? 'scan.pdf').replace(/[/\\]/g, '_');
        const text = typeof pages === 'number' ? mailT('firmware.scan.body', { model, pages }) : mailT('firmware.scan.bodyNoPages', { model });
        // Durable (flushed, fsynced, renamed into place) before the job that names it is queued.
        const file = await pdf.finish();
        let id: number;
        try {
          ({ id } = services.sender.enqueue({ kind: 'scan', to: to as string[], subject, text, attachments: [{ filename: fileName, contentType: 'application/pdf', file }] }));
        } catch (err) {
          if (err instanceof MailJobError) throw new BridgeError('bad_request', err.message);
          throw err;
        }
        queued = true;
        track(id);
        const held = smtpWouldHold();
        log.info({ firmware: 'scan', jobId: id, recipients: to.length, bytes: file.size, held }, 'scan-to-email queued');
        return [202, { jobId: id, held }] as [number, object];
      } finally {
        if (!queued) pdf?.discard();
      }
    });
    scans = turn.catch(() => undefined);
    return turn;
  }

  async function recordEvent(request: http.IncomingMessage): Promise<[number, object]> {
    const fields = parseJson(await consume(request, MAX_SMALL_BODY, collector()));
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
          alertJobId = services.sender.enqueue({ kind: 'alert', to: alert.recipients, ...alertMail(services.config.modelName, kind, detail, at, localeFor(deviceLanguage(services.settings))) }).id;
          deviceStatus.setAlertJob(eventId, alertJobId);
          track(alertJobId);
        } catch (err) {
          if (!(err instanceof MailJobError)) throw err;
          // Not the sender's message: it may quote an address, and addresses stay out of the log.
          log.warn({ firmware: 'event', eventId, kind }, 'e-mail alert not queued: the sender refused the job');
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

  /** A full or lost storage is the firmware's 503 (try again later), not an internal error. */
  function storageError(err: unknown): BridgeError | undefined {
    const problem = services.storage.problemOf(err);
    return problem ? fail('unavailable', problem === 'full' ? 'firmware.error.storageFull' : 'firmware.error.storageGone') : undefined;
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
        // Every POST writes: refused (503, the firmware keeps the job) when the storage cannot keep it.
        if (request.method === 'POST') services.storage.assertWritable();
        const [status, body] = await route(request);
        code = status;
        send(response, status, body);
      } catch (err) {
        const known = err instanceof BridgeError ? err : storageError(err);
        code = known ? STATUS_OF[known.code] : 500;
        if (!known) log.error({ err, firmware: path }, 'firmware request failed');
        if (!request.readableEnded) closeAfterAnswer(request, response);
        send(response, code, { error: known?.code ?? 'internal', message: known?.message ?? t('firmware.error.internal') });
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
