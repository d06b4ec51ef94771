/**
 * AADSTS codes in token errors: a token endpoint on loopback answers as Microsoft Entra does (the
 * JSON body with `error`, `error_description` and `error_codes`), the device's own client library
 * reads it, and each code becomes its own reason with its plain meaning and one remedy.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { en } from '../../../server/i18n/en.js';
import { AADSTS_REASON_CODES } from '../../../server/oauth/aadsts.js';
import { classifyOAuthError } from '../../../server/oauth/errors.js';
import { openid } from '../../../server/oauth/openid.js';

// Microsoft's answers, shortened (trace and correlation IDs left out).
const ANSWERS: Record<string, { status: number; error: string; description: string; meaning: RegExp }> = {
  '50173': { status: 400, error: 'invalid_grant', description: 'AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.', meaning: /password was changed or reset/ },
  '700082': { status: 400, error: 'invalid_grant', description: 'AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2026-01-01T00:00:00Z and was inactive for 90.00:00:00.', meaning: /not used for 90 days/ },
  '70043': { status: 400, error: 'invalid_grant', description: 'AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.', meaning: /Conditional Access policy requires signing in again/ },
  '65001': { status: 400, error: 'invalid_grant', description: "AADSTS65001: The user or administrator has not consented to use the application with ID '1b7e…' named 'MFP'.", meaning: /Nobody has consented/ },
  '700016': { status: 400, error: 'unauthorized_client', description: "AADSTS700016: Application with identifier '1b7e…' was not found in the directory 'Contoso'.", meaning: /does not know the Client ID/ },
  '90002': { status: 400, error: 'invalid_request', description: "AADSTS90002: Tenant 'contoso.invalid' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", meaning: /does not know the tenant/ },
};

describe('AADSTS codes in token errors', () => {
  let server: Server;
  let tokenEndpoint: string;
  let answer: { status: number; body: unknown } = { status: 500, body: {} };
  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    tokenEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/contoso/oauth2/v2.0/token`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function refreshError(): Promise<unknown> {
    const client = await openid();
    const config = new client.Configuration({ issuer: new URL(tokenEndpoint).origin, token_endpoint: tokenEndpoint }, 'mfp-client', undefined, client.None());
    client.allowInsecureRequests(config);
    try {
      await client.refreshTokenGrant(config, 'a-refresh-token');
    } catch (err) {
      return err;
    }
    assert.fail('the token endpoint answered with an error, the grant must fail');
  }

  for (const [code, a] of Object.entries(ANSWERS)) {
    test(`AADSTS${code} (${a.error}) → its own reason`, async () => {
      answer = { status: a.status, body: { error: a.error, error_description: a.description, error_codes: [Number(code)], timestamp: '2026-12-03 06:00:00Z' } };
      const classified = classifyOAuthError(await refreshError());
      assert.equal(classified.kind, 'rejected', 'a refusal for good, not a blip');
      assert.equal(classified.code, `aadsts_${code}`);
      assert.match(en[`reason.aadsts_${code}` as keyof typeof en], a.meaning);
      assert.ok(en[`reason.aadsts_${code}.remedy` as keyof typeof en]);
    });
  }

  test('the code in the description alone is enough (no error_codes)', async () => {
    answer = { status: 400, body: { error: 'invalid_grant', error_description: ANSWERS['700082']!.description } };
    assert.equal(classifyOAuthError(await refreshError()).code, 'aadsts_700082');
  });

  test('an unknown AADSTS code keeps the OAuth error; a 5xx stays transient whatever it says', async () => {
    answer = { status: 400, body: { error: 'invalid_grant', error_description: 'AADSTS54005: OAuth2 Authorization code was already redeemed.', error_codes: [54005] } };
    assert.equal(classifyOAuthError(await refreshError()).code, 'invalid_grant');
    answer = { status: 503, body: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred. Please try again.', error_codes: [90033] } };
    assert.equal(classifyOAuthError(await refreshError()).kind, 'transient');
  });

  test('every code has a message and a remedy, all different', () => {
    const remedies = new Set<string>();
    for (const code of AADSTS_REASON_CODES) {
      assert.ok(en[`reason.${code}` as keyof typeof en], code);
      remedies.add(en[`reason.${code}` as keyof typeof en]);
    }
    assert.equal(remedies.size, AADSTS_REASON_CODES.length);
  });
});
