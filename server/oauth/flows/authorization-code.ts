/**
 * Authorization code with PKCE (Google; custom providers): the admin's browser is sent to the provider
 * and comes back to the device's callback. `state` and the PKCE verifier never leave the device.
 */
import type * as client from 'openid-client';
import { openid } from '../openid.js';
import { receivedTokens, type ReceivedTokens } from './tokens.js';

export interface BrowserAuthorization {
  url: string;
  state: string;
  codeVerifier: string;
}

export class AuthorizationCodeUnsupported extends Error {}

export async function beginAuthorization(
  config: client.Configuration,
  options: { scope: string; redirectUri: string; extraParams: Record<string, string> },
): Promise<BrowserAuthorization> {
  if (!config.serverMetadata().authorization_endpoint) throw new AuthorizationCodeUnsupported('no authorization_endpoint');
  const oidc = await openid();
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    ...options.extraParams,
    redirect_uri: options.redirectUri,
    scope: options.scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  });
  return { url: url.href, state, codeVerifier };
}

export async function completeAuthorization(
  config: client.Configuration,
  callbackUrl: URL,
  checks: { codeVerifier: string; state: string; redirectUri: string; scope: string; now: () => number },
): Promise<ReceivedTokens> {
  const response = await (await openid()).authorizationCodeGrant(
    config,
    callbackUrl,
    { pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state },
    // The redirect URI registered at the provider, not whatever host header the callback came in on.
    { redirect_uri: checks.redirectUri },
  );
  return receivedTokens(response, checks.scope, checks.now());
}
