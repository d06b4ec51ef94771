import type * as OpenIdClient from 'openid-client';

export type { OpenIdClient };

let loaded: typeof OpenIdClient | undefined;

/**
 * openid-client, loaded on first use: a printer that never uses OAuth (or not since boot) does not
 * pay for it in memory or start-up time.
 */
export async function openid(): Promise<typeof OpenIdClient> {
  return (loaded ??= await import('openid-client'));
}

/** The module if something already loaded it; an error can only come from it if so. */
export function openidIfLoaded(): typeof OpenIdClient | undefined {
  return loaded;
}
