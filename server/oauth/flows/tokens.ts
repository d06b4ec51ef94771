import type * as client from 'openid-client';

/** What a grant gave the device, before the token store seals it. */
export interface ReceivedTokens {
  accessToken: string;
  refreshToken: string | undefined;
  /** ms since epoch, or null when the provider did not say. */
  expiresAt: number | null;
  scope: string;
  /** ms since epoch: when the refresh token ends, if the provider says (Google's `refresh_token_expires_in`). */
  refreshExpiresAt: number | null;
}

export function receivedTokens(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, askedScope: string, now: number): ReceivedTokens {
  const expiresIn = response.expiresIn();
  const refreshExpiresIn = Number(response.refresh_token_expires_in);
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token,
    expiresAt: expiresIn === undefined ? null : now + expiresIn * 1000,
    scope: response.scope ?? askedScope,
    refreshExpiresAt: response.refresh_token && Number.isFinite(refreshExpiresIn) && refreshExpiresIn > 0 ? now + refreshExpiresIn * 1000 : null,
  };
}

/** Resolves after `ms`, or rejects when the signal aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
