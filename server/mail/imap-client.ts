/**
 * The IMAP side of the mailbox checker, on imapflow (by the nodemailer author). Loaded only when an
 * E-mail Status page is set to IMAP: a printer checking POP (or nothing) does not pay for it.
 *
 * It opens the folder read-only (EXAMINE), so fetching changes no flag and deletes nothing, and
 * fetches only UIDs above the last one fetched while the folder's UIDVALIDITY stays the same.
 */
import type { ImapFlow, ImapFlowOptions } from 'imapflow';
import type { MailboxClient, MailboxCredential, MailboxSession, MailboxTarget, MessageRef, NewMail, SeenLedger, StepReporter } from './mailbox-client.js';
import { Pop3Error, type Pop3ErrorKind, type TranscriptLine } from './pop3-client.js';
import { maskSecrets } from './smtp-diagnosis.js';

/** The folder the page names does not exist (or may not be opened) on the server. */
export class ImapFolderError extends Pop3Error {
  override name = 'ImapFolderError';
}

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'NoConnection', 'EConnectionClosed']);
const TIMEOUT = new Set(['ETIMEDOUT', 'CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT']);

interface ImapErrorLike {
  code?: unknown;
  message?: unknown;
  response?: unknown;
  serverResponseCode?: unknown;
  authenticationFailed?: unknown;
  tlsFailed?: unknown;
}

/** An imapflow error as the checker's error kinds; the server's words kept (masked). */
function classify(err: unknown, secrets: readonly string[]): Pop3Error {
  if (err instanceof Pop3Error) return err;
  const e = (err ?? {}) as ImapErrorLike;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const response = typeof e.response === 'string' && e.response ? maskSecrets(e.response, secrets) : undefined;
  const code = typeof e.code === 'string' ? e.code : '';
  const responseCode = typeof e.serverResponseCode === 'string' ? e.serverResponseCode.toUpperCase() : '';
  const extra = { ...(response ? { response } : {}), cause: err };
  let kind: Pop3ErrorKind = 'protocol';
  // [UNAVAILABLE] is Dovecot's (and RFC 5530's) "could not check now": the token may be fine.
  if (responseCode === 'UNAVAILABLE' || /\[UNAVAILABLE\]|temporar/i.test(response ?? '')) kind = 'temporary';
  else if (e.authenticationFailed === true || responseCode === 'AUTHENTICATIONFAILED') kind = 'auth';
  else if (e.tlsFailed === true && /STARTTLS/i.test(message)) kind = 'unsupported';
  else if (e.tlsFailed === true || /^ERR_SSL|^ERR_TLS|CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code) || /\b(TLS|SSL|certificate)\b/i.test(message)) kind = 'tls';
  else if (TIMEOUT.has(code) || /timed? ?out/i.test(message)) kind = 'timeout';
  else if (NETWORK.has(code) || /ECONNREFUSED|ECONNRESET|closed/i.test(message)) kind = 'network';
  else if (/Unsupported authentication mechanism|No matching authentication method/i.test(message)) kind = 'unsupported';
  const text = kind === 'unsupported' && /STARTTLS/i.test(message) ? `STARTTLS: ${message}` : maskSecrets(message, secrets);
  return new Pop3Error(kind, response ? `${text}: ${response}` : text, extra);
}

class ImapMailboxSession implements MailboxSession {
  readonly transcript: TranscriptLine[] = [];
  client: ImapFlow | null = null;
  #closed = false;

  constructor(readonly target: MailboxTarget, readonly secrets: readonly string[]) {}

  note(direction: TranscriptLine['direction'], text: string): void {
    if (this.transcript.length < 500) this.transcript.push({ direction, text: maskSecrets(text.replace(/[\r\n]+$/, ''), this.secrets) });
  }

  async newMessages(seen: SeenLedger, mailbox: string): Promise<NewMail> {
    const client = this.#client();
    let box;
    try {
      box = await client.mailboxOpen(this.target.folder, { readOnly: true });
    } catch (err) {
      const failure = classify(err, this.secrets);
      if (failure.kind === 'protocol') throw new ImapFolderError('protocol', `cannot open the folder "${this.target.folder}": ${failure.message}`, failure.response ? { response: failure.response } : {});
      throw failure;
    }
    const cursor = seen.imapCursor(`${mailbox}/${this.target.folder}`, String(box.uidValidity));
    let uids: number[] = [];
    if (box.exists > 0) {
      // "n:*" also names the highest UID when it is below n (RFC 3501 §6.4.8): keep those above the cursor.
      const found = await this.#call(() => client.search({ uid: `${cursor.lastUid + 1}:*` }, { uid: true }));
      uids = (found || []).filter((uid) => uid > cursor.lastUid).sort((a, b) => a - b);
    }
    this.note('info', `${this.target.folder}: UIDVALIDITY ${String(box.uidValidity)}, ${box.exists} messages, last UID fetched before ${cursor.lastUid || 'none'}`);
    return { mailbox: cursor.mailbox, onServer: box.exists, fresh: uids.map((uid) => ({ uid: String(uid), number: uid })), forgotten: cursor.forgotten };
  }

