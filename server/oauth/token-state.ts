/**
 * The token state machine: pure rules, no I/O.
 *
 * A credential (one per provider + account) holds facts; its displayed state is derived from them at a
 * given time, and events move the facts. The pages, the token store and the mail services all use this
 * module, so "what does Invalid mean" has exactly one answer.
 */

export const TOKEN_STATES = ['not_obtained', 'awaiting_authorization', 'obtained', 'invalid'] as const;
export type TokenState = (typeof TOKEN_STATES)[number];

/** Why something failed, as a stable code (for the message catalog) plus the provider's own words. */
export interface Reason {
  code: string;
  detail?: string | undefined;
}

/**
 * How the provider was asked: a code the person enters elsewhere (device code), the admin's browser
 * sent to the provider and back (authorization code), or a direct request (client credentials).
 */
export type PendingKind = 'device_code' | 'browser' | 'direct';

export interface PendingAuthorization {
  kind: PendingKind;
  /** Device code only. */
  userCode?: string | undefined;
  verificationUri?: string | undefined;
  verificationUriComplete?: string | undefined;
  expiresAt: number;
  intervalSeconds: number;
}

export interface TokenFacts {
  /** When this access token was received. */
  obtainedAt: number;
  accessExpiresAt: number | null;
  hasRefreshToken: boolean;
  /** Client credentials need no refresh token: the device simply asks again. */
  canReRequest: boolean;
  /** When the grant began (the sign-in, or the app's first request); renewals keep it. */
  grantAt: number;
  /** The last renewal (refresh, or asking again); null until the first. */
  renewedAt: number | null;
  renewals: number;
  /** When the provider said the refresh token ends (`refresh_token_expires_in`); null when it did not say. */
  refreshExpiresAt: number | null;
}

export interface Credential {
  scope: string;
  token: TokenFacts | null;
  invalid: Reason | null;
  pending: PendingAuthorization | null;
  /** The last authorization that ended without a token (denied, timed out, error). */
  failure: (Reason & { at: number }) | null;
  /** A transient problem (provider unreachable) while the token is still good. */
  warning: (Reason & { at: number }) | null;
}

export const EMPTY_CREDENTIAL: Credential = Object.freeze({
  scope: '',
  token: null,
  invalid: null,
  pending: null,
  failure: null,
  warning: null,
});

export type TokenEvent =
  | { type: 'authorization_started'; pending: PendingAuthorization; scope: string }
  | { type: 'tokens_received'; token: TokenFacts; scope: string }
  | { type: 'authorization_failed'; reason: Reason }
  | { type: 'token_rejected'; reason: Reason }
  | { type: 'provider_unreachable'; reason: Reason }
  | { type: 'deleted' };

export class IllegalTransition extends Error {
  constructor(
    readonly from: TokenState,
    readonly event: TokenEvent['type'],
  ) {
    super(`a token cannot go through "${event}" while it is ${from}`);
  }
}

export interface TokenStatus {
  state: TokenState;
  /** Why the token is Invalid, or why the last authorization ended without one. */
  reason: Reason | null;
  pending: PendingAuthorization | null;
  warning: (Reason & { at: number }) | null;
  accessExpiresAt: number | null;
}

/** The displayed state of a credential at time `now` (ms). */
export function statusOf(credential: Credential, now: number): TokenStatus {
  const base = { pending: null, warning: null, accessExpiresAt: credential.token?.accessExpiresAt ?? null };
  if (credential.pending) {
    if (credential.pending.expiresAt > now) {
      return { ...base, state: 'awaiting_authorization', reason: null, pending: credential.pending };
    }
    // A code that ran out while nobody was polling (device off) ends here rather than staying stuck.
    if (!credential.token) return { ...base, state: 'not_obtained', reason: { code: expiryReason(credential.pending.kind) } };
  }
  if (credential.token) {
    if (credential.invalid) return { ...base, state: 'invalid', reason: credential.invalid };
    if (!canStillBeUsed(credential.token, now)) return { ...base, state: 'invalid', reason: { code: 'token_expired' } };
    return { ...base, state: 'obtained', reason: null, warning: credential.warning };
  }
  return { ...base, state: 'not_obtained', reason: credential.failure };
}

function expiryReason(kind: PendingKind): string {
  return kind === 'device_code' ? 'expired_token' : 'authorization_timeout';
}

/** An access token that expired is only dead when nothing can renew it without the user. */
export function canStillBeUsed(token: TokenFacts, now: number): boolean {
  if (token.hasRefreshToken || token.canReRequest) return true;
  return token.accessExpiresAt === null || token.accessExpiresAt > now;
}

/** Whether the access token should be renewed now, leaving `marginMs` of life for a mail session. */
export function needsRenewal(token: TokenFacts, now: number, marginMs: number): boolean {
  return token.accessExpiresAt !== null && token.accessExpiresAt - marginMs <= now;
}

