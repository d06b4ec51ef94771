// The lab authorization server, exercised with openid-client exactly as the printer will use it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  discovery, ClientSecretPost, ClientSecretBasic, allowInsecureRequests,
  initiateDeviceAuthorization, pollDeviceAuthorizationGrant, refreshTokenGrant,
  clientCredentialsGrant, tokenRevocation, ResponseBodyError,
  Configuration, None, buildAuthorizationUrl, randomPKCECodeVerifier, calculatePKCECodeChallenge,
  randomState, authorizationCodeGrant,
} from 'openid-client';
import type { DeviceAuthorizationResponse } from 'openid-client';
import { startAuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import type { AuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';

let as: AuthorizationServer;
let config: Configuration;

before(async () => {
  as = await startAuthorizationServer({ deviceInterval: 1 });
  config = await discovery(new URL(as.issuer), as.device.clientId, undefined,
    ClientSecretPost(as.device.clientSecret), { execute: [allowInsecureRequests] });
});

after(async () => {
  await as?.close();
});

// Approve while the client polls, the way a person signs in on a phone meanwhile.
async function signIn(scope: string): Promise<{ tokens: Awaited<ReturnType<typeof pollDeviceAuthorizationGrant>>; da: DeviceAuthorizationResponse; ms: number }> {
  const da = await initiateDeviceAuthorization(config, { scope });
  const started = Date.now();
  const poll = pollDeviceAuthorizationGrant(config, da, undefined, { signal: AbortSignal.timeout(10_000) });
  await as.approveDeviceCode(da.user_code);
  const tokens = await poll;
  return { tokens, da, ms: Date.now() - started };
}

function bodyError(err: unknown): string | undefined {
  return err instanceof ResponseBodyError ? err.error : undefined;
}

test('discovery lists the device, introspection and revocation endpoints', () => {
  const md = config.serverMetadata();
  assert.equal(md.issuer, as.issuer);
  assert.equal(md.device_authorization_endpoint, `${as.issuer}/device/auth`);
  assert.equal(md.introspection_endpoint, `${as.issuer}/token/introspection`);
  assert.equal(md.revocation_endpoint, `${as.issuer}/token/revocation`);
});

test('device flow approved: opaque access token with both mail scopes, a refresh token, the interval honoured', async () => {
  const { tokens, da, ms } = await signIn('mail.smtp mail.pop offline_access');
  assert.equal(da.interval, 1);
  assert.equal(da.expires_in, 600);
  assert.match(da.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
  assert.equal(da.verification_uri, `${as.issuer}/device`);
  assert.ok(tokens.refresh_token, 'a refresh token is issued for offline_access');
  assert.equal(tokens.access_token.split('.').length, 1, 'opaque, not a JWT');
  assert.deepEqual(new Set(tokens.scope?.split(' ')), new Set(['mail.smtp', 'mail.pop']));
  // interval 1 s: the first poll waits ~1 s, then the approval is there (default would be 5 s)
  assert.ok(ms < 4000, `polling took ${ms} ms`);

  const info = await as.introspect(tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.email, 'printer@lab.example');
  assert.equal(info.client_id, as.device.clientId);
  assert.deepEqual(new Set(info.scope?.split(' ')), new Set(['mail.smtp', 'mail.pop']));
  assert.ok(info.exp && info.exp > Date.now() / 1000 + 3000);
});

test('one scope only, with openid: still a mail token and a refresh token (and an ID token)', async () => {
  const { tokens } = await signIn('openid mail.smtp offline_access');
  assert.ok(tokens.refresh_token);
  assert.ok(tokens.id_token);
  assert.equal(tokens.scope, 'mail.smtp');
  const info = await as.introspect(tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.scope, 'mail.smtp');
  assert.equal(info.email, 'printer@lab.example');
});

test('without offline_access there is no refresh token', async () => {
  const { tokens } = await signIn('mail.smtp');
  assert.equal(tokens.refresh_token, undefined);
});

test('deny on the consent page → the poll gets access_denied', async () => {
  const da = await initiateDeviceAuthorization(config, { scope: 'mail.smtp mail.pop offline_access' });
  const poll = pollDeviceAuthorizationGrant(config, da, undefined, { signal: AbortSignal.timeout(10_000) });
  await as.denyDeviceCode(da.user_code);
  await assert.rejects(poll, (err: unknown) => {
    assert.ok(err instanceof ResponseBodyError);
    assert.equal(err.error, 'access_denied');
    return true;
  });
});

test('refresh rotates the refresh token; the old one is then refused', async () => {
  const { tokens } = await signIn('mail.smtp mail.pop offline_access');
  const first = tokens.refresh_token!;
  const next = await refreshTokenGrant(config, first);
  assert.ok(next.refresh_token);
  assert.notEqual(next.refresh_token, first, 'rotated');
  assert.notEqual(next.access_token, tokens.access_token);
  assert.equal((await as.introspect(next.access_token)).active, true);
  const again = await refreshTokenGrant(config, next.refresh_token!);
  assert.ok(again.refresh_token);
  // Reusing a rotated-out refresh token is refused (and, by oidc-provider's rule, revokes the grant).
  await assert.rejects(refreshTokenGrant(config, first), (err: unknown) => bodyError(err) === 'invalid_grant');
});

test('client secret basic works for the device client too', async () => {
  const basic = await discovery(new URL(as.issuer), as.device.clientId, undefined,
    ClientSecretBasic(as.device.clientSecret), { execute: [allowInsecureRequests] });
  const t = await clientCredentialsGrant(basic, { scope: 'mail.smtp' });
  assert.ok(t.access_token);
});

test('password reset destroys the grants: refresh → invalid_grant, introspection → inactive', async () => {
  const { tokens } = await signIn('mail.smtp mail.pop offline_access');
  assert.equal((await as.introspect(tokens.access_token)).active, true);
  const destroyed = await as.resetPassword('printer@lab.example');
  assert.ok(destroyed >= 1, `destroyed ${destroyed}`);
  assert.deepEqual(await as.introspect(tokens.access_token), { active: false });
  await assert.rejects(refreshTokenGrant(config, tokens.refresh_token!), (err: unknown) => bodyError(err) === 'invalid_grant');
  assert.equal(await as.resetPassword('printer@lab.example'), 0);
});

test('client credentials: an app-only token for the mail resource, no refresh token, mailbox = the device client\'s', async () => {
  const t = await clientCredentialsGrant(config, { scope: 'mail.smtp mail.pop' });
  assert.equal(t.refresh_token, undefined);
  const info = await as.introspect(t.access_token);
  assert.equal(info.active, true);
  assert.equal(info.client_id, as.device.clientId);
  assert.equal(info.email, 'printer@lab.example');
  assert.deepEqual(new Set(info.scope?.split(' ')), new Set(['mail.smtp', 'mail.pop']));
});

test('revocation makes the access token inactive; revoking the refresh token ends the grant', async () => {
  const { tokens } = await signIn('mail.smtp mail.pop offline_access');
  await tokenRevocation(config, tokens.access_token);
  assert.equal((await as.introspect(tokens.access_token)).active, false);
  await tokenRevocation(config, tokens.refresh_token!);
  await assert.rejects(refreshTokenGrant(config, tokens.refresh_token!), (err: unknown) => bodyError(err) === 'invalid_grant');
});

test('a wrong password shows the login page again with an error', async () => {
  const da = await initiateDeviceAuthorization(config, { scope: 'mail.smtp' });
  await assert.rejects(
    as.approveDeviceCode(da.user_code, { login: 'printer@lab.example', password: 'wrong', email: 'printer@lab.example' }),
    /login as printer@lab\.example refused.*Wrong login or password/,
  );
});

test('a wrong user code is reported clearly', async () => {
  await assert.rejects(as.approveDeviceCode('BCDF-GHJK'), /expected the device-confirm page.*code you entered is incorrect/);
});

test('the pages carry the lab title and the xsrf field', async () => {
  const res = await fetch(`${as.issuer}/device`);
  const html = await res.text();
  assert.equal(res.status, 200);
  assert.match(html, /MFP lab — simulated identity provider/);
  assert.match(html, /name="xsrf"/);
});

test('faults: server_error, malformed_json and slow_down, each for `count` requests', async () => {
  as.setFault({ kind: 'server_error', endpoint: 'device', count: 1 });
  await assert.rejects(initiateDeviceAuthorization(config, { scope: 'mail.smtp' }));
  await initiateDeviceAuthorization(config, { scope: 'mail.smtp' }); // count used up

  as.setFault({ kind: 'malformed_json', endpoint: 'token', count: 1 });
  await assert.rejects(clientCredentialsGrant(config, { scope: 'mail.smtp' }));
  await clientCredentialsGrant(config, { scope: 'mail.smtp' });

  // slow_down answers device-code polls only; a refresh passes through.
  as.setFault({ kind: 'slow_down', endpoint: 'token' });
  const cc = await clientCredentialsGrant(config, { scope: 'mail.smtp' });
  assert.ok(cc.access_token);
  const da = await initiateDeviceAuthorization(config, { scope: 'mail.smtp' });
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code,
      client_id: as.device.clientId, client_secret: as.device.clientSecret,
    }),
  });
  assert.equal(res.status, 400);
  assert.deepEqual((await res.json() as { error: string }).error, 'slow_down');
  as.setFault(null);
});

