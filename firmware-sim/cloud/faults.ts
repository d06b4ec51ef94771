// The simulated cloud's faults: one vocabulary for the API, the control endpoint and the CLI.
import { SEND_AS_REPLY, type SmtpLabFault } from './smtp-server.js';
import type { PopFault } from './pop-fault-proxy.js';

export type FaultTarget = 'provider' | 'smtp' | 'pop';
export const FAULT_TARGETS: readonly FaultTarget[] = ['provider', 'smtp', 'pop'];

export type ProviderFault =
  /** answers of the token / device endpoints (oidc-provider never sees the request) */
  | { kind: 'slow_down' | 'server_error' | 'timeout' | 'malformed_json' | 'expired_token'; endpoint?: 'token' | 'device' | 'any'; count?: number }
  /** the person declines the next `count` (default 1) device codes at the provider's consent page */
  | { kind: 'access_denied'; count?: number }
  /** the account's grants are destroyed (seed 000): refresh → invalid_grant, old tokens inactive */
  | { kind: 'password_reset'; account?: string }
  /** the same as seen from the device: the next refresh is invalid_grant */
  | { kind: 'invalid_grant'; account?: string }
  /** Conditional Access sign-in frequency: refresh tokens from before now are refused (AADSTS70043) until a new sign-in */
  | { kind: 'sign_in_frequency' }
  /** continuous access evaluation: the next refresh gets a 401 insufficient_claims challenge; strict: answering it fails too */
  | { kind: 'insufficient_claims'; strict?: boolean }
  /** the provider's Date header is `ms` off the device's clock */
  | { kind: 'clock_skew'; ms: number };

export type CloudFault =
  | { target: 'provider'; fault: ProviderFault }
  | { target: 'smtp'; fault: Exclude<SmtpLabFault, null> }
  | { target: 'pop'; fault: Exclude<PopFault, null> };

/**
 * The SMTP replies of shared/seeds/DIGEST.md (Exchange Online's words), by enhanced code, and 454.
 * `fault smtp 5.7.139` is short for the whole line.
 */
export const SMTP_REPLIES: Record<string, string> = {
  '5.7.3': '535 5.7.3 Authentication unsuccessful',
  // One code, four causes, told apart only by Exchange Online's words. Plain 5.7.139 is the tenant's.
  '5.7.139': '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.',
  '5.7.139-tenant': '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.',
  '5.7.139-mailbox': '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.',
  '5.7.139-security-defaults': '535 5.7.139 Authentication unsuccessful, user is locked by your organization\'s security defaults policy. Contact your administrator.',
  '5.7.139-conditional-access': '535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.',
  // A password (basic authentication) on AUTH PLAIN/LOGIN once Microsoft retired it.
  '5.7.30': '550 5.7.30 Basic authentication is not supported for Client Submission.',
  // Sending as an address the signed-in mailbox has no Send As permission for (use with --on mail).
  '5.7.60': SEND_AS_REPLY,
  '5.7.127': '535 5.7.127 Authentication failed',
  '5.5.121': '501 5.5.121 Invalid XOAUTH2 argument: not base64',
  '5.5.122': '501 5.5.122 XOAUTH2 auth data is invalid',
  '5.5.123': '501 5.5.123 XOAUTH2 user address missing',
  '5.5.124': '501 5.5.124 XOAUTH2 user address is invalid',
  '5.5.125': '501 5.5.125 XOAUTH2 auth type missing',
  '5.5.126': '501 5.5.126 XOAUTH2 token missing',
  '5.5.127': '501 5.5.127 Token about to expire',
  '5.5.128': '501 5.5.128 Token expired',
  '5.5.129': '501 5.5.129 Invalid token: wrong permissions',
  '4.7.0': '454 4.7.0 Temporary authentication failure',
};

export class FaultSyntaxError extends Error {}

const PROVIDER_KINDS: Record<string, ProviderFault['kind']> = {
  slow_down: 'slow_down',
  server_error: 'server_error',
  '500': 'server_error',
  timeout: 'timeout',
  malformed_json: 'malformed_json',
  expired_token: 'expired_token',
  access_denied: 'access_denied',
  invalid_grant: 'invalid_grant',
  password_reset: 'password_reset',
  sign_in_frequency: 'sign_in_frequency',
  aadsts70043: 'sign_in_frequency',
  insufficient_claims: 'insufficient_claims',
  insufficient_claims_strict: 'insufficient_claims',
  cae: 'insufficient_claims',
  clock_skew: 'clock_skew',
};

export interface FaultOptions {
  count?: number;
  /** smtp reply: which step (auth, mail, rcpt, data); pop drop: connect or auth; provider: token, device, any */
  on?: string;
  /** smtp/pop slow: delay in ms */
  ms?: number;
  /** provider password_reset: the account's e-mail */
  account?: string;
}

