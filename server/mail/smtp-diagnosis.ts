/**
 * What an SMTP failure means: a server reply, a network error or a token store error becomes a stable
 * code for the message catalog (`reason.<code>` and `reason.<code>.remedy`) and what the sender does
 * with the job. Pure: no I/O.
 *
 * The XOAUTH2 codes Microsoft documents (shared/seeds/DIGEST.md) each get their own code
 * `smtp_<enhanced status>`, e.g. `535 5.7.139` → `smtp_5.7.139` ("SMTP AUTH is disabled …").
 */
import { TokenTemporarilyUnavailableError, TokenUnavailableError } from '../oauth/token-store.js';

export type Disposition =
  /** The server refused the token (5xx to AUTH XOAUTH2): one forced refresh and retry, then Invalid. */
  | 'token_rejected'
  /** The token store has no usable token (Not obtained, Awaiting, Invalid): hold the outbox. */
  | 'token_unavailable'
  /** Network, 4xx replies, provider unreachable: retry later with backoff. */
  | 'transient'
  /** The SMTP settings do not work (password refused, TLS, authentication required): hold until they change. */
  | 'settings'
  /** The server refused this message for good (5xx to MAIL FROM, RCPT TO or DATA): the job fails. */
  | 'failed';

export interface Diagnosis {
  disposition: Disposition;
  /** Catalog code: `reason.<code>` and `reason.<code>.remedy` exist for each one. */
  code: string;
  /** The server's reply (or the error's words), one line, secrets masked. */
  detail?: string | undefined;
  responseCode?: number | undefined;
  enhanced?: string | undefined;
}

/** Enhanced status codes Microsoft documents for XOAUTH2 (DIGEST.md), each with its own message. */
export const XOAUTH2_REPLY_CODES = ['5.5.121', '5.5.122', '5.5.123', '5.5.124', '5.5.125', '5.5.126', '5.5.127', '5.5.128', '5.5.129', '5.7.3', '5.7.127', '5.7.139'] as const;

export interface DocumentedReply {
  /** The reply's enhanced status code. */
  enhanced: string;
  /** Words of the reply that tell one cause of this code from the others (Exchange Online's texts). */
  words?: RegExp;
  /** Catalog code: its message names the cause, its remedy the one thing to do. */
  code: string;
}

/**
 * The rejections Microsoft documents, as data: first match wins. One code, 535 5.7.139, hides four
 * causes that Exchange Online tells apart only by its words; a 5.7.139 with other words keeps the
 * general message. The texts the lab answers with are in firmware-sim/cloud/faults.ts.
 */
export const DOCUMENTED_REPLIES: readonly DocumentedReply[] = [
  { enhanced: '5.7.139', words: /SmtpClientAuthentication is disabled for the Tenant/i, code: 'smtp_5.7.139_tenant' },
  { enhanced: '5.7.139', words: /SmtpClientAuthentication is disabled for the Mailbox/i, code: 'smtp_5.7.139_mailbox' },
  { enhanced: '5.7.139', words: /security defaults/i, code: 'smtp_5.7.139_security_defaults' },
  // What Exchange Online says when a sign-in policy (Conditional Access) blocks the sign-in.
  { enhanced: '5.7.139', words: /did not meet the criteria/i, code: 'smtp_5.7.139_conditional_access' },
  ...XOAUTH2_REPLY_CODES.map((enhanced) => ({ enhanced, code: `smtp_${enhanced}` })),
  // Basic authentication (a password) refused for client submission: the way out is OAuth 2.0.
  { enhanced: '5.7.30', code: 'smtp_5.7.30' },
  // The From address is not one the signed-in mailbox may send as.
  { enhanced: '5.7.60', code: 'smtp_5.7.60' },
];

/** The documented rejection a reply is, if any. */
export function documentedReply(reply: string): DocumentedReply | undefined {
  const enhanced = enhancedCodeOf(reply);
  return enhanced ? DOCUMENTED_REPLIES.find((rule) => rule.enhanced === enhanced && (!rule.words || rule.words.test(reply))) : undefined;
}

/** Every code diagnose() can answer with; the catalog has a message and a remedy for each (tested). */
export const SMTP_REASON_CODES = [
  ...new Set(DOCUMENTED_REPLIES.map((rule) => rule.code)),
  'smtp_token_rejected',
  'smtp_auth_failed',
  'smtp_auth_required',
  'smtp_auth_unsupported',
  'smtp_sender_rejected',
  'smtp_recipient_rejected',
  'smtp_message_rejected',
  'smtp_too_large',
  'smtp_refused',
  'smtp_temporary',
  'smtp_unreachable',
  'smtp_tls',
  'smtp_not_configured',
  'smtp_gave_up',
  'token_unavailable',
  'unreachable',
] as const;

/** The Sender Address is not the signed-in mailbox (5.7.60): the page offers to set it to the account. */
export const WRONG_SENDER_CODE = 'smtp_5.7.60';

