/** The exact URLs, scopes and grants the device uses with the real Microsoft and Google endpoints. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorizationParams, DEFAULT_INACTIVITY_LIMITS, fixedEndpoints, grantOf, grantRulesOf, PRODUCTION_AUTHORITIES, scopeFor } from '../../../server/oauth/provider-profiles.js';
import type { Provider } from '../../../server/settings/providers.js';

const base: Provider = {
  id: 1, name: 'x', type: 'custom', tenant: '', endpointMode: 'discovery', issuerUrl: '', authorizationEndpoint: '', tokenEndpoint: '',
  deviceAuthorizationEndpoint: '', revocationEndpoint: '', grant: 'device_code', clientId: 'client', smtpScope: 'mail.smtp', popScope: 'mail.pop',
  extraScope: 'offline_access', publishingStatus: 'production', hasClientSecret: false, updatedAt: 1,
};

describe('Microsoft 365 (delegated)', () => {
  const provider: Provider = { ...base, type: 'microsoft365', tenant: 'contoso.onmicrosoft.com' };

  test('endpoints are built from the tenant, no discovery, no revocation', () => {
    assert.deepEqual(fixedEndpoints(provider, PRODUCTION_AUTHORITIES), {
      issuer: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0',
      authorization_endpoint: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
      token_endpoint: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
      device_authorization_endpoint: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode',
    });
  });

  test('device code with only the scopes the pages need, plus offline_access', () => {
    assert.equal(grantOf(provider), 'device_code');
    assert.equal(scopeFor(provider, ['smtp']), 'https://outlook.office.com/SMTP.Send offline_access');
    assert.equal(scopeFor(provider, ['pop']), 'https://outlook.office.com/POP.AccessAsUser.All offline_access');
    assert.equal(scopeFor(provider, ['smtp', 'pop']), 'https://outlook.office.com/SMTP.Send https://outlook.office.com/POP.AccessAsUser.All offline_access');
  });
});

describe('Microsoft 365 app-only', () => {
  const provider: Provider = { ...base, type: 'microsoft365-app', tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47' };
  test('client credentials at the tenant token endpoint with the .default scope', () => {
    assert.equal(grantOf(provider), 'client_credentials');
    assert.equal(scopeFor(provider, ['smtp', 'pop']), 'https://outlook.office365.com/.default');
    assert.equal(fixedEndpoints(provider, PRODUCTION_AUTHORITIES)?.token_endpoint, 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token');
  });
});

describe('Google Workspace', () => {
  const provider: Provider = { ...base, type: 'google' };
  test('authorization code + PKCE at Google\'s endpoints, offline access with consent, the mail scope', () => {
    assert.equal(grantOf(provider), 'authorization_code', 'never the device flow: Google refuses it for mail scopes');
    assert.deepEqual(fixedEndpoints(provider, PRODUCTION_AUTHORITIES), {
      issuer: 'https://accounts.google.com',
      authorization_endpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
      token_endpoint: 'https://oauth2.googleapis.com/token',
      revocation_endpoint: 'https://oauth2.googleapis.com/revoke',
    });
    assert.equal(scopeFor(provider, ['smtp', 'pop']), 'https://mail.google.com/');
    assert.deepEqual(authorizationParams(provider), { access_type: 'offline', prompt: 'consent' });
  });
});

describe('custom', () => {
  test('discovery when an issuer is given; manual endpoints otherwise; the grant the admin chose', () => {
    assert.equal(fixedEndpoints({ ...base, issuerUrl: 'https://idp.example' }, PRODUCTION_AUTHORITIES), undefined);
    const manual: Provider = { ...base, endpointMode: 'manual', tokenEndpoint: 'https://idp.example/oauth/token', authorizationEndpoint: 'https://idp.example/oauth/authorize', grant: 'authorization_code' };
    assert.deepEqual(fixedEndpoints(manual, PRODUCTION_AUTHORITIES), { issuer: 'https://idp.example', token_endpoint: 'https://idp.example/oauth/token', authorization_endpoint: 'https://idp.example/oauth/authorize' });
    assert.equal(grantOf(manual), 'authorization_code');
    assert.equal(scopeFor(base, ['pop']), 'mail.pop offline_access');
  });
});

describe('how long a grant lives (issue 11)', () => {
  const DAY = 24 * 60 * 60_000;
  test('Microsoft forgets a refresh token unused for 90 days; app-only has none to keep alive', () => {
    assert.deepEqual(grantRulesOf({ ...base, type: 'microsoft365' }, DEFAULT_INACTIVITY_LIMITS), { inactivityLimitMs: 90 * DAY, lifetimeMs: null });
    assert.deepEqual(grantRulesOf({ ...base, type: 'microsoft365-app' }, DEFAULT_INACTIVITY_LIMITS), { inactivityLimitMs: null, lifetimeMs: null });
  });

  test('Google: 6 months unused; an app in Testing ends 7 days after the sign-in', () => {
    assert.deepEqual(grantRulesOf({ ...base, type: 'google' }, DEFAULT_INACTIVITY_LIMITS), { inactivityLimitMs: 180 * DAY, lifetimeMs: null });
    assert.deepEqual(grantRulesOf({ ...base, type: 'google', publishingStatus: 'testing' }, DEFAULT_INACTIVITY_LIMITS), { inactivityLimitMs: 180 * DAY, lifetimeMs: 7 * DAY });
  });

  test('the admin\'s limits apply per provider type', () => {
    const limits = { microsoftDays: 30, googleDays: 60, customDays: 10 };
    assert.equal(grantRulesOf({ ...base, type: 'microsoft365' }, limits).inactivityLimitMs, 30 * DAY);
    assert.equal(grantRulesOf({ ...base, type: 'custom' }, limits).inactivityLimitMs, 10 * DAY);
    assert.equal(grantRulesOf({ ...base, type: 'custom', grant: 'client_credentials' }, limits).inactivityLimitMs, null);
  });
});
