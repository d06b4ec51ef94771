// The Google-shaped lab authorization server, used with openid-client the way the device uses Google:
// fixed endpoints (no discovery), authorization code + PKCE with access_type=offline and
// prompt=consent, the browser sent back to the device's callback, no device flow for mail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Configuration, ClientSecretPost, ClientSecretBasic, allowInsecureRequests, buildAuthorizationUrl,
  randomPKCECodeVerifier, calculatePKCECodeChallenge, randomState, authorizationCodeGrant,
  refreshTokenGrant, tokenRevocation, initiateDeviceAuthorization, ResponseBodyError, AuthorizationResponseError,
} from 'openid-client';
import { startAuthorizationServer, AuthorizationRedirectError } from '../../../firmware-sim/cloud/authorization-server.js';
import type { AuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';

const MAIL = 'https://mail.google.com/';

let as: AuthorizationServer;
let config: Configuration;
// Stands in for the device: its port is only known once it listens. It must never be called: the
// lab hands the redirect back instead of following it.
let device: Server;
let deviceHits = 0;
let callback: string;

before(async () => {
  device = createServer((_req, res) => { deviceHits++; res.end('device'); });
  await new Promise<void>((resolve) => device.listen(0, '127.0.0.1', resolve));
  callback = `http://127.0.0.1:${(device.address() as AddressInfo).port}/oauth/callback`;

  as = await startAuthorizationServer({ shape: 'google' });
  await as.addRedirectUri(callback);
  // As the device builds it: Google's fixed endpoints (here the lab's) and Google's issuer.
  config = new Configuration({
    issuer: 'https://accounts.google.com',
    authorization_endpoint: `${as.baseUrl}/o/oauth2/v2/auth`,
    token_endpoint: `${as.baseUrl}/token`,
    revocation_endpoint: `${as.baseUrl}/revoke`,
  }, as.device.clientId, undefined, ClientSecretPost(as.device.clientSecret));
  allowInsecureRequests(config);
});

after(async () => {
  await as?.close();
  await new Promise<void>((resolve) => device?.close(() => resolve()));
});

interface Started { url: URL; verifier: string; state: string }

async function authorizationUrl(extra: Record<string, string> = { access_type: 'offline', prompt: 'consent' }, pkce = true): Promise<Started> {
  const verifier = randomPKCECodeVerifier();
  const state = randomState();
  const params: Record<string, string> = { redirect_uri: callback, scope: MAIL, state, ...extra };
  if (pkce) {
    params.code_challenge = await calculatePKCECodeChallenge(verifier);
    params.code_challenge_method = 'S256';
  }
  return { url: buildAuthorizationUrl(config, params), verifier, state };
}

async function signIn(extra?: Record<string, string>) {
  const started = await authorizationUrl(extra);
  const back = await as.approveAuthorization(started.url.href);
  return authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: started.verifier, expectedState: started.state });
}

function bodyError(err: unknown): string | undefined {
  return err instanceof ResponseBodyError ? err.error : undefined;
}

test('google: Google\'s paths on the base URL, Google\'s issuer, no device flow, no generic paths', async () => {
  assert.equal(as.shape, 'google');
  assert.equal(as.issuer, 'https://accounts.google.com');
  assert.equal(as.tenant, undefined);
  assert.equal(as.appOnly, undefined);
  assert.deepEqual(as.endpoints, {
    authorization: `${as.baseUrl}/o/oauth2/v2/auth`,
    token: `${as.baseUrl}/token`,
    revocation: `${as.baseUrl}/revoke`,
    introspection: `${as.baseUrl}/token/introspection`,
  });
  assert.deepEqual(as.scopes, { smtp: MAIL, pop: MAIL });
  assert.equal((await fetch(`${as.baseUrl}/auth`)).status, 404);
  assert.equal((await fetch(`${as.baseUrl}/device/auth`, { method: 'POST' })).status, 404);
});

