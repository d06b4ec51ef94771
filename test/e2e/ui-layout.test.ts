/**
 * Long names, addresses and codes must not break the layout, at a desktop's 1280×900 and a phone's
 * 390×844, in every language (Swedish words are long, Japanese has no spaces to break at): nothing
 * scrolls sideways, and on the phone the menu sits folded above the content.
 * Screenshots of each page go to test/artifacts/ (ui-layout--<lang>--<page>--<size>.png).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { PAGE_PATHS } from '../../firmware-sim/panel-client.js';
import { adminSession, screenshot, withAdminPage, type SessionState } from '../helpers/admin-session.js';
import { translator } from '../../server/i18n/index.js';
import { chromiumAvailable, launchChromium, LOCALES, WALK_LANGUAGES } from '../helpers/browser.js';
import { bootDevice, startLab, type Lab, type TestDevice } from '../helpers/device.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';
const SIZES = [{ width: 1280, height: 900 }, { width: 390, height: 844 }];
// As long as the forms allow, and without spaces to break at.
const LONG_NAME = `Contoso${'X'.repeat(57)}`;
const LONG_ACCOUNT = `${'scanner.'.repeat(7)}floor3@${'subdomain.'.repeat(4)}contoso-corporation.example`;

let lab: Lab;
let device: TestDevice;
let browser: Browser;

before(async () => {
  if (skip) return;
  lab = await startLab({ deviceCodeTtl: 600 });
  device = await bootDevice();
  const panel = await device.panel();
  const providerId = await panel.addProvider({
    name: LONG_NAME, issuerUrl: lab.auth.issuer, clientId: lab.auth.device.clientId, clientSecret: lab.auth.device.clientSecret,
    smtpScope: lab.auth.scopes.smtp, popScope: lab.auth.scopes.pop, extraScope: 'offline_access',
  });
  for (const purpose of ['smtp', 'pop'] as const) {
    const fields: Record<string, string> = purpose === 'smtp'
      ? { primaryServer: 'smtp.a-very-long-host-name-for-the-mail-relay.contoso-corporation.example', port: '587', timeout: '20', senderName: LONG_NAME, senderAddress: LONG_ACCOUNT, ssl: 'none' }
      : { server: 'pop.a-very-long-host-name-for-the-mailbox.contoso-corporation.example', port: '995', checkInterval: '5', ssl: 'tls' };
    const saved = await panel.saveSettings(purpose, { ...fields, authMethod: 'oauth2', providerId, account: LONG_ACCOUNT });
    assert.equal(saved.status, 200);
  }
  await panel.getToken('smtp'); // a code and a link to show while waiting
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await device?.close();
  await lab?.close();
});

let session: SessionState | undefined; // one login for every language (logins are rate-limited)

for (const lang of WALK_LANGUAGES) test(`long strings at 1280×900 and 390×844 [${lang}]: no page scrolls sideways; on the phone the menu is folded above the content`, { skip, timeout: 90_000 }, async () => {
  const t = translator(lang);
  const base = device.device.url;
  session ??= await adminSession(browser, base);

  const pages = { home: '/', servers: '/settings/network/oauth-servers', 'server-form': '/settings/network/oauth-servers/new', smtp: PAGE_PATHS.smtp, 'email-status': PAGE_PATHS.pop, inbox: `${PAGE_PATHS.pop}/inbox`, events: '/settings/system/token-events' };
  const wide: string[] = [];
  for (const viewport of SIZES) {
    await withAdminPage(browser, session, async (page) => {
      for (const [name, href] of Object.entries(pages)) {
        await page.goto(`${base}${href}`);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        if (width > viewport.width) wide.push(`${name} at ${viewport.width} px is ${width} px wide`);
        await screenshot(page, `ui-layout--${lang}--${name}--${viewport.width}x${viewport.height}`);
      }
      if (viewport.width >= 720) return;
      await page.goto(`${base}${PAGE_PATHS.smtp}`);
      const menuLink = page.getByRole('navigation').getByRole('link', { name: t('menu.emailStatus'), exact: true });
      assert.equal(await menuLink.isVisible(), false, 'the menu starts folded on a phone');
      const menu = (await page.locator('details.menu-box').boundingBox())!;
      const main = (await page.locator('main').boundingBox())!;
      assert.ok(menu.y + menu.height <= main.y + 1, 'the menu is above the content, not beside it');
      assert.ok(main.width >= viewport.width - 2, 'the content has the whole width');
      await page.getByText(t('menu.label'), { exact: true }).click();
      await menuLink.click();
      await page.waitForURL(`${base}${PAGE_PATHS.pop}`);
      assert.ok(await page.getByText(LONG_ACCOUNT).first().isVisible(), 'the long account name is shown');
    }, { viewport, locale: LOCALES[lang] });
  }
  assert.deepEqual(wide, [], 'no page scrolls sideways');
});
