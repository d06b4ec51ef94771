/**
 * The admin's walk with the keyboard alone (Tab, Enter, Space; no clicks): log in, reach SMTP through
 * the menu, Get Token, OK — and the token state reads as words.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { translator } from '../../server/i18n/index.js';
import { chromiumAvailable, labelPattern, launchChromium, newAdminContext, tabTo, WALK_LANGUAGES } from '../helpers/browser.js';
import type { PanelClient } from '../../firmware-sim/panel-client.js';
import { ADMIN_PASSWORD, bootDevice, configureOAuth, startLab, type Lab, type TestDevice } from '../helpers/device.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';
let lab: Lab;
let device: TestDevice;
let browser: Browser;
let panel: PanelClient;

before(async () => {
  if (skip) return;
  lab = await startLab();
  device = await bootDevice();
  panel = await device.panel();
  await configureOAuth(panel, lab, { pop: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await device?.close();
  await lab?.close();
});

for (const lang of WALK_LANGUAGES) {
  test(`keyboard only [${lang}]: log in, SMTP through the menu, Get Token, OK → Awaiting authorization with the code`, { skip, timeout: 30_000 }, async () => {
    const t = translator(lang);
    const context = await newAdminContext(browser, lang);
    try {
      const page = await context.newPage();
      await page.goto(`${device.device.url}/login`);
      // The password field has the focus on arrival; the user name is filled in already.
      assert.equal(await page.getByLabel(labelPattern(t('login.password'))).evaluate((el) => el === document.activeElement), true, 'the password field has the focus');
      await page.keyboard.type(ADMIN_PASSWORD);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: t('home.title'), level: 1, exact: true }).waitFor();

      await tabTo(page, 'link', t('app.skip'), 1); // the first Tab offers to skip the header and menu
      await tabTo(page, 'link', t('menu.smtp'));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: t('smtp.title'), level: 1, exact: true }).waitFor();
      const stateHeading = (state: 'not_obtained' | 'awaiting_authorization') =>
        page.getByRole('heading', { name: `${t('token.label')}: ${t(`token.state.${state}`)}`, exact: true });
      await stateHeading('not_obtained').waitFor();

      await tabTo(page, 'button', t('token.get'));
      await page.keyboard.press('Space');
      await page.getByRole('heading', { name: t('token.getConfirmTitle'), level: 1, exact: true }).waitFor();
      await tabTo(page, 'button', t('common.ok'));
      await page.keyboard.press('Enter');
      await stateHeading('awaiting_authorization').waitFor();
      assert.match((await page.locator('[data-user-code]').textContent()) ?? '', /\w{4}-?\w{4}/, 'the user code is shown');
      // The link to the provider is reachable by keyboard too.
      await tabTo(page, 'link', new URL('/device', lab.auth.issuer).href);
    } finally {
      await context.close();
      // The next language starts from Not obtained again: one device serves every language's walk.
      await panel.deleteToken('smtp');
    }
  });
}