  async retrieve(ref: MessageRef): Promise<Buffer> {
    const client = this.#client();
    const message = await this.#call(() => client.fetchOne(String(ref.number), { source: true }, { uid: true }));
    if (!message || !message.source) throw new Pop3Error('protocol', `UID ${ref.number} is no longer in the folder`);
    this.note('info', `UID ${ref.number}: ${message.source.length} bytes`);
    return message.source;
  }

  async quit(): Promise<void> {
    const client = this.client;
    if (!client || this.#closed) return;
    try {
      await this.#call(() => client.logout());
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.client?.close();
  }

  #client(): ImapFlow {
    if (!this.client || this.#closed) throw new Pop3Error('network', 'the IMAP session is closed');
    return this.client;
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classify(err, this.secrets);
    }
  }
}

let imapflow: Promise<typeof import('imapflow')> | undefined;

export const imapMailbox: MailboxClient = {
  async open(target: MailboxTarget, credential: MailboxCredential, step: StepReporter, opened) {
    const { ImapFlow } = await (imapflow ??= import('imapflow'));
    const secret = credential.method === 'plain' ? credential.password : credential.accessToken;
    const session = new ImapMailboxSession(target, [secret]);
    const lines = (direction: 'client' | 'server') => (entry: { src?: string; msg?: unknown }) => {
      if (typeof entry?.msg === 'string' && entry.src === (direction === 'client' ? 'c' : 's')) session.note(direction, entry.msg);
    };
    const client = lines('client');
    const server = lines('server');
    const options: ImapFlowOptions = {
      host: target.host,
      port: target.port,
      secure: target.security === 'tls',
      // STARTTLS chosen: required, never a silent fall-back to plain text; None: never tried.
      doSTARTTLS: target.security === 'starttls' ? true : target.security === 'none' ? false : undefined,
      ...(target.tls ? { tls: target.tls } : {}),
      auth: credential.method === 'plain' ? { user: credential.user, pass: credential.password } : { user: credential.user, accessToken: credential.accessToken },
      connectionTimeout: target.timeoutMs,
      greetingTimeout: target.timeoutMs,
      socketTimeout: target.timeoutMs,
      disableAutoIdle: true,
      // Commands and replies (imapflow masks credentials; message bodies are logged at trace, not kept).
      logger: { debug: (e: { src?: string; msg?: unknown }) => { client(e); server(e); }, info: () => {}, warn: () => {}, error: () => {}, trace: () => {} } as unknown as ImapFlowOptions['logger'],
    };
    const flow = new ImapFlow(options);
    session.client = flow;
    flow.on('error', () => {}); // a socket error after the check ends: the next call reports it
    opened(session);
    session.note('info', `connecting to ${target.host}:${target.port} (${target.security})`);
    try {
      await flow.connect();
    } catch (err) {
      const failure = classify(err, [secret]);
      const greeted = session.transcript.some((l) => l.direction === 'server');
      if (!greeted) {
        if (failure.kind === 'tls' && target.security === 'tls') step('connect', 'ok', `${target.host}:${target.port}`);
        throw failure;
      }
      step('connect', 'ok', `${target.host}:${target.port}`);
      if (failure.kind === 'tls' || failure.kind === 'unsupported' && /STARTTLS/.test(failure.message)) throw failure;
      step('tls', target.security === 'none' ? 'not_used' : 'ok');
      step('greeting', 'ok', session.transcript.find((l) => l.direction === 'server')?.text);
      step('capa', 'ok', capabilitiesOf(flow));
      throw failure;
    }
    step('connect', 'ok', `${target.host}:${target.port}`);
    step('tls', target.security === 'none' ? 'not_used' : 'ok', flow.secureConnection ? 'TLS established' : undefined);
    step('greeting', 'ok', session.transcript.find((l) => l.direction === 'server')?.text);
    step('capa', 'ok', capabilitiesOf(flow));
    return session;
  },
};

function capabilitiesOf(flow: ImapFlow): string {
  const caps = [...(flow.capabilities?.keys() ?? [])];
  return caps.length ? caps.join(', ') : '(none)';
}
