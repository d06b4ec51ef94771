/**
 * The mail sender: the one way anything on the device sends mail (scan-to-email, e-mail alerts, the
 * SMTP page's Send Test E-mail and Connection Test).
 *
 * - Jobs go into the persistent outbox (./outbox.ts) before any network I/O and leave it only when
 *   the server has accepted them. One worker drains the outbox through one pooled SMTP session;
 *   a message with more recipients than the limit goes out in batches on that session.
 * - Authentication follows the saved SMTP page: none, SMTP-AUTH (password sealed in the settings),
 *   or OAuth 2.0 with XOAUTH2. The access token always comes from the token store through
 *   nodemailer's oauth2_provision_cb; the sender never talks to the provider.
 * - A token the server refuses gets one forced refresh and one retry; refused again, the token is
 *   reported rejected (Invalid on every page that uses it) and the outbox is held, not dropped. Held
 *   jobs are released by a cheap poll of the token status (one SQLite read every `holdPollMs`, only
 *   while something is held): the token store needs no listener API for it.
 * - Failures are read by ./smtp-diagnosis.ts: transient ones retry with capped, jittered backoff;
 *   permanent ones (550 bad recipient) mark the job failed with the server's reply.
 * - Attachments are files in the outbox directory (./attachment-files.ts): nodemailer gets their
 *   path and streams them for each batch, so a 20 MB scan never sits in memory.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { format } from 'node:util';
import type { SendMailOptions, Transporter } from 'nodemailer';
import type * as NodemailerModule from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { Db } from '../db/database.js';
import type { Locale, Translate } from '../i18n/index.js';
import { TokenTemporarilyUnavailableError, TokenUnavailableError, type Logger, type TokenKey, type TokenStore } from '../oauth/token-store.js';
import type { Reason } from '../oauth/token-state.js';
import type { MailAccounts } from '../settings/mail-accounts.js';
import { smtpForm } from '../settings/pages.js';
import type { SettingsRepository } from '../settings/settings-repository.js';
import type { StoredFile } from './attachment-files.js';
import { Outbox, type JobKind, type OutboxAttachmentFile, type OutboxAttachmentInput, type OutboxJob, type OutboxMessage, type RejectedRecipient } from './outbox.js';
import { cleanReply, diagnose, maskSecrets, type Diagnosis } from './smtp-diagnosis.js';

/** Seed 002: at most 50 recipients per message; more go out in batches on the same session. */
export const MAX_RECIPIENTS_PER_MESSAGE = 50;


export interface MailJobInput {
  kind?: Exclude<JobKind, 'test'>;
  to: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  subject: string;
  text?: string;
  html?: string;
  replyTo?: string;
  /**
   * Bytes (written to a file in the outbox before enqueue returns), or a file already written with
   * `outbox.files.create()` (a scan streamed in), which becomes the job's once enqueue returns.
   */
  attachments?: ({ filename: string; contentType?: string; content: Buffer | Uint8Array | string } | { filename: string; contentType?: string; file: StoredFile })[];
}

export class MailJobError extends Error {}

export interface MailSenderOptions {
  db: Db;
  settings: SettingsRepository;
  accounts: MailAccounts;
  tokens: TokenStore;
  log: Logger;
  /** Recipients per message (seed 002). */
  maxRecipientsPerMessage?: number;
  /** SMTP sessions kept open at once; 1 keeps every batch of a job on the same session. */
  maxConnections?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** A job that keeps failing transiently this long is marked failed (it stays in the outbox). */
  giveUpAfterMs?: number;
  /** How often held jobs look whether their cause is gone. */
  holdPollMs?: number;
  /** An idle pooled session is closed after this long. */
  idleTimeoutMs?: number;
  /** Start draining the outbox right away (default true). */
  autoStart?: boolean;
  /** Where attachment files live (default: `outbox/` next to the database, i.e. `<data dir>/outbox`). */
  attachmentDir?: string;
  /** Whether start() removes attachment files no job names (default true; false in recovery mode). */
  sweepUnknownFiles?: boolean;
  /**
   * Whether the outbox can record a delivery now (false while the storage is full). Sending a mail
   * whose 250 cannot be written would send it again at every retry: the worker waits instead.
   */
  canRecordDeliveries?: () => boolean;
}

export type RetryPolicy = Pick<MailSenderOptions, 'retryBaseMs' | 'retryMaxMs' | 'giveUpAfterMs' | 'holdPollMs'>;

type SslMode = 'none' | 'starttls' | 'tls';
type AuthMethod = 'none' | 'smtp-auth' | 'oauth2';

