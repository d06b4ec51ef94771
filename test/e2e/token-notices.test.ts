/**
 * Tokens that don't die silently, as the admin meets it in Chromium: the token panel tells when the
 * grant was obtained and when it is renewed next; when the token turns Invalid the home page has a
 * notice and the menu items of the pages using it carry a badge in words, and the notice's link
 * opens the page that fixes it; a provider clock 10 minutes off shows as a warning. By visible labels.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { PAGE_PATHS, type PanelClient } from '../../firmware-sim/panel-client.js';
import { adminSession, screenshot, withAdminPage, type SessionState } from '../helpers/admin-session.js';
import { chromiumAvailable, launchChromium, PageReview } from '../helpers/browser.js';
import { bootDevice, configureOAuth, obtainToken, startLab, type Lab, type TestDevice } from '../helpers/device.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';

describe('token notices in Chromium', { skip }, () => {
  let lab: Lab;
  let device: TestDevice;
  let panel: PanelClient;
  let browser: Browser;
  let session: SessionState;
  let providerId: string;

  before(async () => {
    lab = await startLab();
    device = await bootDevice();
    panel = await device.panel();
    providerId = await configureOAuth(panel, lab, { pop: true });
    browser = await launchChromium();
    session = await adminSession(browser, device.device.url);
  });
  after(async () => {
    await browser?.close();
    await device?.close();
    await lab?.close();
  });

  test('Obtained: when, and the next renewal; no notice, no badge', async () => {
    await obtainToken(panel, lab.auth);
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${device.device.url}${PAGE_PATHS.smtp}`);
      const life = page.locator('[data-token-life]');
      await screenshot(page, 'token-life-smtp');
      assert.match((await life.textContent()) ?? '', /Obtained [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M [A-Z]+; not renewed yet\.\s+Next renewal [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M [A-Z]+, mail or no mail \(the provider forgets a token unused for 90 days\)/);
      await page.goto(`${device.device.url}/`);
      assert.equal(await page.getByRole('region', { name: 'Needs attention' }).count(), 0);
      assert.equal(await page.getByRole('link', { name: /needs attention/ }).count(), 0);
    });
  });

  test('Invalid: a notice on the home page, badges on SMTP and E-mail Status, the link opens the page to fix it', async () => {
    await lab.auth.resetPassword(lab.auth.accounts[0]!.email);
    const key = { providerId: Number(providerId), account: lab.auth.accounts[0]!.email };
    await assert.rejects(device.device.services.tokens.getAccessToken(key, { forceRefresh: true }));
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${device.device.url}/`);
      const notice = page.getByRole('region', { name: 'Needs attention' });
      assert.match((await notice.textContent()) ?? '', /The SMTP token is Invalid: The provider no longer accepts this token/);
      assert.match((await notice.textContent()) ?? '', /What to do: Delete the token and obtain it again/);
      const menu = page.getByRole('navigation', { name: 'Menu' });
      assert.equal(await menu.getByRole('link', { name: 'SMTP needs attention' }).count(), 1, 'the SMTP menu item says so in words');
      assert.equal(await menu.getByRole('link', { name: 'E-mail Status needs attention' }).count(), 1, 'so does E-mail Status, which shares the token');
      assert.equal(await menu.getByRole('link', { name: 'OAuth Authorization Servers' }).count(), 1, 'other items carry no badge');
      await screenshot(page, 'token-notice-home');
      await notice.getByRole('link', { name: 'Open the SMTP page' }).click();
      await page.waitForURL(`${device.device.url}${PAGE_PATHS.smtp}#token`);
      assert.equal(await page.locator('[data-token-label]').textContent(), 'Invalid');
      await page.goto(`${device.device.url}/settings/security/password`);
      assert.equal(await page.getByRole('navigation', { name: 'Menu' }).getByRole('link', { name: 'SMTP needs attention' }).count(), 1, 'the badge is on every page');
    });
  });

  test('a provider clock 10 minutes off: a warning on the page and the home page; a new token ends the notice and badges', async () => {
    lab.auth.setGrantPolicy({ kind: 'clock_skew', ms: 10 * 60_000 });
    try {
      await withAdminPage(browser, session, async (page) => {
        await page.goto(`${device.device.url}${PAGE_PATHS.smtp}`);
        await page.getByRole('button', { name: 'Get Token' }).click();
        await page.getByRole('button', { name: 'OK' }).click();
        const { pending } = await panel.tokenStatus('smtp');
        await lab.auth.approveDeviceCode(pending!.userCode);
        await panel.waitForState('smtp', ['obtained'], 15_000);
        await page.goto(`${device.device.url}${PAGE_PATHS.smtp}`);
        const warning = /The device clock is 10 minutes behind the clock of Lab IdP/;
        assert.match((await page.locator('[data-clock-warning]').textContent()) ?? '', warning);
        await page.goto(`${device.device.url}/`);
        const notice = page.getByRole('region', { name: 'Needs attention' });
        assert.match((await notice.textContent()) ?? '', warning);
        assert.doesNotMatch((await notice.textContent()) ?? '', /Invalid/);
        assert.equal(await page.getByRole('link', { name: /needs attention/ }).count(), 0, 'no token needs a sign-in now');
        await screenshot(page, 'token-notice-clock');
      });
    } finally {
      lab.auth.setFault(null);
    }
  });

  test('Token Renewal and Notifications: reached from the menu; a bad value is refused next to its field; fields follow the choices; axe finds nothing serious', async () => {
    const review = new PageReview('token-care');
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${device.device.url}/`);
      await page.getByRole('navigation', { name: 'Menu' }).getByRole('link', { name: 'Token Renewal and Notifications' }).click();
      await page.waitForURL(`${device.device.url}/settings/system/token-care`);
      assert.equal(await page.getByLabel('Fallback SMTP Server (SMTP-AUTH)').isVisible(), false, 'the fallback fields only once e-mail is on');
      await page.getByLabel('E-mail the Alert Recipients').selectOption('on');
      assert.equal(await page.getByLabel('Fallback SMTP Server (SMTP-AUTH)').isVisible(), true);
      await page.getByRole('combobox', { name: 'Syslog', exact: true }).selectOption('udp');
      await page.getByLabel('Syslog Server').fill('127.0.0.1');
      await page.getByLabel('Microsoft 365: unused token ends after').fill('1');
      await review.look(page, 'filled');
      await page.getByRole('button', { name: 'Save' }).click();
      assert.match((await page.locator('.flash-error').textContent()) ?? '', /Nothing was saved/);
      assert.match((await page.locator('#e-microsoftDays').textContent()) ?? '', /Enter a number from 2 to 3650/);
      await review.look(page, 'refused');
      await page.getByLabel('Microsoft 365: unused token ends after').fill('60');
      await page.getByRole('button', { name: 'Save' }).click();
      assert.match((await page.locator('.flash-ok').textContent()) ?? '', /The settings have been saved/);
    });
    assert.deepEqual(review.blocking(), []);
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${device.device.url}${PAGE_PATHS.smtp}`);
      assert.match((await page.locator('[data-token-life]').textContent()) ?? '', /the provider forgets a token unused for 90 days/, 'a custom server keeps its own limit');
    });
  });
});
