/**
 * A person in a real browser (Debian's Chromium): logs in, presses Get Token and OK, opens the link
 * the page shows, signs in at the lab's identity provider and approves — and the SMTP page turns to
 * Obtained by itself, without a manual reload.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { ADMIN_PASSWORD, bootDevice, configureOAuth, startLab, tempDir, type Lab, type TestDevice } from '../helpers/device.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';
let lab: Lab;
let device: TestDevice;
let browser: Browser;

before(async () => {
  if (skip) return;
  lab = await startLab();
  device = await bootDevice();
  await configureOAuth(await device.panel(), lab, { pop: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await device?.close();
  await lab?.close();
});

test('Get Token through the browser: code, sign-in, approval, Obtained on both pages', { skip, timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${device.device.url}/settings/network/smtp`);
  assert.match(page.url(), /\/login$/, 'a stranger is sent to the login page');
  await page.fill('#password', ADMIN_PASSWORD);
  await page.click('button[type=submit].primary');
  await page.goto(`${device.device.url}/settings/network/smtp`);
  assert.equal(await page.textContent('[data-token-label]'), 'Not obtained');

  // Fields that do not apply to OAuth 2.0 are hidden by the page script.
  assert.equal(await page.isHidden('#f-authUser'), true);
  await page.selectOption('#f-authMethod', 'smtp-auth');
  assert.equal(await page.isVisible('#f-authUser'), true);
  await page.selectOption('#f-authMethod', 'oauth2');

  await page.click('text=Get Token');
  await page.click('button[value=ok]');
  assert.equal(await page.textContent('[data-token-label]'), 'Awaiting authorization');
  const userCode = (await page.textContent('[data-user-code]'))!.trim();
  const link = await page.getAttribute('.pending a', 'href');
  assert.ok(link, 'the verification URL is a link');

  // The person opens the link on "another device" (a second tab) and approves as the mailbox.
  const idp = await context.newPage();
  await idp.goto(link!);
  if (await idp.isVisible('input[name=user_code]')) {
    await idp.fill('input[name=user_code]', userCode);
    await idp.click('button[type=submit]');
  }
  await idp.click('button[type=submit]'); // confirm the code
  await idp.fill('input[name=login]', lab.auth.accounts[0]!.login);
  await idp.fill('input[name=password]', lab.auth.accounts[0]!.password);
  await idp.click('button[type=submit]');
  await idp.click('button[value=approve], button:has-text("Approve")');
  await idp.waitForLoadState();

  // The panel's status script notices by itself.
  await page.waitForFunction(() => document.querySelector('[data-token-label]')?.textContent === 'Obtained', undefined, { timeout: 20_000 });
  await page.screenshot({ path: path.join(tempDir('mfp-shot-'), 'smtp-obtained.png'), fullPage: true });
  await page.goto(`${device.device.url}/settings/system/email-status`);
  assert.equal(await page.textContent('[data-token-label]'), 'Obtained', 'the POP page shares the token');
  await context.close();
});