test('google: the device flow is refused with invalid_scope (Google refuses mail scopes there); no device-code grant', async () => {
  const withDevice = new Configuration({
    issuer: 'https://accounts.google.com',
    device_authorization_endpoint: `${as.baseUrl}/device/code`,
    token_endpoint: as.endpoints.token,
  }, as.device.clientId, undefined, ClientSecretPost(as.device.clientSecret));
  allowInsecureRequests(withDevice);
  await assert.rejects(initiateDeviceAuthorization(withDevice, { scope: MAIL }), (err: unknown) => bodyError(err) === 'invalid_scope');
  await assert.rejects(as.approveDeviceCode('BCDF-GHJK'), /no device flow/);
  const res = await fetch(as.endpoints.token, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x',
      client_id: as.device.clientId, client_secret: as.device.clientSecret,
    }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json() as { error: string }).error, 'unsupported_grant_type');
});

test('google: code + PKCE with access_type=offline and prompt=consent → a refresh token; the callback is handed back, not requested', async () => {
  const started = await authorizationUrl();
  const back = await as.approveAuthorization(started.url.href);
  const u = new URL(back);
  assert.equal(`${u.origin}${u.pathname}`, callback);
  assert.equal(u.searchParams.get('state'), started.state);
  assert.ok(u.searchParams.get('code'));
  assert.equal(u.searchParams.get('iss'), 'https://accounts.google.com');
  assert.equal(deviceHits, 0, 'the device callback was not requested');

  const tokens = await authorizationCodeGrant(config, u, { pkceCodeVerifier: started.verifier, expectedState: started.state });
  assert.ok(tokens.refresh_token);
  assert.equal(tokens.scope, MAIL);
  assert.equal(tokens.id_token, undefined);
  const info = await as.introspect(tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.scope, MAIL);
  assert.equal(info.email, 'printer@lab.example');

  // The code is single-use.
  await assert.rejects(authorizationCodeGrant(config, u, { pkceCodeVerifier: started.verifier, expectedState: started.state }),
    (err: unknown) => bodyError(err) === 'invalid_grant');
});

test('google: a refresh answers no new refresh token and the old one keeps working (no rotation); basic auth works too', async () => {
  const tokens = await signIn();
  const next = await refreshTokenGrant(config, tokens.refresh_token!);
  assert.ok(next.access_token);
  assert.equal(next.refresh_token, undefined);
  assert.equal((await as.introspect(next.access_token)).scope, MAIL);
  const basic = new Configuration(config.serverMetadata(), as.device.clientId, undefined, ClientSecretBasic(as.device.clientSecret));
  allowInsecureRequests(basic);
  assert.ok((await refreshTokenGrant(basic, tokens.refresh_token!)).access_token);
});

test('google: without access_type=offline no refresh token; with it but without prompt=consent neither (the lab is stricter than Google\'s first consent)', async () => {
  assert.equal((await signIn({ prompt: 'consent' })).refresh_token, undefined);
  assert.equal((await signIn({})).refresh_token, undefined);
  assert.equal((await signIn({ access_type: 'online', prompt: 'consent' })).refresh_token, undefined);
  assert.equal((await signIn({ access_type: 'offline' })).refresh_token, undefined);
});

test('google: an explicit offline_access scope or a bad access_type is refused on an error page', async () => {
  const started = await authorizationUrl({ access_type: 'offline', prompt: 'consent', scope: `${MAIL} offline_access` });
  await assert.rejects(as.approveAuthorization(started.url.href), /invalid_scope/);
  const bad = await authorizationUrl({ access_type: 'forever' });
  await assert.rejects(as.approveAuthorization(bad.url.href), /invalid_request.*access_type/);
});

test('google: without PKCE the browser is sent back with invalid_request, before any sign-in', async () => {
  const started = await authorizationUrl(undefined, false);
  await assert.rejects(as.approveAuthorization(started.url.href), (err: unknown) => {
    assert.ok(err instanceof AuthorizationRedirectError);
    assert.equal(err.error, 'invalid_request');
    assert.match(err.message, /requires PKCE.*before any sign-in/);
    const u = new URL(err.location);
    assert.equal(`${u.origin}${u.pathname}`, callback);
    assert.equal(u.searchParams.get('state'), started.state);
    return true;
  });
  // the plain method is not accepted either
  const plain = await authorizationUrl({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, false);
  await assert.rejects(as.approveAuthorization(plain.url.href), AuthorizationRedirectError);
});

test('google: a wrong verifier at the token endpoint is invalid_grant', async () => {
  const started = await authorizationUrl();
  const back = await as.approveAuthorization(started.url.href);
  await assert.rejects(authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: randomPKCECodeVerifier(), expectedState: started.state }),
    (err: unknown) => bodyError(err) === 'invalid_grant');
});