interface SmtpErrorLike {
  code?: unknown;
  command?: unknown;
  response?: unknown;
  responseCode?: unknown;
  message?: unknown;
  cause?: unknown;
}

const ENHANCED = /^\s*([2-5]\d\d)[ -]([245]\.\d{1,3}\.\d{1,3})(?=\s|$)/;

/** The enhanced status code of a reply (`535 5.7.139 …` → `5.7.139`). */
export function enhancedCodeOf(reply: string): string | undefined {
  return ENHANCED.exec(reply)?.[2];
}

// Long runs of base64/JWT characters: an XOAUTH2 string or a token that found its way into a text.
const SECRET_LIKE = /[A-Za-z0-9+/_-]{32,}={0,2}(?:\.[A-Za-z0-9_-]{8,}){0,2}/g;

/** Masks anything that looks like a token or an XOAUTH2 string, and the given secret values. */
export function maskSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret && secret.length >= 4) out = out.split(secret).join('***');
  return out.replace(SECRET_LIKE, '***');
}

/** One line, at most 300 characters, secrets masked: safe for a page, a log line or the database. */
export function cleanReply(text: unknown, secrets: readonly (string | undefined)[] = []): string | undefined {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  const flat = maskSecrets(text.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/\s+/g, ' ').trim(), secrets);
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

function findInChain<T>(err: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    if (current instanceof type) return current;
    current = (current as SmtpErrorLike).cause;
  }
  return undefined;
}

const NETWORK_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPROTOCOL']);

/**
 * Reads a failure of nodemailer (or of the token store reached through nodemailer's
 * oauth2_provision_cb: nodemailer rewrites its `code` to EAUTH but keeps the object).
 */
export function diagnose(err: unknown, secrets: readonly (string | undefined)[] = []): Diagnosis {
  const unavailable = findInChain(err, TokenUnavailableError);
  if (unavailable) {
    const status = unavailable.status;
    return { disposition: 'token_unavailable', code: 'token_unavailable', detail: status.reason ? `${status.state}: ${status.reason.code}` : status.state };
  }
  const temporarily = findInChain(err, TokenTemporarilyUnavailableError);
  if (temporarily) return { disposition: 'transient', code: 'unreachable', detail: cleanReply(temporarily.reason.detail ?? temporarily.reason.code, secrets) };

  const e = (err ?? {}) as SmtpErrorLike;
  const command = typeof e.command === 'string' ? e.command.toUpperCase() : '';
  const response = typeof e.response === 'string' ? e.response : '';
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : Number(/^\s*([2-5]\d\d)/.exec(response)?.[1]) || undefined;
  const errorCode = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const detail = cleanReply(response || message, secrets);
  const enhanced = response ? enhancedCodeOf(response) : undefined;
  const base = { detail, responseCode, enhanced };

  if (responseCode !== undefined) {
    if (responseCode >= 400 && responseCode < 500) return { ...base, disposition: 'transient', code: 'smtp_temporary' };
    if (responseCode >= 500) {
      const known = response ? documentedReply(response)?.code : undefined;
      if (command.startsWith('AUTH') || errorCode === 'EAUTH') {
        if (command === 'AUTH XOAUTH2') return { ...base, disposition: 'token_rejected', code: known ?? 'smtp_token_rejected' };
        return { ...base, disposition: 'settings', code: known ?? 'smtp_auth_failed' };
      }
      if (responseCode === 530) return { ...base, disposition: 'settings', code: 'smtp_auth_required' };
      // Exchange Online refuses a From it may not send as at MAIL FROM or at the end of DATA.
      if (known === WRONG_SENDER_CODE) return { ...base, disposition: 'failed', code: known };
      if (command === 'MAIL FROM') return { ...base, disposition: 'failed', code: 'smtp_sender_rejected' };
      if (command === 'RCPT TO') return { ...base, disposition: 'failed', code: 'smtp_recipient_rejected' };
      if (responseCode === 552 || enhanced === '5.3.4') return { ...base, disposition: 'failed', code: 'smtp_too_large' };
      if (command === 'DATA' || errorCode === 'EMESSAGE') return { ...base, disposition: 'failed', code: 'smtp_message_rejected' };
      return { ...base, disposition: 'settings', code: 'smtp_refused' };
    }
  }
  if (errorCode === 'ETLS' || /\b(TLS|SSL|certificate|STARTTLS)\b/i.test(message)) return { ...base, disposition: 'settings', code: 'smtp_tls' };
  if (errorCode === 'EAUTH' || errorCode === 'ENOAUTH') return { ...base, disposition: 'settings', code: 'smtp_auth_unsupported' };
  if (NETWORK_CODES.has(errorCode) || errorCode === '') return { ...base, disposition: 'transient', code: 'smtp_unreachable' };
  return { ...base, disposition: 'transient', code: 'smtp_unreachable' };
}
