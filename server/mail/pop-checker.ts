/**
 * The mailbox checker (E-mail Status page): every Check Interval it signs in to the POP3 or IMAP server
 * the page names and fetches only the messages it has not fetched before (POP: by UIDL; IMAP: UIDs
 * above the last one, while UIDVALIDITY stays), recording them in the e-mail print inbox. It never
 * deletes mail on the server. The two protocols are two clients behind one interface (mailbox-client.ts).
 *
 * With OAuth 2.0 it asks the token store for an access token (never the provider itself). A token the
 * server refuses gets one forced refresh and one more try; refused again, it is reported to the token
 * store, which makes it Invalid on every page that uses it. Temporary failures (network, time-outs,
 * -ERR [SYS/TEMP], provider unreachable) leave the token alone: the next check tries again.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Db } from '../db/database.js';
import type { Logger, TokenKey, TokenStore } from '../oauth/token-store.js';
import type { MailAccounts } from '../settings/mail-accounts.js';
import { popForm } from '../settings/pages.js';
import type { SettingsRepository } from '../settings/settings-repository.js';
import { diagnose, problem, PopTokenRejectedError, type PopProblem } from './pop-diagnosis.js';
import { mailboxKey, PopInbox, type InboxEntry } from './pop-inbox.js';
import { Pop3Error, type Pop3Security, type TranscriptLine } from './pop3-client.js';
import type { MailboxClient, MailboxCredential, MailboxSession, MailboxStepName, MailboxStepStatus, MailProtocol } from './mailbox-client.js';
import { pop3Mailbox } from './pop3-mailbox.js';

export type PopStepName = MailboxStepName;
export type PopStepStatus = MailboxStepStatus;

export interface PopStep {
  step: PopStepName;
  status: PopStepStatus;
  /** What the server said or what was done (masked). */
  text?: string | undefined;
}

export interface PopCheckOutcome {
  /** 'check' fetches new mail; 'test' (Connection Test) stops after signing in. */
  mode: 'check' | 'test';
  trigger: 'schedule' | 'manual';
  startedAt: number;
  durationMs: number;
  ok: boolean;
  server: string | null;
  /** Absent in outcomes saved before IMAP existed: those were POP3. */
  protocol?: MailProtocol;
  security: Pop3Security | null;
  authMethod: 'plain' | 'oauth2' | null;
  mailbox: string | null;
  /** Messages fetched by this check. */
  fetched: number;
  /** Messages in the mailbox (UIDL), when the check got that far. */
  onServer: number | null;
  /** New messages left for the next check (more than the per-check limit). */
  remaining: number;
  /** Seen UIDs dropped because the messages are no longer on the server. */
  forgotten: number;
  /** The server refused the first token and a renewed one was tried. */
  tokenRenewed: boolean;
  problem: PopProblem | null;
  steps: PopStep[];
  /** The POP3 or IMAP dialogue, credentials masked, message bodies summarized. */
  transcript: TranscriptLine[];
}

export interface PopCheckerOptions {
  db: Db;
  settings: SettingsRepository;
  accounts: MailAccounts;
  tokens: Pick<TokenStore, 'getAccessToken' | 'reportRejected'>;
  log: Logger;
  /** Silence allowed per step (connect + TLS + greeting, each command). Default 30 s. */
  timeoutMs?: number;
  /** Extra TLS options (e.g. a CA for a lab server). */
  tls?: ConnectionOptions;
  /** Length of the Check Interval's unit; only tests shorten it. Default 60 000 ms. */
  minuteMs?: number;
  /** How often the scheduler re-reads the settings, so a Save takes effect without a restart. Default 5 s. */
  tickMs?: number;
  /** At most this many messages are fetched per check; the rest wait for the next one. Default 100. */
  maxMessagesPerCheck?: number;
  rawCapBytes?: number;
  keepEntries?: number;
  /** close() waits at most this long for a run under way (a connect in progress cannot be aborted). Default 2 s. */
  closeGraceMs?: number;
}

type PopAuth = { method: 'plain'; user: string } | { method: 'oauth2'; user: string; key: TokenKey };

interface PopConfig {
  protocol: MailProtocol;
  host: string;
  port: number;
  /** IMAP: the folder checked. */
  folder: string;
  security: Pop3Security;
  intervalMinutes: number;
  auth: PopAuth;
  mailbox: string;
}

