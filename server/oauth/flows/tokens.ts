import type * as client from 'openid-client';

/** What a grant gave the device, before the token store seals it. */
export interface ReceivedTokens {
  accessToken: string;
  refreshToken: string | undefined;
  /** ms since epoch, or null when the provider did not say. */
  expiresAt: number | null;
  scope: string;
}

export function receivedTokens(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, askedScope: string, now: number): ReceivedTokens {
  const expiresIn = response.expiresIn();
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token,
    expiresAt: expiresIn === undefined ? null : now + expiresIn * 1000,
    scope: response.scope ?? askedScope,
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
