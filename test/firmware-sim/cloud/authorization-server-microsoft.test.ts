// The Microsoft-shaped lab authorization server, used with openid-client the way the device uses
// Microsoft: endpoints built from a tenant, no discovery, a public client for the device flow, and an
// app-only confidential client for client credentials.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Configuration, None, ClientSecretPost, ClientSecretBasic, allowInsecureRequests,
  initiateDeviceAuthorization, pollDeviceAuthorizationGrant, refreshTokenGrant, clientCredentialsGrant,
  ResponseBodyError,
} from 'openid-client';
import type { ClientAuth, DeviceAuthorizationResponse } from 'openid-client';
import { startAuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import type { AuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';

const SMTP = 'https://outlook.office.com/SMTP.Send';
const POP = 'https://outlook.office.com/POP.AccessAsUser.All';
const APP = 'https://outlook.office365.com/.default';
const TENANT = 'contoso-tenant-id';

let as: AuthorizationServer;
let config: Configuration;

// As the device builds it: from the authority (the lab's base URL in place of
// https://login.microsoftonline.com) and the tenant.
function microsoftConfig(server: AuthorizationServer, clientId: string, auth: ClientAuth, tenant = TENANT): Configuration {
  const base = `${server.baseUrl}/${tenant}`;
  const c = new Configuration({
    issuer: `${base}/v2.0`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    token_endpoint: `${base}/oauth2/v2.0/token`,
  }, clientId, undefined, auth);
  allowInsecureRequests(c);
  return c;
}

before(async () => {
  as = await startAuthorizationServer({ shape: 'microsoft', deviceInterval: 1 });
  config = microsoftConfig(as, as.device.clientId, None());
});

after(async () => {
  await as?.close();
});

async function signIn(scope: string, c = config): Promise<{ tokens: Awaited<ReturnType<typeof pollDeviceAuthorizationGrant>>; da: DeviceAuthorizationResponse }> {
  const da = await initiateDeviceAuthorization(c, { scope });
  const poll = pollDeviceAuthorizationGrant(c, da, undefined, { signal: AbortSignal.timeout(10_000) });
  await as.approveDeviceCode(da.user_code);
  return { tokens: await poll, da };
}

function bodyError(err: unknown): string | undefined {
  return err instanceof ResponseBodyError ? err.error : undefined;
}

test('microsoft: the endpoints are the tenant paths the device builds from the authority', async () => {
  assert.equal(as.shape, 'microsoft');
  assert.equal(as.tenant, TENANT);
  assert.match(as.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  const base = `${as.baseUrl}/${TENANT}`;
  assert.equal(as.issuer, `${base}/v2.0`);
  assert.deepEqual(as.endpoints, {
    authorization: `${base}/oauth2/v2.0/authorize`,
    token: `${base}/oauth2/v2.0/token`,
    deviceAuthorization: `${base}/oauth2/v2.0/devicecode`,
    introspection: `${as.baseUrl}/token/introspection`,
  });
  assert.deepEqual(as.scopes, { smtp: SMTP, pop: POP });
  assert.equal(as.resource, 'https://outlook.office.com');

  // Discovery only under the tenant's issuer, as Microsoft publishes it; no revocation endpoint.
  const md = await (await fetch(`${base}/v2.0/.well-known/openid-configuration`)).json() as Record<string, unknown>;
  assert.equal(md.issuer, as.issuer);
  assert.equal(md.token_endpoint, as.endpoints.token);
  assert.equal(md.device_authorization_endpoint, as.endpoints.deviceAuthorization);
  assert.equal(md.authorization_endpoint, as.endpoints.authorization);
  assert.equal(md.jwks_uri, `${base}/discovery/v2.0/keys`);
  assert.equal(md.revocation_endpoint, undefined);
  assert.equal((await fetch(`${as.baseUrl}/.well-known/openid-configuration`)).status, 404);
  assert.equal((await fetch(`${as.baseUrl}/auth`)).status, 404, 'nothing at the generic paths');
});

test('microsoft: device flow, public client, Microsoft scopes → refresh token with offline_access; no verification_uri_complete, an interval and a message', async () => {
  const { tokens, da } = await signIn(`${SMTP} ${POP} offline_access`);
  assert.equal('verification_uri_complete' in da, false);
  assert.equal(da.interval, 1);
  assert.equal(da.expires_in, 900, "Microsoft's default");
  assert.equal(da.verification_uri, `${as.baseUrl}/devicelogin`);
  assert.match(da.user_code, /^[A-Z]{9}$/, 'no dash, like Microsoft');
  assert.equal(da.message, `To sign in, use a web browser to open the page ${da.verification_uri} and enter the code ${da.user_code} to authenticate.`);

  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
  assert.deepEqual(new Set(tokens.scope?.split(' ')), new Set([SMTP, POP]));
  const info = await as.introspect(tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.email, 'printer@lab.example');
  assert.equal(info.client_id, as.device.clientId);
  assert.deepEqual(new Set(info.scope?.split(' ')), new Set([SMTP, POP]));

  // Refresh rotates, as Microsoft does.
  const next = await refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(next.refresh_token);
  assert.notEqual(next.refresh_token, tokens.refresh_token);
  assert.deepEqual(new Set((await as.introspect(next.access_token)).scope?.split(' ')), new Set([SMTP, POP]));
});

test('microsoft: without offline_access there is no refresh token', async () => {
  const { tokens } = await signIn(SMTP);
  assert.equal(tokens.refresh_token, undefined);
  assert.equal((await as.introspect(tokens.access_token)).scope, SMTP);
});

test('microsoft: the device client may send its secret (post or basic); a wrong one is invalid_client', async () => {
  const post = microsoftConfig(as, as.device.clientId, ClientSecretPost(as.device.clientSecret));
  const { tokens } = await signIn(`${SMTP} offline_access`, post);
  assert.ok(tokens.refresh_token);
  const basic = microsoftConfig(as, as.device.clientId, ClientSecretBasic(as.device.clientSecret));
  assert.ok((await refreshTokenGrant(basic, tokens.refresh_token)).access_token);

  for (const auth of [ClientSecretPost('wrong'), ClientSecretBasic('wrong')]) {
    const bad = microsoftConfig(as, as.device.clientId, auth);
    await assert.rejects(initiateDeviceAuthorization(bad, { scope: SMTP }), (err: unknown) => bodyError(err) === 'invalid_client');
  }
});

test('microsoft: a declined sign-in polls as authorization_declined', async () => {
  const da = await initiateDeviceAuthorization(config, { scope: `${SMTP} ${POP} offline_access` });
  const poll = pollDeviceAuthorizationGrant(config, da, undefined, { signal: AbortSignal.timeout(10_000) });
  await as.denyDeviceCode(da.user_code);
  await assert.rejects(poll, (err: unknown) => bodyError(err) === 'authorization_declined');
});

test('microsoft: password reset → refresh is invalid_grant', async () => {
  const other = await startAuthorizationServer({ shape: 'microsoft' });
  try {
    const c = microsoftConfig(other, other.device.clientId, None());
    const da = await initiateDeviceAuthorization(c, { scope: `${SMTP} offline_access` });
    const poll = pollDeviceAuthorizationGrant(c, da, undefined, { signal: AbortSignal.timeout(10_000) });
    await other.approveDeviceCode(da.user_code);
    const tokens = await poll;
    assert.equal(await other.resetPassword('printer@lab.example'), 1);
    assert.equal((await other.introspect(tokens.access_token)).active, false);
    await assert.rejects(refreshTokenGrant(c, tokens.refresh_token!), (err: unknown) => bodyError(err) === 'invalid_grant');
  } finally {
    await other.close();
  }
});

test('microsoft app-only: client credentials with .default → no refresh token; introspection names the mailbox and the app roles', async () => {
  const app = as.appOnly!;
  assert.ok(app && app.clientId !== as.device.clientId);
  const c = microsoftConfig(as, app.clientId, ClientSecretPost(app.clientSecret));
  const t = await clientCredentialsGrant(c, { scope: APP });
  assert.equal(t.refresh_token, undefined);
  const info = await as.introspect(t.access_token);
  assert.equal(info.active, true);
  assert.equal(info.client_id, app.clientId);
  assert.equal(info.scope, APP);
  assert.equal(info.email, 'printer@lab.example', 'default: the first account');
  assert.deepEqual(info.roles, ['SMTP.SendAsApp', 'POP.AccessAsApp']);
  assert.equal(info.sub, undefined, 'no user');

  // basic works too
  assert.ok((await clientCredentialsGrant(microsoftConfig(as, app.clientId, ClientSecretBasic(app.clientSecret)), { scope: APP })).access_token);
});

test('microsoft app-only: wrong secret → invalid_client; a delegated scope → invalid_scope; the device client cannot', async () => {
  const app = as.appOnly!;
  await assert.rejects(clientCredentialsGrant(microsoftConfig(as, app.clientId, ClientSecretPost('nope')), { scope: APP }),
    (err: unknown) => bodyError(err) === 'invalid_client');
  const c = microsoftConfig(as, app.clientId, ClientSecretPost(app.clientSecret));
  await assert.rejects(clientCredentialsGrant(c, { scope: SMTP }), (err: unknown) => {
    assert.equal(bodyError(err), 'invalid_scope');
    assert.match((err as ResponseBodyError).error_description ?? '', /AADSTS1002012/);
    return true;
  });
  await assert.rejects(clientCredentialsGrant(c, { scope: `${APP} ${SMTP}` }), (err: unknown) => bodyError(err) === 'invalid_scope');
  // oidc-provider answers invalid_request ("… not allowed for this client"); RFC 6749 would say unauthorized_client
  const notAllowed = (err: unknown): boolean => ['invalid_request', 'unauthorized_client'].includes(bodyError(err) ?? '');
  await assert.rejects(clientCredentialsGrant(config, { scope: APP }), notAllowed);
  // the app-only client has no device flow
  await assert.rejects(initiateDeviceAuthorization(c, { scope: SMTP }), notAllowed);
});

test('microsoft: another tenant, a fixed app-only mailbox and secret', async () => {
  const other = await startAuthorizationServer({
    shape: 'microsoft', tenant: 'contoso.onmicrosoft.com',
    appOnlyMailbox: 'scanner@lab.example', appOnlyClientSecret: 'fixed-app-secret',
  });
  try {
    assert.equal(other.endpoints.token, `${other.baseUrl}/contoso.onmicrosoft.com/oauth2/v2.0/token`);
    assert.equal(other.appOnly?.clientSecret, 'fixed-app-secret');
    const c = microsoftConfig(other, other.appOnly!.clientId, ClientSecretPost('fixed-app-secret'), 'contoso.onmicrosoft.com');
    const t = await clientCredentialsGrant(c, { scope: APP });
    assert.equal((await other.introspect(t.access_token)).email, 'scanner@lab.example');
    // the default tenant's paths are not served
    assert.equal((await fetch(`${other.baseUrl}/${TENANT}/oauth2/v2.0/token`, { method: 'POST' })).status, 404);
  } finally {
    await other.close();
  }
  await assert.rejects(startAuthorizationServer({ shape: 'microsoft', tenant: '../x' }), /invalid tenant/);
});

test('microsoft: faults apply to the tenant token and devicecode paths', async () => {
  as.setFault({ kind: 'server_error', endpoint: 'device', count: 1 });
  await assert.rejects(initiateDeviceAuthorization(config, { scope: SMTP }));
  assert.ok((await initiateDeviceAuthorization(config, { scope: SMTP })).user_code);
  as.setFault({ kind: 'server_error', endpoint: 'token', count: 1 });
  const app = as.appOnly!;
  const c = microsoftConfig(as, app.clientId, ClientSecretPost(app.clientSecret));
  await assert.rejects(clientCredentialsGrant(c, { scope: APP }));
  assert.ok((await clientCredentialsGrant(c, { scope: APP })).access_token);
  as.setFault(null);
});