const ALLOWED: Record<TokenEvent['type'], readonly TokenState[]> = {
  // Get Token is offered when there is no usable token; an Invalid one is replaced.
  authorization_started: ['not_obtained', 'invalid'],
  // From obtained: a refresh or a client-credentials re-request.
  tokens_received: ['awaiting_authorization', 'obtained'],
  authorization_failed: ['awaiting_authorization'],
  token_rejected: ['obtained', 'invalid'],
  provider_unreachable: ['obtained'],
  deleted: ['not_obtained', 'awaiting_authorization', 'obtained', 'invalid'],
};

/**
 * An open authorization can always be ended by its outcome, even when its code has just run out
 * (the answer crossed the deadline, or the device was off): the outcome says what really happened.
 */
function allowed(credential: Credential, from: TokenState, event: TokenEvent['type']): boolean {
  if ((event === 'tokens_received' || event === 'authorization_failed') && credential.pending) return true;
  return ALLOWED[event].includes(from);
}

/** Applies an event; throws IllegalTransition when the event makes no sense in the current state. */
export function transition(credential: Credential, event: TokenEvent, now: number): Credential {
  const from = statusOf(credential, now).state;
  if (!allowed(credential, from, event.type)) throw new IllegalTransition(from, event.type);
  switch (event.type) {
    case 'authorization_started':
      return { ...EMPTY_CREDENTIAL, scope: event.scope, pending: event.pending };
    case 'tokens_received':
      return { ...EMPTY_CREDENTIAL, scope: event.scope, token: credential.token && !credential.pending ? renewed(credential.token, event.token, now) : event.token };
    case 'authorization_failed':
      return { ...EMPTY_CREDENTIAL, scope: credential.scope, failure: { ...event.reason, at: now } };
    case 'token_rejected':
      return { ...credential, invalid: event.reason, warning: null };
    case 'provider_unreachable':
      return { ...credential, warning: { ...event.reason, at: now } };
    case 'deleted':
      return EMPTY_CREDENTIAL;
  }
}

/** A renewal keeps the grant's history; a refresh token's end is kept unless the provider says anew. */
function renewed(before: TokenFacts, received: TokenFacts, now: number): TokenFacts {
  return {
    ...received,
    grantAt: before.grantAt,
    renewedAt: now,
    renewals: before.renewals + 1,
    refreshExpiresAt: received.refreshExpiresAt ?? before.refreshExpiresAt,
  };
}

// ---- keeping the grant alive, and forecasting its end ----------------------------------------------

/** What a provider's rules say about how long a grant lives (see provider-profiles.ts). */
export interface GrantRules {
  /** A refresh token unused this long dies at the provider (Microsoft 90 days, Google 6 months); null: no known limit. */
  inactivityLimitMs: number | null;
  /** A refresh token dies this long after the sign-in, used or not (Google apps in Testing: 7 days); null: none. */
  lifetimeMs: number | null;
}

export const NO_GRANT_RULES: GrantRules = Object.freeze({ inactivityLimitMs: null, lifetimeMs: null });

/** Renew when a third of the inactivity limit has passed: two more chances before the provider forgets the grant. */
export const RENEW_AFTER_FRACTION = 1 / 3;
/** ± this share of the renewal interval, so a fleet of printers set up on the same day does not renew in step. */
export const RENEWAL_JITTER_FRACTION = 0.1;
/** A renewal this late means renewals fail: the inactivity limit then becomes a forecast end. */
export const RENEWAL_OVERDUE_MS = 60 * 60_000;
/** A token needing a new sign-in within this is shown as a notice (home page, menu badge). */
export const SIGN_IN_NOTICE_MS = 7 * 24 * 60 * 60_000;

export interface GrantForecast {
  /** The last time the provider saw the refresh token used (sign-in or renewal). */
  lastUsedAt: number;
  /** When the device renews the grant by itself, mail or no mail; null when it need not. */
  nextRenewalAt: number | null;
  /** When a person will have to sign in again, where the provider's rules say; null when they do not. */
  signInBy: number | null;
}

/** A number in [-1, 1] fixed for a seed (a grant): the same jitter on every page and after a restart. */
export function jitterOf(seed: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) hash = Math.imul(hash ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  return (hash / 0xffffffff) * 2 - 1;
}

export function forecastOf(token: TokenFacts, rules: GrantRules, jitter: number, now: number): GrantForecast {
  const lastUsedAt = token.renewedAt ?? token.grantAt;
  const limit = rules.inactivityLimitMs;
  const nextRenewalAt = token.hasRefreshToken && limit !== null ? Math.round(lastUsedAt + limit * RENEW_AFTER_FRACTION * (1 + RENEWAL_JITTER_FRACTION * jitter)) : null;
  const ends: number[] = [];
  if (token.hasRefreshToken) {
    if (token.refreshExpiresAt !== null) ends.push(token.refreshExpiresAt);
    if (rules.lifetimeMs !== null) ends.push(token.grantAt + rules.lifetimeMs);
    if (limit !== null && nextRenewalAt !== null && now >= nextRenewalAt + RENEWAL_OVERDUE_MS) ends.push(lastUsedAt + limit);
  }
  return { lastUsedAt, nextRenewalAt, signInBy: ends.length ? Math.min(...ends) : null };
}

export function isState(value: string): value is TokenState {
  return (TOKEN_STATES as readonly string[]).includes(value);
}