/** Collects the transcript of one run across its connections, masking every secret the run used. */
class Recorder {
  readonly #lines: TranscriptLine[] = [];
  readonly #secrets: string[] = [];
  #session: { readonly transcript: readonly TranscriptLine[] } | null = null;
  #consumed = 0;

  secret(value: string): void {
    if (value.length >= 4) this.#secrets.push(value);
  }

  info(text: string): void {
    this.#flush();
    this.#lines.push({ direction: 'info', text: this.mask(text) });
  }

  attach(session: { readonly transcript: readonly TranscriptLine[] }): void {
    this.#flush();
    this.#session = session;
    this.#consumed = 0;
  }

  mask(text: string): string {
    let out = text;
    for (const s of this.#secrets) out = out.split(s).join('********');
    return out;
  }

  /** Copies what the session has said since the last flush, so info lines land in order. */
  #flush(): void {
    const transcript = this.#session?.transcript ?? [];
    for (let i = this.#consumed; i < transcript.length; i++) this.#lines.push({ direction: transcript[i]!.direction, text: this.mask(transcript[i]!.text) });
    this.#consumed = transcript.length;
  }

  lines(): TranscriptLine[] {
    this.#flush();
    return this.#lines;
  }
}

class CheckerClosedError extends Error {
  constructor() {
    super('the POP checker is stopped');
  }
}

export class PopChecker {
  readonly inbox: PopInbox;
  readonly #o: PopCheckerOptions;
  readonly #timeoutMs: number;
  readonly #minuteMs: number;
  readonly #tickMs: number;
  readonly #maxPerCheck: number;
  #timer: NodeJS.Timeout | null = null;
  #started = false;
  #closed = false;
  /** Runs (scheduled checks, Check Now, Connection Test) never overlap: they queue here. */
  #queue: Promise<unknown> = Promise.resolve();
  #busy = 0;
  /** Sessions open right now, closed at once on close(). */
  readonly #live = new Set<MailboxSession>();
  /** When the scheduler first saw POP configured, for a device that has never checked. */
  #configuredSince: number | null = null;

  constructor(options: PopCheckerOptions) {
    this.#o = options;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#minuteMs = options.minuteMs ?? 60_000;
    this.#tickMs = options.tickMs ?? 5_000;
    this.#maxPerCheck = options.maxMessagesPerCheck ?? 100;
    this.inbox = new PopInbox(options.db, {
      ...(options.rawCapBytes !== undefined ? { rawCapBytes: options.rawCapBytes } : {}),
      ...(options.keepEntries !== undefined ? { keepEntries: options.keepEntries } : {}),
    });
  }

  // ---- public API --------------------------------------------------------------------------------

  /** Starts the schedule. It checks nothing while the E-mail Status page is not saved. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#arm(0);
  }

  /** Check Now: one check right away (after a run under way, if any). */
  checkNow(): Promise<PopCheckOutcome> {
    return this.#exclusive(() => this.#run('check', 'manual'));
  }

  /** Connection Test: connect, TLS, greeting, CAPA, sign in; fetches nothing. */
  testConnection(): Promise<PopCheckOutcome> {
    return this.#exclusive(() => this.#run('test', 'manual'));
  }

  /** The last check (scheduled or Check Now), also after a restart. */
  lastCheck(): PopCheckOutcome | null {
    const row = this.inbox.lastStatus();
    return row ? (JSON.parse(row.outcomeJson) as PopCheckOutcome) : null;
  }

