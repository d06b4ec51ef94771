/**
 * Every provider type end to end against oidc-provider shaped like the real provider (tenant paths
 * for Microsoft, Google's endpoints without a device flow), through the device's own pages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAuthorizationServer, type AuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import { csrfTokenOf, PAGE_PATHS, textOf, tokenLabelOf, type PanelClient } from '../../../firmware-sim/panel-client.js';
import { bootDevice, type TestDevice } from '../../helpers/device.js';

async function useProvider(panel: PanelClient, fields: Record<string, string>, account: string, pop = true): Promise<string> {
  const providerId = await panel.addProvider(fields);
  await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: '2525', timeout: '20', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account });
  if (pop) await panel.saveSettings('pop', { server: '127.0.0.1', port: '1110', checkInterval: '60', ssl: 'none', authMethod: 'oauth2', providerId, account });
  return providerId;
}

function tokensOf(device: TestDevice, providerId: string, account: string) {
  const { db, box } = device.device.services;
  const row = db.prepare('SELECT access_token_enc, refresh_token_enc FROM credentials WHERE provider_id = ? AND account = ?').get(Number(providerId), account) as
    | { access_token_enc: string | null; refresh_token_enc: string | null }
    | undefined;
  return { access: box.openOptional(row?.access_token_enc), refresh: box.openOptional(row?.refresh_token_enc) };
}

describe('Microsoft 365 (delegated): device code at the tenant\'s endpoints', () => {
  let lab: AuthorizationServer;
  let device: TestDevice;
  before(async () => {
    lab = await startAuthorizationServer({ shape: 'microsoft', deviceInterval: 1 });
    device = await bootDevice(undefined, { MFP_LAB_MICROSOFT_AUTHORITY: lab.baseUrl });
  });
  after(async () => {
    await device.close();
    await lab.close();
  });

  test('Get Token → code and link (no verification_uri_complete) → approve → Obtained; refresh rotates and is saved', async () => {
    const panel = await device.panel();
    const account = lab.accounts[0]!.email;
    const providerId = await useProvider(panel, { name: 'Contoso 365', type: 'microsoft365', tenant: lab.tenant!, clientId: lab.device.clientId }, account);
    const page = await panel.getToken('smtp');
    assert.equal(tokenLabelOf(page.html), 'Awaiting authorization');
    const { pending } = await panel.tokenStatus('smtp');
    assert.equal(pending?.verificationUriComplete, null, 'Microsoft sends no verification_uri_complete');
    assert.ok(page.html.includes(`href="${pending!.verificationUri}"`), 'the plain verification link is shown');
    assert.ok(textOf(page.html).includes(pending!.userCode));

    await lab.approveDeviceCode(pending!.userCode);
    await panel.waitForState('pop', ['obtained'], 15_000);
    const first = tokensOf(device, providerId, account);
    const granted = await lab.introspect(first.access!);
    assert.deepEqual(granted.scope?.split(' ').sort(), ['https://outlook.office.com/POP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send']);
    assert.ok(first.refresh, 'offline_access gave a refresh token');

    const key = { providerId: Number(providerId), account };
    const renewed = await device.device.services.tokens.getAccessToken(key, { forceRefresh: true });
    assert.notEqual(renewed, first.access);
    const second = tokensOf(device, providerId, account);
    assert.equal(second.access, renewed);
    assert.notEqual(second.refresh, first.refresh, 'the rotated refresh token was saved');
    assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.smtp)).html), 'Obtained');
  });
});

describe('Microsoft 365 app-only: client credentials (seed 001)', () => {
  let lab: AuthorizationServer;
  let device: TestDevice;
  before(async () => {
    lab = await startAuthorizationServer({ shape: 'microsoft', accessTokenTtl: 60, appOnlyMailbox: 'scanner@contoso.example' });
    device = await bootDevice(undefined, { MFP_LAB_MICROSOFT_AUTHORITY: lab.baseUrl });
  });
  after(async () => {
    await device.close();
    await lab.close();
  });

  test('Get Token goes straight to Obtained; there is no refresh token; the store asks again before expiry', async () => {
    const panel = await device.panel();
    const bad = await panel.submit('/settings/network/oauth-servers', { name: 'App', type: 'microsoft365-app', tenant: 'organizations', clientId: lab.appOnly!.clientId, clientSecret: lab.appOnly!.clientSecret }, '/settings/network/oauth-servers/new');
    assert.match(textOf(bad.html), /App-only needs the tenant itself/);
    const providerId = await useProvider(panel, { name: 'Contoso app-only', type: 'microsoft365-app', tenant: lab.tenant!, clientId: lab.appOnly!.clientId, clientSecret: lab.appOnly!.clientSecret }, 'scanner@contoso.example');
    const page = await panel.getToken('smtp');
    assert.equal(tokenLabelOf(page.html), 'Obtained');
    assert.match(textOf(page.html), /The token has been obtained/);
    const first = tokensOf(device, providerId, 'scanner@contoso.example');
    assert.equal(first.refresh, undefined);
    const introspection = await lab.introspect(first.access!);
    assert.equal(introspection.email, 'scanner@contoso.example');
    assert.equal(introspection.scope, 'https://outlook.office365.com/.default');

    // 60 s tokens are inside the store's renewal margin: every use asks again, concurrent callers once.
    const key = { providerId: Number(providerId), account: 'scanner@contoso.example' };
    const [a, b] = await Promise.all([device.device.services.tokens.getAccessToken(key), device.device.services.tokens.getAccessToken(key)]);
    assert.equal(a, b, 'one request for concurrent callers');
    assert.notEqual(a, first.access, 'a new token was asked for');
    assert.equal((await lab.introspect(a)).active, true);
    assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.pop)).html), 'Obtained');
  });

  test('a wrong client secret → Not obtained with the provider\'s error and the remedy', async () => {
    const panel = await device.panel();
    await useProvider(panel, { name: 'Wrong secret', type: 'microsoft365-app', tenant: lab.tenant!, clientId: lab.appOnly!.clientId, clientSecret: 'not-the-secret' }, 'scanner@contoso.example', false);
    const page = await panel.getToken('smtp');
    assert.equal(tokenLabelOf(page.html), 'Not obtained');
    assert.match(textOf(page.html), /does not accept the device's Client ID or Client Secret/);
  });
});

describe('Google Workspace: authorization code + PKCE with a redirect to the device', () => {
  let lab: AuthorizationServer;
  let device: TestDevice;
  let panel: PanelClient;
  const account = 'printer@lab.example';
  let providerId: string;

  before(async () => {
    lab = await startAuthorizationServer({ shape: 'google' });
    device = await bootDevice(undefined, { MFP_LAB_GOOGLE_BASE: lab.baseUrl });
    await lab.addRedirectUri(`${device.device.url}/oauth/callback`);
    panel = await device.panel();
    providerId = await useProvider(panel, { name: 'Example Workspace', type: 'google', clientId: lab.device.clientId, clientSecret: lab.device.clientSecret }, account);
  });
  after(async () => {
    await device.close();
    await lab.close();
  });

  /** Presses Get Token and OK; returns where the device sends the browser. */
  async function pressGetToken(): Promise<URL> {
    const page = await panel.get(PAGE_PATHS.smtp);
    const response = await panel.request('POST', `${PAGE_PATHS.smtp}/token/get`, { _csrf: csrfTokenOf(page.html), confirm: 'ok' }, 0);
    assert.equal(response.status, 303, 'the browser is sent to the provider');
    return new URL(response.headers.get('location')!);
  }

  test('the provider page shows the exact redirect URI to register', async () => {
    const page = await panel.get(`/settings/network/oauth-servers/${providerId}`);
    assert.ok(page.html.includes(`${device.device.url}/oauth/callback`));
  });

  test('Get Token → Google sign-in with offline access, consent and S256 → back to the device → Obtained with a refresh token; a replayed callback is refused', async () => {
    const authorization = await pressGetToken();
    assert.equal(authorization.origin + authorization.pathname, `${lab.baseUrl}/o/oauth2/v2/auth`);
    const params = authorization.searchParams;
    assert.equal(params.get('scope'), 'https://mail.google.com/');
    assert.equal(params.get('access_type'), 'offline');
    assert.equal(params.get('prompt'), 'consent');
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.equal(params.get('redirect_uri'), `${device.device.url}/oauth/callback`);
    assert.equal(params.has('code_verifier'), false, 'the verifier never leaves the device');
    assert.equal((await panel.tokenStatus('smtp')).state, 'awaiting_authorization');
    assert.match(textOf((await panel.get(PAGE_PATHS.smtp)).html), /sign-in page of the provider was opened in your browser/);

    const callback = await lab.approveAuthorization(authorization.href);
    const back = await panel.get(callback.slice(callback.indexOf('/oauth/callback')));
    assert.equal(back.url, PAGE_PATHS.smtp, 'the browser lands on the page that pressed Get Token');
    assert.equal(tokenLabelOf(back.html), 'Obtained');
    assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.pop)).html), 'Obtained');
    assert.ok(tokensOf(device, providerId, account).refresh, 'access_type=offline gave a refresh token');

    const replay = await panel.get(callback.slice(callback.indexOf('/oauth/callback')));
    assert.match(textOf(replay.html), /did not belong to a sign-in started here by you/);
    assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.smtp)).html), 'Obtained', 'a replay changes nothing');
    await panel.deleteToken('smtp');
  });

  test('a callback with a wrong state ends this session\'s sign-in: Not obtained with the reason', async () => {
    const authorization = await pressGetToken();
    const callback = new URL(await lab.approveAuthorization(authorization.href));
    callback.searchParams.set('state', 'forged-state');
    const back = await panel.get(callback.pathname + callback.search);
    assert.equal(tokenLabelOf(back.html), 'Not obtained');
    assert.match(textOf(back.html), /did not belong to a sign-in started here by you/);
  });

  test('a callback from another admin session does not complete this one', async () => {
    const authorization = await pressGetToken();
    const callback = await lab.approveAuthorization(authorization.href);
    const other = await device.panel();
    const back = await other.get(callback.slice(callback.indexOf('/oauth/callback')));
    assert.match(textOf(back.html), /did not belong to a sign-in started here by you/);
    assert.equal((await panel.tokenStatus('smtp')).state, 'awaiting_authorization', 'still waiting for its own browser');
    await panel.deleteToken('smtp');
  });

  test('consent denied → Not obtained, "declined at the provider"', async () => {
    const authorization = await pressGetToken();
    const callback = await lab.denyAuthorization(authorization.href);
    const back = await panel.get(callback.slice(callback.indexOf('/oauth/callback')));
    assert.equal(tokenLabelOf(back.html), 'Not obtained');
    assert.match(textOf(back.html), /The request was declined at the provider/);
  });
});
