import { aadstsReason } from './aadsts.js';
import { openidIfLoaded } from './openid.js';
import type { Reason } from './token-state.js';

/**
 * How an error from the provider must be treated. Never confuse these: taking a network blip for a
 * dead token makes a person re-authorize for nothing; taking a revoked grant for a blip hides it.
 */
export type FailureClass =
  /** The provider refused for good (invalid_grant, invalid_client, other 4xx): the token is Invalid. */
  | 'rejected'
  /** The person declined or let the code run out. */
  | 'denied'
  | 'expired'
  /** 5xx, 429, time-outs, network errors: try again later, the token stays as it is. */
  | 'transient'
  | 'aborted';

export interface ClassifiedError extends Reason {
  kind: FailureClass;
}

const PERMANENT_CODES = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope', 'invalid_request', 'unsupported_grant_type']);

/** Provider text can be long or carry markup; keep it short and single-line for pages and logs. */
export function cleanDetail(text: unknown): string | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

export function classifyOAuthError(err: unknown): ClassifiedError {
  const client = openidIfLoaded();
  if (client && err instanceof client.ResponseBodyError) {
    const code = err.error;
    const detail = cleanDetail(err.error_description) ?? `HTTP ${err.status}`;
    if (code === 'access_denied' || code === 'authorization_declined') return { kind: 'denied', code: 'access_denied', detail };
    if (code === 'expired_token') return { kind: 'expired', code: 'expired_token', detail };
    if (err.status >= 500 || err.status === 429 || code === 'temporarily_unavailable' || code === 'slow_down') {
      return { kind: 'transient', code: 'unreachable', detail };
    }
    // Microsoft's own code says which of many causes hides behind invalid_grant or invalid_request.
    const aadsts = aadstsReason(err.cause);
    if (aadsts) return { kind: 'rejected', code: aadsts, detail };
    if (PERMANENT_CODES.has(code)) return { kind: 'rejected', code, detail };
    return { kind: 'rejected', code: 'provider_error', detail: `${code}: ${detail}` };
  }
  if (client && err instanceof client.ClientError) {
    if (err.code === 'OAUTH_ABORT') return { kind: 'aborted', code: 'aborted' };
    // The body was not what OAuth promises (an HTML error page, malformed JSON, a 5xx without JSON).
    const status = responseStatus(err);
    if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
      return { kind: 'rejected', code: 'provider_error', detail: `HTTP ${status}` };
    }
    return { kind: 'transient', code: 'unreachable', detail: cleanDetail(err.message) };
  }
  if (client && err instanceof client.WWWAuthenticateChallengeError) {
    if (err.cause.some((challenge) => challenge.parameters.error === 'insufficient_claims')) {
      return { kind: 'rejected', code: 'insufficient_claims', detail: cleanDetail(err.cause.map((c) => c.parameters.error_description).find(Boolean)) ?? `HTTP ${err.status}` };
    }
    return { kind: 'rejected', code: 'invalid_client', detail: `HTTP ${err.status}` };
  }
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) {
    return { kind: 'transient', code: 'unreachable', detail: 'timed out' };
  }
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return { kind: 'transient', code: 'unreachable', detail: cleanDetail(message + cause) };
}

/**
 * The claims a continuous access evaluation challenge asks for: a 401 whose WWW-Authenticate says
 * `error="insufficient_claims", claims="…"` (Microsoft sends the claims JSON base64-encoded; the
 * token request wants the JSON). Undefined for any other error.
 */
export function claimsChallenge(err: unknown): string | undefined {
  const client = openidIfLoaded();
  if (!client || !(err instanceof client.WWWAuthenticateChallengeError)) return undefined;
  for (const challenge of err.cause) {
    const { error, claims } = challenge.parameters;
    if (error !== 'insufficient_claims' || !claims) continue;
    const decoded = Buffer.from(claims, 'base64').toString('utf8');
    return /^\s*\{/.test(decoded) ? decoded : claims;
  }
  return undefined;
}

function responseStatus(err: Error): number | undefined {
  const cause = err.cause as { status?: unknown } | undefined;
  return typeof cause?.status === 'number' ? cause.status : undefined;
}