  /** When the next scheduled check is due; null when POP is not configured or the checker is stopped. */
  nextCheckAt(now = Date.now()): number | null {
    if (!this.#started || this.#closed) return null;
    return this.#plan(now)?.dueAt ?? null;
  }

  listInbox(limit = 50): InboxEntry[] {
    return this.inbox.list(limit);
  }

  /**
   * Stops the schedule, closes any open connection and waits for the run under way to end — at most
   * `closeGraceMs`: a connection still waiting for its greeting ends by its own time-out, and a run
   * that ends after close() records nothing.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const session of this.#live) session.close();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.#queue, new Promise<void>((resolve) => (grace = setTimeout(resolve, this.#o.closeGraceMs ?? 2_000)))]);
    clearTimeout(grace);
  }

  // ---- scheduling --------------------------------------------------------------------------------

  #arm(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref();
  }

  #plan(now: number): { dueAt: number } | null {
    const config = this.#config(false);
    if (!config) {
      this.#configuredSince = null;
      return null;
    }
    const since = this.inbox.lastStatus()?.lastCheckAt ?? (this.#configuredSince ??= now);
    return { dueAt: since + config.intervalMinutes * this.#minuteMs };
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    let delay = this.#tickMs;
    try {
      const now = Date.now();
      const plan = this.#plan(now);
      if (plan && plan.dueAt <= now && this.#busy === 0) {
        await this.#exclusive(() => this.#run('check', 'schedule'));
        const next = this.#plan(Date.now());
        if (next) delay = Math.min(this.#tickMs, Math.max(1, next.dueAt - Date.now()));
      } else if (plan) {
        delay = Math.min(this.#tickMs, Math.max(1, plan.dueAt - now));
      }
    } catch (err) {
      if (!(err instanceof CheckerClosedError)) this.#o.log.error({ err }, 'POP check scheduler failed');
    }
    this.#arm(delay);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new CheckerClosedError());
    this.#busy++;
    const run = this.#queue.then(() => {
      if (this.#closed) throw new CheckerClosedError();
      return fn();
    });
    this.#queue = run.catch(() => undefined).finally(() => this.#busy--);
    return run;
  }

  // ---- settings ----------------------------------------------------------------------------------

  /** Re-read on every run and tick: a Save on the page takes effect without a restart. */
  #config(withSecrets: boolean): (PopConfig & { password?: string | undefined }) | undefined {
    const { settings, accounts } = this.#o;
    if (!settings.isSaved(popForm)) return undefined;
    const values = settings.values(popForm);
    const protocol: MailProtocol = values.protocol === 'imap' ? 'imap' : 'pop3';
    const host = String(values.server ?? '');
    const port = Number(protocol === 'imap' ? values.imapPort : values.port);
    const folder = String(values.folder ?? '') || 'INBOX';
    const intervalMinutes = Number(values.checkInterval);
    const security = String(values.ssl) as Pop3Security;
    if (!host || !Number.isInteger(port) || !(intervalMinutes >= 1) || !['none', 'starttls', 'tls'].includes(security)) return undefined;
    let auth: PopAuth;
    let password: string | undefined;
    if (values.authMethod === 'oauth2') {
      const key = accounts.keyFor('pop');
      if (!key) return undefined;
      auth = { method: 'oauth2', user: key.account, key };
    } else {
      const user = String(values.userName ?? '');
      if (!user) return undefined;
      auth = { method: 'plain', user };
      if (withSecrets) password = settings.secret(popForm, 'password');
    }
    // The same server and user over IMAP is another record of what was fetched.
    const mailbox = protocol === 'imap' ? `imap:${mailboxKey(host, auth.user)}` : mailboxKey(host, auth.user);
    return { protocol, host, port, folder, security, intervalMinutes, auth, mailbox, password };
  }

  // ---- one run -----------------------------------------------------------------------------------