/** The saved SMTP page as the sender needs it. */
interface SmtpConfig {
  fingerprint: string;
  configured: boolean;
  host: string;
  port: number;
  timeoutMs: number;
  senderName: string;
  senderAddress: string;
  ssl: SslMode;
  authMethod: AuthMethod;
  user?: string | undefined;
  password?: string | undefined;
  key?: TokenKey | undefined;
}

export interface SendTestResult {
  ok: boolean;
  to: string;
  /** The server's final reply on success. */
  reply?: string | undefined;
  diagnosis?: Diagnosis | undefined;
}

export type ConnectionStepName = 'connect' | 'tls' | 'ehlo' | 'auth' | 'result';
export interface ConnectionStep {
  step: ConnectionStepName;
  /** true: passed, false: failed here, null: not used or not reached. */
  ok: boolean | null;
  lines: string[];
}
export interface ConnectionTestResult {
  ok: boolean;
  server: string;
  steps: ConnectionStep[];
  diagnosis?: Diagnosis | undefined;
}

const EMAIL = /^[^\s@"<>()\\,;:]{1,64}@[^\s@"<>()\\,;:]+\.[^\s@"<>()\\,;:]+$/;

function addressList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : value.split(',');
  return list.map((address) => address.trim()).filter(Boolean);
}

