/** Renewing an access token with the refresh token (which the provider may rotate). */
import type * as client from 'openid-client';
import { openid } from '../openid.js';
import { receivedTokens, type ReceivedTokens } from './tokens.js';

/**
 * `claims` answers a continuous access evaluation challenge (a 401 `insufficient_claims`): the
 * provider wants the claims it named asked for, e.g. a fresher sign-in.
 */
export async function refreshAccessToken(config: client.Configuration, refreshToken: string, scope: string, options: { now: () => number; claims?: string | undefined }): Promise<ReceivedTokens> {
  const response = await (await openid()).refreshTokenGrant(config, refreshToken, options.claims ? { claims: options.claims } : undefined);
  const tokens = receivedTokens(response, scope, options.now());
  // A provider that does not rotate sends no new refresh token: the old one stays valid.
  return { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken };
}
