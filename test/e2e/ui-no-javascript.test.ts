/**
 * The panel with JavaScript turned off in Chromium: every form posts and redirects, a form re-draws
 * itself for the choices made when asked, and the token state is new on each reload.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { adminSession, screenshot, withAdminPage } from '../helpers/admin-session.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { bootDevice, startLab, type Lab, type TestDevice } from '../helpers/device.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';
let lab: Lab;
let device: TestDevice;
let browser: Browser;

before(async () => {
  if (skip) return;
  lab = await startLab({ deviceCodeTtl: 600 });
  device = await bootDevice();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await device?.close();
  await lab?.close();
});

test('without JavaScript: add a Custom server, set SMTP to OAuth 2.0, Get Token, approve, reload → Obtained, Delete → Not obtained', { skip, timeout: 60_000 }, async () => {
  const base = device.device.url;
  const noScript = { javaScriptEnabled: false, viewport: { width: 1280, height: 900 } };
  // The login form itself, without script.
  const session = await adminSession(browser, base, noScript);
  await withAdminPage(browser, session, async (page) => {
    // The new-server form shows Microsoft 365's fields; choosing Custom needs a re-draw.
    await page.goto(`${base}/settings/network/oauth-servers/new`);
    await page.getByLabel('Name').fill('Lab IdP');
    await page.getByLabel('Type').selectOption({ label: 'Custom (any OAuth 2.0 server)' });
    assert.equal(await page.getByLabel('Issuer URL').isVisible(), false, 'nothing changes by itself');
    await page.getByRole('button', { name: 'Show the fields for these choices' }).click();
    assert.equal(await page.getByLabel('Issuer URL').isVisible(), true, 'the Custom fields after the re-draw');
    assert.equal(await page.getByLabel('Tenant').isVisible(), false, 'and not Microsoft\'s');
    assert.equal(await page.getByLabel('Name').inputValue(), 'Lab IdP', 'what was typed is kept');
    assert.equal(await page.getByText('Redirect URI to register with the provider').filter({ visible: true }).count(), 0, 'device code: no redirect URI');
    await screenshot(page, 'nojs-provider-form-custom');
    await page.getByLabel('Issuer URL').fill(lab.auth.issuer);
    await page.getByLabel('Client ID').fill(lab.auth.device.clientId);
    await page.getByLabel('Client Secret').fill(lab.auth.device.clientSecret);
    await page.getByLabel('Scopes for SMTP').fill(lab.auth.scopes.smtp);
    await page.getByLabel('Scopes for POP and IMAP').fill(lab.auth.scopes.pop);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(`${base}/settings/network/oauth-servers`);
    assert.equal(await page.getByRole('link', { name: 'Lab IdP' }).count(), 1, 'saved and listed');

    const account = lab.auth.accounts[0]!.email;
    await page.goto(`${base}/settings/network/smtp`);
    await page.getByLabel('Primary Server').fill('127.0.0.1');
    await page.getByLabel('Sender Address').fill(account);
    await page.getByLabel('Enable SSL/TLS').selectOption({ label: 'None' });
    await page.getByLabel('Authentication Method').selectOption({ label: 'OAuth 2.0' });
    await page.getByRole('button', { name: 'Show the fields for these choices' }).click();
    await page.getByLabel('Provider').selectOption({ label: 'Lab IdP' });
    await page.getByLabel('Account Name').fill(account);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('The settings have been saved.').waitFor();

    await page.getByRole('button', { name: 'Get Token' }).click();
    await page.getByRole('button', { name: 'OK' }).click();
    const code = (await page.locator('[data-user-code]').textContent())!.trim();
    assert.equal(await page.getByRole('button', { name: 'Copy code' }).isVisible(), false, 'no Copy button that cannot work');
    assert.equal(await page.getByRole('img', { name: 'QR code of the sign-in address' }).isVisible(), true, 'the QR code needs no script');
    assert.match((await page.getByRole('timer').textContent()) ?? '', /^(9|10) min \d+ s$/);
    await screenshot(page, 'nojs-smtp-awaiting');

    await lab.auth.approveDeviceCode(code);
    await (await device.panel()).waitForState('smtp', ['obtained'], 15_000);
    await page.reload();
    assert.equal(await page.locator('[data-token-label]').textContent(), 'Obtained', 'the reload shows the new state');

    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'OK' }).click();
    await page.waitForURL(`${base}/settings/network/smtp`);
    assert.equal(await page.locator('[data-token-label]').textContent(), 'Not obtained');
  }, noScript);
});
