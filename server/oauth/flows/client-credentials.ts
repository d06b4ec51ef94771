/** Client credentials (app-only, seed 001): no person signs in; the device asks again before expiry. */
import type * as client from 'openid-client';
import { openid } from '../openid.js';
import { receivedTokens, type ReceivedTokens } from './tokens.js';

export async function requestAppToken(config: client.Configuration, scope: string, now: () => number): Promise<ReceivedTokens> {
  const response = await (await openid()).clientCredentialsGrant(config, { scope });
  // There is no refresh token in this grant, whatever a provider might send.
  return { ...receivedTokens(response, scope, now()), refreshToken: undefined };
}
