/**
 * What went wrong in a mailbox check (POP3 or IMAP), as a stable code the pages turn into a sentence and a remedy
 * (catalog keys `popCheck.problem.<code>` and `.remedy`; `pop_auth` is the token reason
 * `reason.pop_auth`). Also whether it is transient: the next scheduled check simply tries again.
 */
import { TokenTemporarilyUnavailableError, TokenUnavailableError } from '../oauth/token-store.js';
import { ImapFolderError } from './imap-client.js';
import { Pop3Error } from './pop3-client.js';

export const POP_PROBLEM_CODES = [
  'network', // connection refused, reset, DNS
  'timeout', // the server went silent
  'tls', // handshake or certificate failure
  'no_stls', // STARTTLS chosen, server does not offer STLS
  'protocol', // not a POP3 server, malformed answer
  'no_uidl', // the server has no UIDL: the device cannot tell new mail from seen mail
  'no_xoauth2', // OAuth 2.0 chosen, the server refuses AUTH XOAUTH2
  'temporary', // -ERR [SYS/TEMP], [IN-USE], [LOGIN-DELAY]: the server could not check now
  'login', // USER/PASS refused
  'pop_auth', // the token was refused twice (after one forced refresh): the token is now Invalid
  'imap_auth', // the same, by an IMAP server
  'no_folder', // IMAP: the folder the page names cannot be opened
  'token_unavailable', // no usable token (Not obtained, Awaiting authorization, Invalid)
  'token_unreachable', // the token needed renewing and the provider could not be reached
  'not_configured',
  'internal',
] as const;
export type PopProblemCode = (typeof POP_PROBLEM_CODES)[number];

export interface PopProblem {
  code: PopProblemCode;
  /** The server's line or the error's words (already masked); never a secret. */
  detail?: string | undefined;
  transient: boolean;
}

const TRANSIENT: ReadonlySet<PopProblemCode> = new Set(['network', 'timeout', 'temporary', 'token_unreachable']);

/** The token was refused by the POP3 (or IMAP) server after a forced refresh; the token store has been told. */
export class PopTokenRejectedError extends Error {
  constructor(
    readonly response: string,
    readonly code: 'pop_auth' | 'imap_auth' = 'pop_auth',
  ) {
    super(`the ${code === 'imap_auth' ? 'IMAP' : 'POP3'} server refused the renewed token: ${response}`);
  }
}

export function problem(code: PopProblemCode, detail?: string): PopProblem {
  return { code, detail: detail === undefined ? undefined : clean(detail), transient: TRANSIENT.has(code) };
}

/** Maps an error of a check or a connection test to its problem. */
export function diagnose(err: unknown, context: { authMethod: 'plain' | 'oauth2' }): PopProblem {
  if (err instanceof PopTokenRejectedError) return problem(err.code, err.response);
  if (err instanceof ImapFolderError) return problem('no_folder', err.response ?? err.message);
  if (err instanceof TokenUnavailableError) {
    const { state, reason } = err.status;
    return problem('token_unavailable', reason ? `${state}: ${reason.code}` : state);
  }
  if (err instanceof TokenTemporarilyUnavailableError) return problem('token_unreachable', err.reason.detail ?? err.reason.code);
  if (err instanceof Pop3Error) {
    const detail = err.response ?? err.message;
    switch (err.kind) {
      case 'network':
        return problem('network', err.message);
      case 'timeout':
        return problem('timeout', err.message);
      case 'tls':
        return problem('tls', err.message);
      case 'temporary':
        return problem('temporary', detail);
      case 'auth':
        // With OAuth 2.0 a refused token is retried once and then reported as pop_auth (above);
        // reaching here means a USER/PASS refusal.
        return problem(context.authMethod === 'oauth2' ? 'pop_auth' : 'login', detail);
      case 'unsupported':
        if (/STLS|STARTTLS/.test(err.message)) return problem('no_stls', err.message);
        return problem(context.authMethod === 'oauth2' ? 'no_xoauth2' : 'protocol', detail);
      case 'protocol':
        if (/^UIDL failed/.test(err.message)) return problem('no_uidl', detail);
        return problem('protocol', detail);
    }
  }
  return problem('internal', err instanceof Error ? err.message : String(err));
}

function clean(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}