  async #run(mode: 'check' | 'test', trigger: 'schedule' | 'manual'): Promise<PopCheckOutcome> {
    const startedAt = Date.now();
    const config = this.#config(true);
    const rec = new Recorder();
    const outcome: PopCheckOutcome = {
      mode, trigger, startedAt, durationMs: 0, ok: false,
      server: config ? `${config.host}:${config.port}` : null,
      ...(config ? { protocol: config.protocol } : {}),
      security: config?.security ?? null,
      authMethod: config?.auth.method ?? null,
      mailbox: config?.mailbox ?? null,
      fetched: 0, onServer: null, remaining: 0, forgotten: 0, tokenRenewed: false,
      problem: null, steps: [], transcript: [],
    };
    if (!config) {
      outcome.problem = problem('not_configured');
      outcome.durationMs = Date.now() - startedAt;
      return outcome;
    }
    const steps = new Map<PopStepName, PopStep>();
    const step = (name: PopStepName, status: PopStepStatus, text?: string) => steps.set(name, { step: name, status, text: text === undefined ? undefined : rec.mask(text) });
    let stage: PopStepName = 'auth'; // the token is asked for before connecting
    let session: MailboxSession | null = null;
    try {
      if (config.password) rec.secret(config.password);
      const credential = await this.#credential(config, rec);
      stage = 'connect';
      session = await this.#signIn(config, credential, rec, outcome, (name, status, text) => {
        step(name, status, text);
        if (name === 'capa') stage = 'auth';
      });
      step('auth', 'ok', config.auth.method === 'oauth2' ? `XOAUTH2 (${config.auth.user})` : `${config.protocol === 'imap' ? 'LOGIN' : 'USER/PASS'} (${config.auth.user})`);
      if (mode === 'check') {
        stage = 'fetch';
        await this.#fetch(config, session, rec, outcome);
        step('fetch', 'ok', `${outcome.fetched}/${outcome.onServer ?? 0}`);
      }
      outcome.ok = true;
      const done = session;
      session = null;
      await this.#quit(done, rec);
    } catch (err) {
      // A run cut short by close() is no failure of the server's.
      outcome.problem = this.#closed ? problem('internal', 'stopped: the POP checker was closed') : diagnose(err, { authMethod: config.auth.method });
      if (outcome.problem.detail) outcome.problem.detail = rec.mask(outcome.problem.detail);
      if (err instanceof Pop3Error || err instanceof PopTokenRejectedError) rec.info(`failed: ${err.message}`);
      else rec.info(`failed: ${outcome.problem.code}${outcome.problem.detail ? ` (${outcome.problem.detail})` : ''}`);
      this.#markFailure(stage, outcome.problem, config, step);
      if (session) this.#drop(session);
    }
    // Steps not reached, in order.
    for (const name of ['connect', 'tls', 'greeting', 'capa', 'auth', ...(mode === 'check' ? ['fetch' as const] : [])] as PopStepName[]) {
      if (!steps.has(name)) step(name, name === 'tls' && config.security === 'none' ? 'not_used' : 'not_reached');
    }
    outcome.steps = ['connect', 'tls', 'greeting', 'capa', 'auth', 'fetch'].flatMap((name) => steps.get(name as PopStepName) ?? []);
    outcome.transcript = rec.lines();
    outcome.durationMs = Date.now() - startedAt;
    if (mode === 'check' && !this.#closed) this.inbox.saveStatus(startedAt, JSON.stringify(outcome));
    this.#logOutcome(outcome);
    return outcome;
  }

  #markFailure(stage: PopStepName, p: PopProblem, config: PopConfig, step: (name: PopStepName, status: PopStepStatus, text?: string) => void): void {
    const detail = p.detail;
    if (stage === 'connect') {
      if (p.code === 'tls' || p.code === 'no_stls') {
        step('connect', 'ok', `${config.host}:${config.port}`);
        step('tls', 'failed', detail);
      } else if (p.code === 'protocol' || p.code === 'temporary') {
        step('connect', 'ok', `${config.host}:${config.port}`);
        if (config.security !== 'none') step('tls', 'ok');
        step('greeting', 'failed', detail);
      } else {
        step('connect', 'failed', detail);
      }
      return;
    }
    step(stage, 'failed', detail);
  }

  async #credential(config: PopConfig & { password?: string | undefined }, rec: Recorder): Promise<string> {
    this.#guard();
    if (config.auth.method === 'plain') return config.password ?? '';
    const token = await this.#o.tokens.getAccessToken(config.auth.key);
    rec.secret(token);
    return token;
  }

  /** The protocol's client; IMAP's (and imapflow) is loaded the first time a page asks for IMAP. */
  async #client(protocol: MailProtocol): Promise<MailboxClient> {
    return protocol === 'imap' ? (await import('./imap-client.js')).imapMailbox : pop3Mailbox;
  }

  /** Connects and signs in; the session is live (closed by close()) and recorded from its first line. */
  async #open(config: PopConfig, credential: string, rec: Recorder, step: (name: PopStepName, status: PopStepStatus, text?: string) => void): Promise<MailboxSession> {
    this.#guard();
    const client = await this.#client(config.protocol);
    const auth: MailboxCredential = config.auth.method === 'plain' ? { method: 'plain', user: config.auth.user, password: credential } : { method: 'oauth2', user: config.auth.user, accessToken: credential };
    let opened: MailboxSession | null = null;
    try {
      return await client.open(
        { host: config.host, port: config.port, security: config.security, timeoutMs: this.#timeoutMs, folder: config.folder, ...(this.#o.tls ? { tls: this.#o.tls } : {}) },
        auth,
        step,
        (session) => {
          opened = session;
          this.#live.add(session);
          rec.attach(session);
          if (this.#closed) session.close();
        },
      );
    } catch (err) {
      // The client's transcript of a failed connection is gone with it: say what was tried.
      if (!opened) rec.info(`connecting to ${config.host}:${config.port} (${config.security})`);
      else this.#drop(opened);
      if (this.#closed) throw new CheckerClosedError();
      throw err;
    }
  }

  /** Signs in; with OAuth 2.0 a refused token is renewed once and tried on a new connection. */
  async #signIn(config: PopConfig, credential: string, rec: Recorder, outcome: PopCheckOutcome, step: (name: PopStepName, status: PopStepStatus, text?: string) => void): Promise<MailboxSession> {
    const auth = config.auth;
    if (auth.method === 'plain') return this.#open(config, credential, rec, step);
    try {
      return await this.#open(config, credential, rec, step);
    } catch (err) {
      if (!(err instanceof Pop3Error) || err.kind !== 'auth') throw err;
      rec.info('the server refused the token: renewing it once and trying again');
    }
    outcome.tokenRenewed = true;
    const fresh = await this.#o.tokens.getAccessToken(auth.key, { forceRefresh: true });
    rec.secret(fresh);
    try {
      return await this.#open(config, fresh, rec, () => {});
    } catch (err) {
      if (!(err instanceof Pop3Error) || err.kind !== 'auth') throw err;
      const response = rec.mask(err.response ?? err.message);
      const code = config.protocol === 'imap' ? 'imap_auth' : 'pop_auth';
      this.#o.tokens.reportRejected(auth.key, { code, detail: response });
      throw new PopTokenRejectedError(response, code);
    }
  }

  async #fetch(config: PopConfig, session: MailboxSession, rec: Recorder, outcome: PopCheckOutcome): Promise<void> {
    const found = await this.#guarded(session, () => session.newMessages(this.inbox, config.mailbox));
    outcome.onServer = found.onServer;
    outcome.forgotten = found.forgotten;
    const now = found.fresh.slice(0, this.#maxPerCheck);
    outcome.remaining = found.fresh.length - now.length;
    rec.info(`${found.onServer} messages on the server, ${found.fresh.length} new${found.forgotten ? `, ${found.forgotten} no longer there` : ''}`);
    for (const ref of now) {
      const raw = await this.#guarded(session, () => session.retrieve(ref));
      this.inbox.record(found.mailbox, ref.uid, raw);
      outcome.fetched++;
    }
    if (outcome.remaining) rec.info(`${outcome.remaining} new messages left for the next check`);
  }

  /** QUIT ends the session politely; the mail is already recorded, so a failure here changes nothing. */
  async #quit(session: MailboxSession, rec: Recorder): Promise<void> {
    try {
      await this.#guarded(session, () => session.quit());
    } catch (err) {
      rec.info(`QUIT failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.#drop(session);
    }
  }

  /** Runs a session call; after close() it fails rather than going on. */
  async #guarded<T>(session: MailboxSession, fn: () => Promise<T>): Promise<T> {
    this.#guard();
    try {
      return await fn();
    } finally {
      if (this.#closed) this.#drop(session);
    }
  }

  #guard(): void {
    if (this.#closed) throw new CheckerClosedError();
  }

  #drop(session: MailboxSession): void {
    this.#live.delete(session);
    session.close();
  }

  #logOutcome(o: PopCheckOutcome): void {
    const entry = {
      popCheck: {
        mode: o.mode, trigger: o.trigger, startedAt: o.startedAt, ok: o.ok, server: o.server, mailbox: o.mailbox, fetched: o.fetched, onServer: o.onServer,
        remaining: o.remaining, forgotten: o.forgotten, tokenRenewed: o.tokenRenewed, durationMs: o.durationMs,
        problem: o.problem?.code, detail: o.problem?.detail,
      },
    };
    if (o.ok) this.#o.log.info(entry, o.mode === 'check' ? 'POP check done' : 'POP connection test done');
    else if (this.#closed) this.#o.log.info(entry, 'POP check stopped');
    else if (o.problem?.transient) this.#o.log.warn(entry, 'POP check failed for now; the next check tries again');
    else this.#o.log.warn(entry, 'POP check failed');
  }
}