test('timeout fault: the request hangs until the client gives up', async () => {
  as.setFault({ kind: 'timeout', endpoint: 'token', count: 1 });
  const started = Date.now();
  await assert.rejects(fetch(`${as.issuer}/token`, { method: 'POST', signal: AbortSignal.timeout(300) }));
  assert.ok(Date.now() - started >= 250);
  as.setFault(null);
});

test('close() returns even while a timeout fault holds a request', async () => {
  const other = await startAuthorizationServer();
  other.setFault({ kind: 'timeout', endpoint: 'any' });
  const pending = fetch(`${other.issuer}/token`, { method: 'POST' }).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 50));
  await other.close();
  assert.ok((await pending) instanceof Error);
});

test('with redirect URIs the device client may start an authorization-code sign-in (the lab login page)', async () => {
  const other = await startAuthorizationServer({ redirectUris: ['http://127.0.0.1:9/oauth/callback'] });
  try {
    const url = new URL(`${other.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: other.device.clientId, response_type: 'code', scope: 'mail.smtp offline_access',
      redirect_uri: 'http://127.0.0.1:9/oauth/callback', prompt: 'consent',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'x',
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.match(res.headers.get('location') ?? '', /\/interaction\//);
  } finally {
    await other.close();
  }
});

test('generic shape: shape, baseUrl and endpoints describe the lab as before', () => {
  assert.equal(as.shape, 'generic');
  assert.equal(as.baseUrl, as.issuer);
  assert.deepEqual(as.endpoints, {
    authorization: `${as.issuer}/auth`,
    token: `${as.issuer}/token`,
    deviceAuthorization: `${as.issuer}/device/auth`,
    revocation: `${as.issuer}/token/revocation`,
    introspection: `${as.issuer}/token/introspection`,
  });
  assert.deepEqual(as.scopes, { smtp: 'mail.smtp', pop: 'mail.pop' });
  assert.equal(as.resource, 'urn:mfp-lab:mail');
  assert.equal(as.appOnly, undefined);
  assert.equal(as.tenant, undefined);
});

test('generic shape: addRedirectUri at run time enables the authorization-code grant; approve and deny as a browser', async () => {
  const other = await startAuthorizationServer();
  try {
    const callback = 'http://127.0.0.1:9/oauth/callback';
    const c = await discovery(new URL(other.issuer), other.device.clientId, undefined,
      ClientSecretPost(other.device.clientSecret), { execute: [allowInsecureRequests] });
    const verifier = randomPKCECodeVerifier();
    const state = randomState();
    const url = buildAuthorizationUrl(c, {
      redirect_uri: callback, scope: 'mail.smtp offline_access', prompt: 'consent', state,
      code_challenge: await calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    // not registered yet: the lab's error page, not a redirect
    await assert.rejects(other.approveAuthorization(url.href), /invalid_redirect_uri/);
    await other.addRedirectUri(callback);
    const back = await other.approveAuthorization(url.href);
    assert.ok(back.startsWith(`${callback}?`));
    const tokens = await authorizationCodeGrant(c, new URL(back), { pkceCodeVerifier: verifier, expectedState: state });
    assert.ok(tokens.refresh_token);
    assert.equal((await other.introspect(tokens.access_token)).scope, 'mail.smtp');

    const denied = new URL(await other.denyAuthorization(url.href));
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('state'), state);
    // approve/deny refuse the other outcome clearly
    await assert.rejects(other.approveAuthorization(url.href, { login: 'nobody', password: 'x', email: 'x@x' }), /login as nobody refused/);
  } finally {
    await other.close();
  }
});

test('microsoft shape: authorization code at the tenant path; offline_access alone gives a refresh token, as at Microsoft', async () => {
  const callback = 'http://127.0.0.1:9/oauth/callback';
  const ms = await startAuthorizationServer({ shape: 'microsoft', redirectUris: [callback] });
  try {
    const c = new Configuration({ issuer: ms.issuer, authorization_endpoint: ms.endpoints.authorization, token_endpoint: ms.endpoints.token },
      ms.device.clientId, undefined, None());
    allowInsecureRequests(c);
    const verifier = randomPKCECodeVerifier();
    const url = buildAuthorizationUrl(c, {
      redirect_uri: callback, scope: `${ms.scopes.smtp} ${ms.scopes.pop} offline_access`, state: 's1',
      code_challenge: await calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    assert.ok(url.href.startsWith(`${ms.baseUrl}/contoso-tenant-id/oauth2/v2.0/authorize?`));
    const back = await ms.approveAuthorization(url.href);
    const tokens = await authorizationCodeGrant(c, new URL(back), { pkceCodeVerifier: verifier, expectedState: 's1' });
    assert.ok(tokens.refresh_token);
    assert.deepEqual(new Set(tokens.scope?.split(' ')), new Set([ms.scopes.smtp, ms.scopes.pop]));
    // a wrong redirect URI: Microsoft's AADSTS50011 page
    const wrong = buildAuthorizationUrl(c, { redirect_uri: 'http://127.0.0.1:9/other', scope: ms.scopes.smtp,
      code_challenge: await calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    await assert.rejects(ms.approveAuthorization(wrong.href), /AADSTS50011/);
  } finally {
    await ms.close();
  }
});