test('google: an unregistered redirect_uri stops on Google\'s redirect_uri_mismatch page', async () => {
  const started = await authorizationUrl({ access_type: 'offline', prompt: 'consent', redirect_uri: 'http://127.0.0.1:9/elsewhere' });
  await assert.rejects(as.approveAuthorization(started.url.href), /expected the login or consent page.*redirect_uri_mismatch/);
});

test('google: deny on the consent page → the callback URL carries error=access_denied and the state', async () => {
  const started = await authorizationUrl();
  const back = await as.denyAuthorization(started.url.href);
  const u = new URL(back);
  assert.equal(`${u.origin}${u.pathname}`, callback);
  assert.equal(u.searchParams.get('error'), 'access_denied');
  assert.equal(u.searchParams.get('state'), started.state);
  assert.equal(u.searchParams.get('code'), null);
  await assert.rejects(authorizationCodeGrant(config, u, { pkceCodeVerifier: started.verifier, expectedState: started.state }),
    (err: unknown) => err instanceof AuthorizationResponseError && err.error === 'access_denied');
  assert.equal(deviceHits, 0);
});

test('google: revocation at /revoke — the access token goes inactive; a revoked refresh token is invalid_grant', async () => {
  const tokens = await signIn();
  await tokenRevocation(config, tokens.access_token);
  assert.equal((await as.introspect(tokens.access_token)).active, false);
  await tokenRevocation(config, tokens.refresh_token!);
  await assert.rejects(refreshTokenGrant(config, tokens.refresh_token!), (err: unknown) => bodyError(err) === 'invalid_grant');
});

test('google: password reset ends the grant', async () => {
  const tokens = await signIn();
  assert.ok(await as.resetPassword('printer@lab.example') >= 1);
  assert.equal((await as.introspect(tokens.access_token)).active, false);
  await assert.rejects(refreshTokenGrant(config, tokens.refresh_token!), (err: unknown) => bodyError(err) === 'invalid_grant');
});

test('google: approveAuthorization reports a wrong password and a URL that is not the lab\'s', async () => {
  const started = await authorizationUrl();
  await assert.rejects(as.approveAuthorization(started.url.href, { login: 'printer@lab.example', password: 'wrong', email: 'printer@lab.example' }),
    /login as printer@lab\.example refused.*Wrong login or password/);
  await assert.rejects(as.approveAuthorization('https://accounts.google.com/o/oauth2/v2/auth?x=1'), /not this lab's authorization endpoint/);
  await assert.rejects(as.addRedirectUri('not a url'), /not an absolute URL/);
  await assert.rejects(as.addRedirectUri('http://127.0.0.1:1/cb#frag'), /without a fragment/);
});

test('google: a lab started with redirectUris needs no addRedirectUri', async () => {
  const other = await startAuthorizationServer({ shape: 'google', redirectUris: [callback] });
  try {
    const c = new Configuration({ issuer: other.issuer, authorization_endpoint: other.endpoints.authorization, token_endpoint: other.endpoints.token },
      other.device.clientId, undefined, ClientSecretPost(other.device.clientSecret));
    allowInsecureRequests(c);
    const verifier = randomPKCECodeVerifier();
    const url = buildAuthorizationUrl(c, {
      redirect_uri: callback, scope: MAIL, access_type: 'offline', prompt: 'consent',
      code_challenge: await calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const back = await other.approveAuthorization(url.href);
    const tokens = await authorizationCodeGrant(c, new URL(back), { pkceCodeVerifier: verifier });
    assert.ok(tokens.refresh_token);
  } finally {
    await other.close();
  }
});