/** `fault <target> <words…>` of the CLI → a fault. Throws FaultSyntaxError with a usable message. */
export function parseFault(target: string, spec: string, options: FaultOptions = {}): CloudFault {
  const count = options.count;
  const withCount = <T extends object>(f: T): T => (count !== undefined ? { ...f, count } : f);
  const word = spec.trim();
  switch (target) {
    case 'provider': {
      const kind = PROVIDER_KINDS[word.toLowerCase()];
      if (!kind) throw new FaultSyntaxError(`unknown provider fault "${word}"; one of: ${Object.keys(PROVIDER_KINDS).join(', ')}`);
      if (kind === 'password_reset' || kind === 'invalid_grant') {
        return { target, fault: options.account ? { kind, account: options.account } : { kind } };
      }
      if (kind === 'access_denied') return { target, fault: withCount({ kind }) };
      if (kind === 'sign_in_frequency') return { target, fault: { kind } };
      if (kind === 'insufficient_claims') return { target, fault: word.toLowerCase().endsWith('_strict') ? { kind, strict: true } : { kind } };
      if (kind === 'clock_skew') return { target, fault: { kind, ms: options.ms ?? 10 * 60_000 } };
      const endpoint = options.on ?? (kind === 'slow_down' || kind === 'expired_token' ? 'token' : 'token');
      if (endpoint !== 'token' && endpoint !== 'device' && endpoint !== 'any') throw new FaultSyntaxError(`--on must be token, device or any for a provider fault, not "${endpoint}"`);
      return { target, fault: withCount({ kind, endpoint }) };
    }
    case 'smtp': {
      const lower = word.toLowerCase();
      if (lower === 'send_as') return { target, fault: { kind: 'send_as' } };
      if (lower === 'drop' || lower === 'slow') {
        return { target, fault: withCount({ kind: lower, ...(options.ms !== undefined ? { ms: options.ms } : {}) }) };
      }
      let reply = SMTP_REPLIES[word] ?? (word === '454' ? SMTP_REPLIES['4.7.0'] : undefined);
      if (!reply && /^\d\.\d+\.\d+(-[a-z-]+)?$/.test(word)) throw new FaultSyntaxError(`no DIGEST reply for ${word}; known: ${Object.keys(SMTP_REPLIES).join(', ')}, or give the whole line ("535 5.7.139 …")`);
      reply ??= word;
      if (!/^[2-5]\d\d([ -]|$)/.test(reply)) throw new FaultSyntaxError(`an SMTP fault is a reply line starting with a 3-digit code ("535 5.7.139 …"), a DIGEST code (5.7.139), 454, send_as, drop or slow; not "${word}"`);
      const on = options.on ?? 'auth';
      if (!['auth', 'mail', 'rcpt', 'data'].includes(on)) throw new FaultSyntaxError(`--on must be auth, mail, rcpt or data for an SMTP reply, not "${on}"`);
      return { target, fault: withCount({ reply, on: on as 'auth' }) };
    }
    case 'pop': {
      const lower = word.toLowerCase().replace(/[[\]-]/g, '').replace('/', '_');
      const kinds: Record<string, 'auth' | 'sys_temp' | 'challenge' | 'drop' | 'slow'> = { auth: 'auth', err_auth: 'auth', sys_temp: 'sys_temp', systemp: 'sys_temp', temp: 'sys_temp', challenge: 'challenge', drop: 'drop', slow: 'slow' };
      const kind = kinds[lower];
      if (!kind) throw new FaultSyntaxError(`unknown POP fault "${word}"; one of: auth ([AUTH]), sys_temp ([SYS/TEMP]), challenge, drop, slow`);
      if (kind === 'drop') {
        const at = options.on ?? 'connect';
        if (at !== 'connect' && at !== 'auth') throw new FaultSyntaxError(`--on must be connect or auth for a POP drop, not "${at}"`);
        return { target, fault: withCount({ kind, at }) };
      }
      if (kind === 'slow') return { target, fault: withCount({ kind, ...(options.ms !== undefined ? { ms: options.ms } : {}) }) };
      return { target, fault: withCount({ kind }) };
    }
    default:
      throw new FaultSyntaxError(`unknown fault target "${target}"; one of: ${FAULT_TARGETS.join(', ')}`);
  }
}

/** One line for a transcript: "smtp: 535 5.7.139 … on AUTH (next 1)". */
export function describeFault(f: CloudFault): string {
  const n = 'count' in f.fault && f.fault.count !== undefined ? ` (next ${f.fault.count})` : ' (until cleared)';
  switch (f.target) {
    case 'provider': {
      const p = f.fault;
      if (p.kind === 'password_reset' || p.kind === 'invalid_grant') return `provider: password reset of ${p.account ?? 'the lab account'} (grants destroyed)`;
      if (p.kind === 'access_denied') return `provider: the person declines the next ${p.count ?? 1} device code(s)`;
      if (p.kind === 'sign_in_frequency') return 'provider: Conditional Access sign-in frequency: tokens from before now need a new sign-in (AADSTS70043)';
      if (p.kind === 'insufficient_claims') return `provider: continuous access evaluation challenges the next refresh (insufficient_claims)${p.strict ? ', and answering it fails too' : ''}`;
      if (p.kind === 'clock_skew') return `provider: its Date header is ${Math.round(p.ms / 60_000)} min ${p.ms >= 0 ? 'ahead of' : 'behind'} the lab's clock`;
      return `provider: ${p.kind} on ${p.endpoint ?? 'token'}${n}`;
    }
    case 'smtp': {
      const s = f.fault;
      if ('reply' in s) return `smtp: "${s.reply}" on ${(s.on ?? 'auth').toUpperCase()}${n}`;
      if (s.kind === 'send_as') return `smtp: MAIL FROM other than the signed-in mailbox → "${SEND_AS_REPLY}"${n}`;
      return `smtp: ${s.kind}${s.kind === 'slow' ? ` ${s.ms ?? 1000} ms` : ''}${n}`;
    }
    case 'pop': {
      const p = f.fault;
      if (p.kind === 'drop') return `pop: drop on ${p.at ?? 'connect'}${n}`;
      if (p.kind === 'slow') return `pop: slow ${p.ms ?? 1000} ms${n}`;
      return `pop: ${p.kind === 'auth' ? '-ERR [AUTH]' : p.kind === 'sys_temp' ? '-ERR [SYS/TEMP]' : 'XOAUTH2 challenge'} on AUTH${n}`;
    }
  }
}
