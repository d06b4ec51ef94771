/** Renewing an access token with the refresh token (which the provider may rotate). */
import type * as client from 'openid-client';
import { openid } from '../openid.js';
import { receivedTokens, type ReceivedTokens } from './tokens.js';

export async function refreshAccessToken(config: client.Configuration, refreshToken: string, scope: string): Promise<ReceivedTokens> {
  const response = await (await openid()).refreshTokenGrant(config, refreshToken);
  const tokens = receivedTokens(response, scope, Date.now());
  // A provider that does not rotate sends no new refresh token: the old one stays valid.
  return { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken };
}
