/**
 * Authorization code + PKCE as Chromium does it, with the page's Content-Security-Policy as served:
 * Get Token → OK must take the browser to the provider's sign-in page (form-action applies to the
 * redirect that answers the form) and back to the device, for Google Workspace and for a Custom
 * provider found by discovery.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { startAuthorizationServer, type AuthorizationServer } from '../../firmware-sim/cloud/authorization-server.js';
import { ADMIN_PASSWORD, bootDevice, type TestDevice } from '../helpers/device.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';

const cases = [
  {
    name: 'Google Workspace',
    shape: 'google' as const,
    env: (lab: AuthorizationServer) => ({ MFP_LAB_GOOGLE_BASE: lab.baseUrl }),
    provider: (lab: AuthorizationServer) => ({ name: 'Example Workspace', type: 'google', clientId: lab.device.clientId, clientSecret: lab.device.clientSecret }),
  },
  {
    name: 'Custom provider, authorization code by discovery',
    shape: 'generic' as const,
    env: () => ({}),
    provider: (lab: AuthorizationServer) => ({
      name: 'Lab code', type: 'custom', endpointMode: 'discovery', issuerUrl: lab.issuer, grant: 'authorization_code',
      clientId: lab.device.clientId, clientSecret: lab.device.clientSecret, smtpScope: lab.scopes.smtp, popScope: lab.scopes.pop, extraScope: 'offline_access',
    }),
  },
];

for (const kind of cases) {
  describe(`${kind.name}: Get Token in Chromium leaves the device for the sign-in and comes back`, { skip }, () => {
    let lab: AuthorizationServer;
    let device: TestDevice;
    let browser: Browser;

    before(async () => {
      lab = await startAuthorizationServer({ shape: kind.shape });
      device = await bootDevice(undefined, kind.env(lab));
      await lab.addRedirectUri(`${device.device.url}/oauth/callback`);
      const panel = await device.panel();
      const providerId = await panel.addProvider(kind.provider(lab));
      const account = lab.accounts[0]!.email;
      await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: '2525', timeout: '20', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account });
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await device?.close();
      await lab?.close();
    });

    test('Get Token → OK → the provider\'s sign-in page → approve → back on SMTP, Obtained; nothing blocked, nothing answered twice', { timeout: 60_000 }, async () => {
      const page = await browser.newPage();
      const blocked: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/.test(message.text())) blocked.push(message.text());
      });
      await page.goto(`${device.device.url}/login`);
      await page.getByLabel('Password').fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'Login' }).click();
      await page.goto(`${device.device.url}/settings/network/smtp`);
      await page.getByRole('button', { name: 'Get Token' }).click();
      await page.getByRole('button', { name: 'OK' }).click();

      await page.getByLabel('Login').fill(lab.accounts[0]!.login);
      assert.equal(new URL(page.url()).origin, new URL(lab.baseUrl).origin, 'the browser is at the provider');
      await page.getByLabel('Password').fill(lab.accounts[0]!.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Approve' }).click();
      await page.waitForURL(`${device.device.url}/settings/network/smtp`);
      assert.equal(await page.textContent('[data-token-label]'), 'Obtained');
      assert.deepEqual(blocked, [], 'the page\'s CSP blocked nothing');
      assert.deepEqual(device.logs.filter((line) => /already sent/.test(line)), [], 'no route answered twice');
      await page.close();
    });
  });
}