function unique(addresses: string[]): string[] {
  const seen = new Set<string>();
  return addresses.filter((address) => {
    const key = address.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const digest = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 16);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Pool = Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

/** How to reach an SMTP server as the settings describe one (the SMTP page; the notifications' fallback server). */
export function smtpConnection(server: { host: string; port: number; ssl: SslMode; timeoutMs: number }): SMTPPool.Options {
  return {
    host: server.host,
    port: server.port,
    secure: server.ssl === 'tls',
    requireTLS: server.ssl === 'starttls',
    ignoreTLS: server.ssl === 'none',
    tls: { servername: server.host, minVersion: 'TLSv1.2' },
    connectionTimeout: server.timeoutMs,
    greetingTimeout: server.timeoutMs,
    socketTimeout: server.timeoutMs,
    dnsTimeout: server.timeoutMs,
  };
}

type Mailer = typeof NodemailerModule.default;
let nodemailer: Mailer | undefined;
/** nodemailer is loaded when the device first mails, not at boot: a printer that never mails does not pay for it. */
export async function loadNodemailer(): Promise<Mailer> {
  return (nodemailer ??= (await import('nodemailer')).default);
}

export class MailSender {
  readonly outbox: Outbox;
  readonly #settings: SettingsRepository;
  readonly #accounts: MailAccounts;
  readonly #tokens: TokenStore;
  readonly #log: Logger;
  readonly #maxConnections: number;
  readonly #idleTimeoutMs: number;
  #maxRecipients: number;
  #retryBaseMs: number;
  #retryMaxMs: number;
  #giveUpAfterMs: number;
  #holdPollMs: number;

  #pool: { fingerprint: string; transporter: Pool } | null = null;
  /** Expiry of the token the open session signed in with: the session must not outlive it. */
  #sessionTokenExpiresAt: number | null = null;
  /** Forced refreshes done so far (nodemailer's renew or ours), to tell whether one happened. */
  #renewals = 0;
  /** Digest of the last token handed to nodemailer (never the token itself). */
  #lastTokenDigest: string | undefined;
  #inFlight = 0;
  /**
   * The settings and token check as read for the current burst of jobs (at most 1 s old): reading
   * them costs ~0.2 ms, which would otherwise be paid per mail. Dropped whenever something fails.
   */
  #snapshot: { at: number; config: SmtpConfig; blocked: Diagnosis | undefined } | null = null;

  #running: Promise<void> | null = null;
  /** Worker runs that failed in a row (the database refused a write, a secret could not be read). */
  #workerFailures = 0;
  readonly #sweepUnknownFiles: boolean;
  readonly #canRecordDeliveries: () => boolean;
  /** The last run stopped because no delivery could be recorded: look again every holdPollMs. */
  #waitingForStorage = false;
  #again = false;
  #kickScheduled = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: MailSenderOptions) {
    this.outbox = new Outbox(options.db, options.attachmentDir);
    this.#settings = options.settings;
    this.#accounts = options.accounts;
    this.#tokens = options.tokens;
    this.#log = options.log;
    this.#maxRecipients = options.maxRecipientsPerMessage ?? MAX_RECIPIENTS_PER_MESSAGE;
    this.#maxConnections = options.maxConnections ?? 1;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#retryBaseMs = options.retryBaseMs ?? 15_000;
    this.#retryMaxMs = options.retryMaxMs ?? 15 * 60_000;
    this.#giveUpAfterMs = options.giveUpAfterMs ?? 3 * 24 * 60 * 60_000;
    this.#holdPollMs = options.holdPollMs ?? 2_000;
    this.#sweepUnknownFiles = options.sweepUnknownFiles ?? true;
    this.#canRecordDeliveries = options.canRecordDeliveries ?? (() => true);
    if (options.autoStart ?? true) this.start();
  }

  /** Starts draining the outbox; jobs queued before a restart are due at once. */
  start(): void {
    try {
      const { moved, swept } = this.outbox.recover({ sweep: this.#sweepUnknownFiles });
      if (moved || swept) this.#log.info({ mail: 'outbox', moved, swept }, 'outbox attachment files recovered');
      const due = this.outbox.makeAllDue();
      if (due) this.#log.info({ mail: 'outbox', due }, 'queued mail from before the restart');
    } catch (err) {
      // E.g. a full storage: the device starts all the same, and the jobs keep their own due times.
      this.#log.error({ err: cleanReply(err instanceof Error ? err.message : String(err)) }, 'outbox recovery at start failed');
    }
    this.#kick();
  }

  /** Changes the retry timing (tests and the simulator use short ones). */
  setRetryPolicy(policy: RetryPolicy): void {
    this.#retryBaseMs = policy.retryBaseMs ?? this.#retryBaseMs;
    this.#retryMaxMs = policy.retryMaxMs ?? this.#retryMaxMs;
    this.#giveUpAfterMs = policy.giveUpAfterMs ?? this.#giveUpAfterMs;
    this.#holdPollMs = policy.holdPollMs ?? this.#holdPollMs;
    this.#kick();
  }

  setMaxRecipientsPerMessage(limit: number): void {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('the recipient limit must be a positive integer');
    this.#maxRecipients = limit;
  }

  // ---- the public API for everything that mails ------------------------------------------------

  /**
   * Queues a mail: written to the outbox (SQLite) before this returns, sent in the background.
   * Throws MailJobError when the job itself is unusable (no or malformed recipients, no subject).
   */
  enqueue(job: MailJobInput): { id: number } {
    const to = addressList(job.to);
    const cc = addressList(job.cc);
    const bcc = addressList(job.bcc);
    const recipients = unique([...to, ...cc, ...bcc]);
    if (!recipients.length) throw new MailJobError('a mail job needs at least one recipient');
    const bad = recipients.find((address) => !EMAIL.test(address));
    if (bad !== undefined) throw new MailJobError(`not an e-mail address: ${JSON.stringify(bad)}`);
    if (typeof job.subject !== 'string') throw new MailJobError('a mail job needs a subject');
    if (job.replyTo !== undefined && !EMAIL.test(job.replyTo)) throw new MailJobError('replyTo is not an e-mail address');
    const attachments: OutboxAttachmentInput[] = (job.attachments ?? []).map((attachment) => {
      const contentType = attachment.contentType ?? 'application/octet-stream';
      if ('file' in attachment) return { filename: attachment.filename, contentType, file: attachment.file };
      const { content } = attachment;
      // A view, not a copy: the bytes only pass through on their way to the file.
      const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.isBuffer(content) ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
      return { filename: attachment.filename, contentType, content: bytes };
    });
    const now = Date.now();
    const domain = /@(.+)$/.exec(String(this.#settings.values(smtpForm).senderAddress ?? ''))?.[1] ?? 'mfp.invalid';
    const message: OutboxMessage = { subject: job.subject, text: job.text, html: job.html, to, cc, replyTo: job.replyTo, messageId: `<${randomUUID()}@${domain}>`, date: now };
    const id = this.outbox.add(job.kind ?? 'other', message, recipients, attachments, now);
    this.#kick();
    return { id };
  }

  /** The home page's Retry. */
  retry(id: number): boolean {
    const done = this.outbox.retry(id);
    if (done) this.#kick();
    return done;
  }

  /** The home page's Delete. */
  delete(id: number): boolean {
    return this.outbox.remove(id);
  }

  list(limit?: number): OutboxJob[] {
    return this.outbox.list(limit);
  }

  /** Resolves once nothing queued is due and no attempt is under way (tests, the bench). */
  async idle(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running || this.#kickScheduled || this.outbox.nextDue() !== undefined) {
      if (Date.now() > deadline) throw new Error('the outbox did not become idle in time');
      if (this.#running) await this.#running;
      else await sleep(5);
    }
  }

  // ---- Send Test E-mail and Connection Test (SMTP page) ----------------------------------------

  /** Sends one test mail now, through the same session and rules as queued jobs; not queued. Written in the language of the admin who asked. */
  async sendTest(to: string | undefined, locale: Locale): Promise<SendTestResult> {
    const { t } = locale;
    const config = this.#readConfig();
    const recipient = (to ?? '').trim() || config.senderAddress;
    if (!config.configured) return { ok: false, to: recipient, diagnosis: { disposition: 'settings', code: 'smtp_not_configured' } };
    if (!EMAIL.test(recipient)) throw new MailJobError('not an e-mail address');
    const blocked = this.#tokenBlock(config);
    if (blocked) return { ok: false, to: recipient, diagnosis: blocked };
    const transporter = await this.#transport(config);
    this.#inFlight++;
    try {
      const info = await this.#withTokenRetry(config, () =>
        transporter.sendMail({
          from: this.#from(config),
          to: recipient,
          subject: t('mail.test.subject'),
          text: t('mail.test.body', { server: `${config.host}:${config.port}`, auth: this.#authLabel(config, t), time: locale.dateTime(Date.now()) }),
        }),
      );
      return { ok: true, to: recipient, reply: cleanReply(info.response, this.#secrets(config)) };
    } catch (err) {
      const diagnosis = diagnose(err, this.#secrets(config));
      this.#log.warn({ mail: 'test', code: diagnosis.code, detail: diagnosis.detail }, 'test e-mail failed');
      return { ok: false, to: recipient, diagnosis };
    } finally {
      this.#inFlight--;
    }
  }

  /**
   * Connects with the saved settings and signs in without sending anything: connect, TLS, EHLO,
   * AUTH, result, each with the server's replies; passwords and tokens are masked.
   */
  /** The transcript's own notes ("not used") are written in the language of the admin who asked. */
  async testConnection(t: Translate): Promise<ConnectionTestResult> {
    const config = this.#readConfig();
    const server = `${config.host}:${config.port}`;
    if (!config.configured) {
      return { ok: false, server, steps: [{ step: 'result', ok: false, lines: [] }], diagnosis: { disposition: 'settings', code: 'smtp_not_configured' } };
    }
    const entries: { tnx: string; text: string }[] = [];
    const record = (data: unknown, message: unknown, ...args: unknown[]) => {
      const tnx = typeof data === 'object' && data && 'tnx' in data ? String((data as { tnx: unknown }).tnx) : '';
      entries.push({ tnx, text: format(String(message ?? ''), ...args) });
    };
    const logger = { level() {}, trace: record, debug: record, info: record, warn: record, error: record, fatal: record };
    const transporter = (await loadNodemailer()).createTransport({ ...this.#transportOptions(config), pool: false, logger, debug: true } as SMTPTransport.Options);
    this.#provisionFrom(transporter, config);
    let error: unknown;
    const blocked = this.#tokenBlock(config);
    if (!blocked) {
      try {
        await this.#withTokenRetry(config, () => transporter.verify());
      } catch (err) {
        error = err;
      } finally {
        transporter.close();
      }
    }
    const diagnosis = blocked ?? (error === undefined ? undefined : diagnose(error, this.#secrets(config)));
    return { ok: !diagnosis, server, steps: transcriptSteps(entries, config, error, blocked !== undefined, this.#secrets(config), t), diagnosis };
  }

  // ---- the worker ------------------------------------------------------------------------------

  #kick(): void {
    if (this.#closed || this.#kickScheduled) return;
    this.#kickScheduled = true;
    setImmediate(() => {
      this.#kickScheduled = false;
      if (this.#closed) return;
      if (this.#running) {
        this.#again = true;
        return;
      }
      this.#running = this.#drain()
        .then(
          () => {
            this.#workerFailures = 0;
          },
          (err: unknown) => {
            this.#workerFailures++;
            this.#log.error({ err: cleanReply(err instanceof Error ? err.message : String(err)), failures: this.#workerFailures }, 'outbox worker failed');
          },
        )
        .finally(() => {
          this.#running = null;
          this.#schedule();
        });
    });
  }

  async #drain(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    do {
      this.#again = false;
      this.#snapshot = null;
      this.#releaseHeld();
      for (;;) {
        if (this.#closed) return;
        const job = this.outbox.nextDue();
        if (!job) break;
        if (!this.#canRecordDeliveries()) {
          if (!this.#waitingForStorage) this.#log.warn({ mail: 'outbox' }, 'mail waits: the storage cannot record a delivery');
          this.#waitingForStorage = true;
          return;
        }
        this.#waitingForStorage = false;
        await this.#attempt(job);
      }
    } while (this.#again && !this.#closed);
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    let delay: number;
    if (this.#workerFailures > 0) {
      // The run itself failed, so the outbox may not even be readable: never again at once.
      delay = this.backoffMs(this.#workerFailures);
    } else {
      const wake = this.outbox.nextWakeAt();
      delay = wake === undefined ? Infinity : Math.max(0, wake - Date.now());
      if (this.#waitingForStorage || this.outbox.counts().held > 0) delay = Math.min(delay, this.#holdPollMs);
    }
    if (delay === Infinity) return;
    this.#timer = setTimeout(() => this.#kick(), Math.min(delay, 2 ** 31 - 1));
    this.#timer.unref();
  }

  /** Held jobs whose cause is gone go back to the queue. */
  #releaseHeld(): void {
    const config = this.#readConfig();
    const tokenUsable = !config.key || this.#tokens.status(config.key).state === 'obtained';
    const released = this.outbox.releaseHeld({ token: tokenUsable, settingsFingerprint: config.fingerprint });
    if (released) this.#log.info({ mail: 'outbox', released }, 'held mail released');
  }

  #current(): { config: SmtpConfig; blocked: Diagnosis | undefined } {
    const now = Date.now();
    if (!this.#snapshot || now - this.#snapshot.at > 1_000) {
      const config = this.#readConfig();
      this.#snapshot = { at: now, config, blocked: this.#tokenBlock(config) };
    }
    return this.#snapshot;
  }

  async #attempt(job: OutboxJob): Promise<void> {
    const { config, blocked } = this.#current();
    if (!config.configured) return this.outbox.hold(job.id, `settings:${config.fingerprint}`, { code: 'smtp_not_configured' });
    if (blocked) {
      this.outbox.hold(job.id, 'token', { code: blocked.code, detail: blocked.detail });
      this.#log.info({ mail: job.id, held: blocked.detail }, 'mail held: no usable token');
      return;
    }
    this.#recycleIfTokenExpiring(config);
    const transporter = await this.#transport(config);
    const attachments = this.outbox.attachmentFiles(job.id);
    const missing = attachments.find((attachment) => !fs.existsSync(attachment.path));
    if (missing) {
      // Retrying cannot bring a file back: fail now rather than for days.
      this.outbox.fail(job.id, { code: 'attachment_missing', detail: missing.filename });
      this.#log.error({ mail: job.id, file: missing.path }, 'mail not sent: its attachment file is missing');
      return;
    }
    const secrets = this.#secrets(config);
    this.#inFlight++;
    try {
      const pending = [...job.recipients];
      while (pending.length) {
        const batch = pending.splice(0, this.#maxRecipients);
        const info = await this.#withTokenRetry(config, () => transporter.sendMail(this.#mailOptions(config, job, batch, attachments)));
        // The server's 250 is committed before anything else happens (no I/O, no await in between):
        // a kill between the 250 and this commit is the only window for a second copy (same Message-ID).
        const rejected: RejectedRecipient[] = [];
        for (const err of info.rejectedErrors ?? []) {
          const recipient = (err as { recipient?: string }).recipient;
          const code = (err as { responseCode?: number }).responseCode ?? 0;
          // 4xx: deferred, stays in the job for the next attempt; 5xx: refused for good.
          if (recipient && code >= 500) rejected.push({ address: recipient, reply: cleanReply((err as { response?: string }).response ?? err.message, secrets) ?? '' });
        }
        this.outbox.recordBatch(job.id, info.accepted.map(String), rejected);
      }
      const after = this.outbox.get(job.id);
      if (!after) return; // deleted meanwhile
      if (after.recipients.length) {
        // Some recipients were deferred (4xx): try them again later.
        this.#retryLater(after, { disposition: 'transient', code: 'smtp_temporary', detail: after.reason?.detail });
      } else if (after.rejected.length) {
        this.outbox.fail(job.id, { code: 'smtp_recipient_rejected', detail: after.rejected.map((r) => `${r.address}: ${r.reply}`).join('; ').slice(0, 300) });
        this.#log.warn({ mail: job.id, rejected: after.rejected.length }, 'mail refused for some recipients');
      } else {
        this.outbox.remove(job.id);
        this.#log.info({ mail: job.id, kind: job.kind, recipients: after.delivered }, 'mail sent');
      }
    } catch (err) {
      this.#snapshot = null;
      const diagnosis = diagnose(err, secrets);
      const reason: Reason = { code: diagnosis.code, detail: diagnosis.detail };
      switch (diagnosis.disposition) {
        case 'token_rejected':
        case 'token_unavailable':
          this.outbox.hold(job.id, 'token', reason);
          break;
        case 'settings':
          this.outbox.hold(job.id, `settings:${config.fingerprint}`, reason);
          break;
        case 'failed':
          this.outbox.fail(job.id, reason);
          break;
        case 'transient':
          this.#retryLater(job, diagnosis);
          break;
      }
      this.#log.warn({ mail: job.id, outcome: diagnosis.disposition, code: diagnosis.code, detail: diagnosis.detail }, 'mail not sent');
    } finally {
      this.#inFlight--;
    }
  }

  #retryLater(job: OutboxJob, diagnosis: Diagnosis): void {
    const now = Date.now();
    if (now - job.createdAt >= this.#giveUpAfterMs) {
      this.outbox.fail(job.id, { code: 'smtp_gave_up', detail: diagnosis.detail });
      return;
    }
    this.outbox.scheduleRetry(job.id, now + this.backoffMs(job.attempts + 1), { code: diagnosis.code, detail: diagnosis.detail }, now);
  }

  /** Exponential backoff, capped, with jitter (half fixed, half random) so devices do not retry in step. */
  backoffMs(attempt: number): number {
    const ceiling = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  // ---- tokens ------------------------------------------------------------------------------------

  /** Why no XOAUTH2 sign-in can even be tried (no network I/O); undefined when it can. */
  #tokenBlock(config: SmtpConfig): Diagnosis | undefined {
    if (config.authMethod !== 'oauth2' || !config.key) return undefined;
    const status = this.#tokens.status(config.key);
    if (status.state === 'obtained') return undefined;
    return { disposition: 'token_unavailable', code: 'token_unavailable', detail: status.reason ? `${status.state}: ${status.reason.code}` : status.state };
  }

  /**
   * Runs a send (or verify); when the server refuses the token and nodemailer did not already renew
   * it (it does so only after an XOAUTH2 challenge), forces one refresh and tries once more. A
   * second refusal is final: the token store marks the token Invalid with the server's reply.
   */
  async #withTokenRetry<T>(config: SmtpConfig, run: () => Promise<T>): Promise<T> {
    const key = config.key;
    const renewalsBefore = this.#renewals;
    try {
      return await run();
    } catch (err) {
      const diagnosis = diagnose(err, this.#secrets(config));
      if (!key || diagnosis.disposition !== 'token_rejected') throw err;
      if (this.#renewals === renewalsBefore) {
        this.#log.info({ code: diagnosis.code, detail: diagnosis.detail }, 'mail server refused the token: renewing it once');
        await this.#renewedToken(key);
        try {
          return await run();
        } catch (again) {
          const second = diagnose(again, this.#secrets(config));
          if (second.disposition === 'token_rejected') this.#reportRejected(key, second);
          throw again;
        }
      }
      this.#reportRejected(key, diagnosis);
      throw err;
    }
  }

  #reportRejected(key: TokenKey, diagnosis: Diagnosis): void {
    this.#log.warn({ code: diagnosis.code, detail: diagnosis.detail }, 'mail server refused the renewed token');
    this.#tokens.reportRejected(key, { code: diagnosis.code, detail: diagnosis.detail });
    // The pooled session signed in with that token is of no use any more.
    this.#closePool();
  }

  /** A forced refresh. If the store hands back the same token, the provider could not be reached. */
  async #renewedToken(key: TokenKey): Promise<string> {
    this.#renewals++;
    const token = await this.#tokens.getAccessToken(key, { forceRefresh: true });
    if (this.#lastTokenDigest !== undefined && digest(token) === this.#lastTokenDigest) {
      const warning = this.#tokens.status(key).warning;
      throw new TokenTemporarilyUnavailableError(warning ? { code: warning.code, detail: warning.detail } : { code: 'unreachable' });
    }
    this.#remember(key, token);
    return token;
  }

  #remember(key: TokenKey, token: string): void {
    this.#lastTokenDigest = digest(token);
    this.#sessionTokenExpiresAt = this.#tokens.status(key).accessExpiresAt;
  }

  #provisionFrom(transporter: Transporter<unknown>, config: SmtpConfig): void {
    const key = config.key;
    if (!key) return;
    transporter.set('oauth2_provision_cb', (_user, renew, callback) => {
      const token = renew ? this.#renewedToken(key) : this.#tokens.getAccessToken(key).then((value) => (this.#remember(key, value), value));
      // expires = 1 (in the past): nodemailer asks the store again for each new session.
      token.then(
        (value) => callback(null, value, 1),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
    });
  }

  /** A session must not outlive its token (501 5.5.127): open a new one when the token runs out. */
  #recycleIfTokenExpiring(config: SmtpConfig): void {
    if (config.authMethod !== 'oauth2' || this.#sessionTokenExpiresAt === null || this.#inFlight > 0) return;
    if (Date.now() >= this.#sessionTokenExpiresAt - 5_000) {
      this.#closePool();
      this.#sessionTokenExpiresAt = null;
    }
  }

  // ---- transport ---------------------------------------------------------------------------------

  #readConfig(): SmtpConfig {
    const saved = this.#settings.isSaved(smtpForm);
    const values = this.#settings.values(smtpForm);
    const authMethod = (['none', 'smtp-auth', 'oauth2'].includes(String(values.authMethod)) ? values.authMethod : 'none') as AuthMethod;
    const password = authMethod === 'smtp-auth' ? this.#settings.secret(smtpForm, 'authPassword') : undefined;
    const key = authMethod === 'oauth2' ? this.#accounts.keyFor('smtp') : undefined;
    const host = String(values.primaryServer ?? '');
    const senderAddress = String(values.senderAddress ?? '');
    // SMTP-AUTH without its password (retired with a lost device key) is not tried: a wrong sign-in
    // would only count against the account at the server.
    const configured = saved && host !== '' && senderAddress !== '' && (authMethod !== 'oauth2' || (key !== undefined && this.#accounts.providerOf(key) !== undefined)) && (authMethod !== 'smtp-auth' || password !== undefined);
    return {
      fingerprint: digest(JSON.stringify({ saved, values, password: password ? digest(password) : null })),
      configured,
      host,
      port: Number(values.port) || 587,
      timeoutMs: (Number(values.timeout) || 20) * 1000,
      senderName: String(values.senderName ?? ''),
      senderAddress,
      ssl: (['none', 'starttls', 'tls'].includes(String(values.ssl)) ? values.ssl : 'starttls') as SslMode,
      authMethod,
      user: authMethod === 'smtp-auth' ? String(values.authUser ?? '') : authMethod === 'oauth2' ? key?.account : undefined,
      password,
      key,
    };
  }

  #transportOptions(config: SmtpConfig): SMTPPool.Options {
    const auth =
      config.authMethod === 'oauth2'
        ? { type: 'OAuth2' as const, user: config.user ?? '' }
        : config.authMethod === 'smtp-auth'
          ? { user: config.user ?? '', pass: config.password ?? '' }
          : undefined;
    return { ...smtpConnection(config), ...(auth ? { auth } : {}), logger: false };
  }

  async #transport(config: SmtpConfig): Promise<Pool> {
    if (this.#pool?.fingerprint === config.fingerprint) return this.#pool.transporter;
    const mailer = await loadNodemailer();
    this.#closePool();
    const transporter = mailer.createTransport({
      ...this.#transportOptions(config),
      pool: true,
      maxConnections: this.#maxConnections,
      // One session for as long as its token lives (see #recycleIfTokenExpiring), not per 100 mails.
      maxMessages: Infinity,
      // Our outbox does the retries; nodemailer must not resend a message on its own.
      maxRequeues: 0,
      idleTimeout: this.#idleTimeoutMs,
    });
    this.#provisionFrom(transporter, config);
    this.#pool = { fingerprint: config.fingerprint, transporter };
    return transporter;
  }

  #closePool(): void {
    this.#pool?.transporter.close();
    this.#pool = null;
  }

  #from(config: SmtpConfig): SendMailOptions['from'] {
    return config.senderName ? { name: config.senderName, address: config.senderAddress } : config.senderAddress;
  }

  #mailOptions(config: SmtpConfig, job: OutboxJob, batch: string[], attachments: OutboxAttachmentFile[]): SendMailOptions {
    const message = job.message;
    return {
      from: this.#from(config),
      to: message.to,
      cc: message.cc,
      ...(message.replyTo ? { replyTo: message.replyTo } : {}),
      subject: message.subject,
      ...(message.text !== undefined ? { text: message.text } : {}),
      ...(message.html !== undefined ? { html: message.html } : {}),
      // A path, not the bytes: nodemailer reads the file as it writes each batch to the socket.
      attachments: attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, path: a.path })),
      messageId: message.messageId,
      date: new Date(message.date),
      envelope: { from: config.senderAddress, to: batch },
    };
  }

  #authLabel(config: SmtpConfig, t: Translate): string {
    return t(config.authMethod === 'oauth2' ? 'auth.oauth2' : config.authMethod === 'smtp-auth' ? 'auth.smtpAuth' : 'auth.none');
  }

  #secrets(config: SmtpConfig): (string | undefined)[] {
    return [config.password];
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
    this.#closePool();
  }
}

// ---- the Connection Test transcript ------------------------------------------------------------

const STEP_OF_COMMAND: [RegExp, ConnectionStepName][] = [
  [/^(EHLO|HELO|LHLO)\b/i, 'ehlo'],
  [/^STARTTLS\b/i, 'tls'],
  [/^AUTH\b/i, 'auth'],
  [/^QUIT\b/i, 'result'],
];

/** A 334 XOAUTH2 challenge carries base64 JSON (status, schemes, scope): show it decoded. */
function readable(line: string): string {
  const challenge = /^(S: )?334 ([A-Za-z0-9+/]+=*)$/.exec(line);
  if (challenge) {
    try {
      const json = Buffer.from(challenge[2]!, 'base64').toString('utf8');
      if (/^\{.*\}$/.test(json)) return `${challenge[1] ?? ''}334 ${json}`;
    } catch {
      /* not base64 JSON: shown masked */
    }
  }
  return line;
}

function transcriptSteps(entries: { tnx: string; text: string }[], config: SmtpConfig, error: unknown, blocked: boolean, secrets: (string | undefined)[], t: Translate): ConnectionStep[] {
  const steps = new Map<ConnectionStepName, ConnectionStep>(
    (['connect', 'tls', 'ehlo', 'auth', 'result'] as const).map((step) => [step, { step, ok: null, lines: [] }]),
  );
  let current: ConnectionStepName = 'connect';
  let greeted = false;
  let upgraded = config.ssl === 'tls';
  let ehloOk = false;
  let authOk = false;
  for (const entry of entries) {
    let line: string | undefined;
    if (entry.tnx === 'client') {
      const command = entry.text;
      current = STEP_OF_COMMAND.find(([pattern]) => pattern.test(command))?.[1] ?? current;
      line = `C: ${command}`;
    } else if (entry.tnx === 'server') {
      line = `S: ${entry.text}`;
      if (/^220[ -]/.test(entry.text) && current === 'connect') greeted = true;
      if (current === 'ehlo' && /^250[ -]/.test(entry.text)) ehloOk = true;
      if (current === 'auth' && /^235[ -]/.test(entry.text)) authOk = true;
    } else if (entry.tnx === 'network' && /established|closed/i.test(entry.text)) {
      line = entry.text;
    } else if (/upgraded with STARTTLS/i.test(entry.text)) {
      upgraded = true;
      line = entry.text;
      current = 'tls';
    }
    if (line !== undefined) steps.get(current)!.lines.push(maskSecrets(readable(line), secrets));
  }
  const failedAt = error ? stepOfError(error) : undefined;
  const connect = steps.get('connect')!;
  connect.ok = greeted ? true : error ? false : null;
  const tls = steps.get('tls')!;
  tls.ok = config.ssl === 'none' ? null : upgraded ? true : failedAt === 'tls' || (error && greeted) ? false : null;
  if (config.ssl === 'tls' && greeted) tls.lines.unshift(t('connTest.implicitTls'));
  if (config.ssl === 'none') tls.lines.push(t('connTest.notUsed'));
  const ehlo = steps.get('ehlo')!;
  ehlo.ok = ehloOk ? true : failedAt === 'ehlo' ? false : null;
  const auth = steps.get('auth')!;
  if (config.authMethod === 'none') {
    auth.ok = null;
    auth.lines.push(t('connTest.notUsed'));
  } else auth.ok = authOk ? true : failedAt === 'auth' || blocked ? false : null;
  steps.get('result')!.ok = !error && !blocked;
  return [...steps.values()];
}

function stepOfError(error: unknown): ConnectionStepName {
  if (error instanceof TokenUnavailableError || error instanceof TokenTemporarilyUnavailableError) return 'auth';
  const command = String((error as { command?: unknown }).command ?? '').toUpperCase();
  const code = String((error as { code?: unknown }).code ?? '');
  if (command.startsWith('AUTH') || code === 'EAUTH') return 'auth';
  if (command.startsWith('EHLO') || command.startsWith('HELO')) return 'ehlo';
  if (command.startsWith('STARTTLS') || code === 'ETLS') return 'tls';
  return 'connect';
}
