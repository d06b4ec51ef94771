/** Telling the provider a token is no longer wanted (RFC 7009), where it offers a revocation endpoint. */
import type * as client from 'openid-client';
import { openid } from '../openid.js';

export function supportsRevocation(config: client.Configuration): boolean {
  return Boolean(config.serverMetadata().revocation_endpoint);
}

/** Revokes the refresh token (which ends the grant) and the access token. */
export async function revokeTokens(config: client.Configuration, tokens: { refreshToken?: string | undefined; accessToken?: string | undefined }): Promise<void> {
  const client = await openid();
  if (tokens.refreshToken) await client.tokenRevocation(config, tokens.refreshToken, { token_type_hint: 'refresh_token' });
  if (tokens.accessToken) await client.tokenRevocation(config, tokens.accessToken, { token_type_hint: 'access_token' });
}
