/**
 * The panel's pages as a person meets them in Chromium: results next to the button that made them
 * and never sent twice, a menu and breadcrumb that agree, notes that are not errors, a provider form
 * that shows only what applies, the wait for the person at the provider (code, copy, QR, countdown,
 * Get Token again), links only to safe addresses, and a layout that holds at desktop and phone width.
 * Controls are found by their visible labels and roles; screenshots go to test/artifacts/.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startSmtpLab, type SmtpLab } from '../../firmware-sim/cloud/smtp-server.js';
import { PAGE_PATHS, type PanelClient } from '../../firmware-sim/panel-client.js';
import { adminSession, screenshot, withAdminPage, type SessionState } from '../helpers/admin-session.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { bootDevice, configureOAuth, startLab, type Lab, type TestDevice } from '../helpers/device.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';
const SMTP_PASSWORD = 'ui-test-smtp-password';
const DESKTOP = { viewport: { width: 1280, height: 900 } };

/** Whether an element is (at least partly) inside the visible part of the window. */
async function inViewport(page: Page, selector: string): Promise<boolean> {
  return page.$eval(selector, (element) => {
    const box = element.getBoundingClientRect();
    return box.top < window.innerHeight && box.bottom > 0;
  });
}

const breadcrumbOf = (page: Page) => page.locator('.breadcrumb').textContent();
const currentMenuItem = (page: Page) => page.locator('nav.menu [aria-current="page"]').allTextContents();

describe('the panel in Chromium', { skip }, () => {
  let lab: Lab;
  let smtp: SmtpLab;
  let device: TestDevice;
  let panel: PanelClient;
  let browser: Browser;
  let base: string;
  let account: string;
  let providerId: string;
  let session: SessionState;

  before(async () => {
    lab = await startLab({ deviceCodeTtl: 600 });
    account = lab.auth.accounts[0]!.email;
    smtp = await startSmtpLab({ authorizationServer: lab.auth, passwords: { [account]: SMTP_PASSWORD } });
    device = await bootDevice();
    base = device.device.url;
    panel = await device.panel();
    providerId = await configureOAuth(panel, lab, { pop: true });
    browser = await launchChromium();
    session = await adminSession(browser, base);
  });
  after(async () => {
    await browser?.close();
    await device?.close();
    await smtp?.close();
    await lab?.close();
  });

  async function saveSmtpPassword(): Promise<void> {
    const saved = await panel.saveSettings('smtp', {
      primaryServer: '127.0.0.1', port: String(smtp.port), timeout: '5', senderName: 'Scanner', senderAddress: account, ssl: 'none',
      authMethod: 'smtp-auth', authUser: account, authPassword: SMTP_PASSWORD,
    });
    assert.equal(saved.status, 200);
  }
  async function saveSmtpOAuth(): Promise<void> {
    const saved = await panel.saveSettings('smtp', {
      primaryServer: '127.0.0.1', port: String(smtp.port), timeout: '5', senderName: 'Scanner', senderAddress: account, ssl: 'none',
      authMethod: 'oauth2', providerId, account,
    });
    assert.equal(saved.status, 200);
  }

  test('Send Test E-mail and Connection Test: the result is next to the buttons, in view and focused; a reload sends nothing again', async () => {
    await saveSmtpPassword();
    try {
      await withAdminPage(browser, session, async (page) => {
        await page.goto(`${base}${PAGE_PATHS.smtp}`);
        const received = smtp.received.length;
        await page.getByLabel('Send to').fill('reader@example.com');
        await page.getByRole('button', { name: 'Send Test E-mail' }).click();
        await page.waitForURL(/\/settings\/network\/smtp#smtp-result$/);
        assert.equal(smtp.received.length, received + 1, 'one test e-mail sent');
        assert.match((await page.locator('#smtp-result').textContent()) ?? '', /reader@example\.com was accepted by the server/);
        assert.ok(await inViewport(page, '#smtp-result'), 'the result is scrolled into view');
        assert.equal(await page.evaluate(() => document.activeElement?.id), 'smtp-result', 'the focus is on the result, for screen readers');
        assert.equal(await page.getByLabel('Send to').inputValue(), 'reader@example.com', 'the address typed is still there');
        await screenshot(page, 'smtp-send-test-result');

        await page.reload();
        assert.equal(smtp.received.length, received + 1, 'a reload does not send a second test e-mail');
        assert.equal(await page.locator('#smtp-result').count(), 0, 'the result is shown once');

        const connections = smtp.connections;
        await page.getByRole('button', { name: 'Connection Test' }).click();
        await page.waitForURL(/#smtp-result$/);
        assert.match((await page.locator('#smtp-result').textContent()) ?? '', /Connection test to 127\.0\.0\.1:\d+ passed/);
        assert.ok(await inViewport(page, '#smtp-result'));
        await page.reload();
        assert.equal(smtp.connections, connections + 1, 'a reload does not test again');
      }, DESKTOP);
    } finally {
      await saveSmtpOAuth();
    }
  });

  test('Check Now: the result shows on the page it was pressed on, whose menu item is current and whose breadcrumb it keeps', async () => {
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${base}${PAGE_PATHS.pop}`);
      await page.getByRole('button', { name: 'Check Now' }).click();
      await page.waitForURL(/\/settings\/system\/email-status#pop-result$/);
      assert.match((await breadcrumbOf(page)) ?? '', /E-mail Alert\/Status › E-mail Status$/);
      assert.deepEqual(await currentMenuItem(page), ['E-mail Status']);
      assert.match((await page.locator('#pop-result').textContent()) ?? '', /no usable OAuth 2\.0 token/);
      assert.ok(await inViewport(page, '#pop-result'));
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'pop-result');
      await screenshot(page, 'pop-check-now-result');
      await page.reload();
      assert.equal(await page.locator('#pop-result').count(), 0, 'shown once');

      await page.getByRole('link', { name: 'E-mail Print Inbox' }).click();
      await page.getByRole('button', { name: 'Connection Test' }).click();
      await page.waitForURL(/\/email-status\/inbox#pop-result$/);
      assert.deepEqual(await currentMenuItem(page), ['E-mail Print Inbox']);
      assert.match((await page.locator('#pop-result h2').textContent()) ?? '', /Connection Test/);
    }, DESKTOP);
  });

  test('menu, breadcrumbs, headings and favicon: every page has its menu path, one current item, the same indent per level, no failed request', async () => {
    await withAdminPage(browser, session, async (page) => {
      const failed: string[] = [];
      page.on('response', (response) => {
        if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
      });
      await page.goto(`${base}/`);
      const headings = await page.locator('h1, h2').allTextContents();
      assert.equal(headings.filter((text) => /device status/i.test(text)).length, 1, `"Device Status" once: ${headings.join(' | ')}`);

      // Items of one level start at the same x, whether they are groups or links.
      const lefts = await page.$$eval('nav.menu li > a, nav.menu li > .group', (items) =>
        items.map((item) => ({ depth: (function depth(el: Element | null): number { let n = 0; for (; el; el = el.parentElement) if (el.tagName === 'UL') n++; return n; })(item), left: Math.round(item.getBoundingClientRect().left) })));
      const byDepth = new Map<number, Set<number>>();
      for (const { depth, left } of lefts) byDepth.set(depth, (byDepth.get(depth) ?? new Set()).add(left));
      for (const [depth, set] of byDepth) assert.equal(set.size, 1, `menu level ${depth} has one indent, not ${[...set].join(', ')}`);
      assert.ok(byDepth.size >= 4, 'the menu has its nested levels');

      const links = await page.$$eval('nav.menu a', (anchors) => anchors.map((a) => ({ href: a.getAttribute('href')!, text: a.textContent!.trim() })));
      for (const { href, text } of links.filter((link) => link.href !== '/')) {
        await page.goto(`${base}${href}`);
        assert.deepEqual(await currentMenuItem(page), [text], `${href}: the current menu item`);
        const crumb = (await breadcrumbOf(page)) ?? '';
        assert.ok(crumb.startsWith('System Settings › ') && crumb.endsWith(`› ${text}`), `${href}: breadcrumb "${crumb}"`);
      }
      // A sub-page keeps its menu item current (the form of a new server belongs to the list).
      await page.goto(`${base}/settings/network/oauth-servers/new`);
      assert.deepEqual(await currentMenuItem(page), ['OAuth Authorization Servers']);

      const icon = await page.getAttribute('link[rel=icon]', 'href');
      const answer = await page.request.get(`${base}${icon}`);
      assert.equal(answer.status(), 200);
      assert.match(answer.headers()['content-type'] ?? '', /image\/svg\+xml/);
      assert.deepEqual(failed, [], 'no request of these pages failed (the favicon included)');
    }, DESKTOP);
  });

  test('the Get Token confirmation shows the shared-token note as information, not as an error', async () => {
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${base}${PAGE_PATHS.smtp}`);
      await page.getByRole('button', { name: 'Get Token' }).click();
      const note = page.getByText('The token will also serve the E-mail Status setting');
      assert.equal(await note.getAttribute('class'), 'flash flash-info');
      assert.notEqual(await note.evaluate((el) => getComputedStyle(el).backgroundColor), await page.evaluate(() => {
        const probe = document.createElement('p');
        probe.className = 'flash flash-error';
        document.body.append(probe);
        return getComputedStyle(probe).backgroundColor;
      }), 'not drawn as an error');
      assert.match((await breadcrumbOf(page)) ?? '', /Network Settings › Service Settings › SMTP$/, 'the confirmation shows where it belongs');
      await screenshot(page, 'get-token-confirm');
      await page.getByRole('link', { name: 'Cancel' }).click();
      assert.equal((await panel.tokenStatus('smtp')).state, 'not_obtained', 'Cancel changed nothing');
    });
  });

  test('Add Authorization Server shows only what applies to the chosen type and grant', async () => {
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${base}/settings/network/oauth-servers/new`);
      assert.equal(await page.getByText('Leave blank to keep the current one').count(), 0, 'a new server has no current secret');
      const shown = (locator: ReturnType<Page['getByText']>) => locator.filter({ visible: true }).count();
      const redirect = page.getByText('Redirect URI to register with the provider');
      const googleHelp = page.getByText(/Google Cloud Console/);
      await page.getByLabel('Type').selectOption({ label: 'Custom (any OAuth 2.0 server)' });
      await page.getByLabel('How the device gets a token').selectOption({ label: 'Device code (a person enters a code on another device)' });
      assert.equal(await shown(redirect), 0, 'no redirect URI for a device-code provider');
      assert.equal(await shown(googleHelp), 0, 'no Google instructions for a Custom provider');
      await page.getByLabel('How the device gets a token').selectOption({ label: 'Authorization code with PKCE (the browser is sent to the provider and back)' });
      assert.equal(await shown(redirect), 1, 'authorization code: the redirect URI to register');
      assert.equal(await shown(googleHelp), 0);
      await page.getByLabel('Type').selectOption({ label: 'Google Workspace' });
      assert.equal(await shown(redirect), 1);
      assert.equal(await shown(googleHelp), 1, 'Google: where to register it in Google Cloud');
      await page.getByLabel('Type').selectOption({ label: 'Microsoft 365 (delegated, device code)' });
      assert.equal(await shown(redirect), 0);
      await screenshot(page, 'provider-form-microsoft');
    });
  });

  test('waiting for the person at the provider: big code with a working Copy, the link, a QR code made on the device, a live countdown', async () => {
    try {
      await withAdminPage(browser, session, async (page, context) => {
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
        const requests: string[] = [];
        page.on('request', (request) => requests.push(request.url()));
        await page.goto(`${base}${PAGE_PATHS.smtp}`);
        await page.getByRole('button', { name: 'Get Token' }).click();
        await page.getByRole('button', { name: 'OK' }).click();
        await page.waitForSelector('[data-user-code]');
        const code = (await page.locator('[data-user-code]').textContent())!.trim();
        assert.ok(code.length >= 6, 'a user code is shown');
        const fontSize = await page.locator('[data-user-code]').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
        assert.ok(fontSize >= 28, `the code is large (${fontSize}px)`);

        await page.getByRole('button', { name: 'Copy code' }).click();
        await page.getByText('Copied.').waitFor();
        assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code, 'the clipboard holds the code');

        const link = await page.locator('.pending a.verification-uri').getAttribute('href');
        assert.ok(link?.startsWith(`${lab.auth.baseUrl}`), `the verification URL is a link to the provider: ${link}`);
        const qr = page.getByRole('img', { name: 'QR code of the sign-in address' });
        assert.equal(await qr.evaluate((el) => el.tagName.toLowerCase()), 'svg', 'an inline SVG, drawn on the device');
        assert.ok((await qr.boundingBox())!.width >= 120, 'big enough to scan');

        const timer = page.getByRole('timer');
        const first = await timer.textContent();
        assert.match(first ?? '', /^\d+ min \d+ s$/);
        await page.waitForFunction((before) => document.querySelector('[role=timer]')?.textContent !== before, first, { timeout: 5000 });
        await screenshot(page, 'smtp-awaiting-device-code');
        assert.deepEqual(requests.filter((url) => !url.startsWith(base)), [], 'the page asked nothing of another server (no QR service)');
      }, DESKTOP);
    } finally {
      await panel.deleteToken('smtp');
    }
  });
});

describe('the wait runs out, and an address that must not be a link', { skip }, () => {
  let lab: Lab;
  let device: TestDevice;
  let browser: Browser;
  let provider: http.Server;
  let session: SessionState;

  before(async () => {
    lab = await startLab({ deviceCodeTtl: 4 });
    device = await bootDevice();
    await configureOAuth(await device.panel(), lab);
    browser = await launchChromium();
    session = await adminSession(browser, device.device.url);
    // A provider (plain HTTP on loopback) whose device authorization names a verification address
    // that is not https: the page must not make it a link.
    provider = http.createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      response.setHeader('cache-control', 'no-store');
      if (request.url === '/device') {
        response.end(JSON.stringify({ device_code: 'dc-1', user_code: 'WXYZ-1234', verification_uri: 'http://sign-in.example/device', verification_uri_complete: 'javascript:alert(1)', expires_in: 600, interval: 5 }));
      } else {
        response.statusCode = 400;
        response.end(JSON.stringify({ error: 'authorization_pending' }));
      }
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await browser?.close();
    await device?.close();
    await lab?.close();
    await new Promise((resolve) => provider?.close(resolve));
  });

  test('when the code runs out, the page says so by itself and offers one "Get Token again", which starts a new wait', { timeout: 60_000 }, async () => {
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${device.device.url}${PAGE_PATHS.smtp}`);
      await page.getByRole('button', { name: 'Get Token' }).click();
      await page.getByRole('button', { name: 'OK' }).click();
      const firstCode = (await page.locator('[data-user-code]').textContent())!.trim();
      // No approval: the page's script notices the end of the wait and reloads.
      await page.getByRole('button', { name: 'Get Token again' }).waitFor({ timeout: 20_000 });
      assert.match(await page.locator('#token').textContent() ?? '', /The code was not entered at the provider in time/);
      assert.equal(await page.getByRole('button', { name: 'Get Token', exact: true }).count(), 0, 'one clear action, not two Get Token buttons');
      await screenshot(page, 'smtp-code-timed-out');
      await page.getByRole('button', { name: 'Get Token again' }).click();
      await page.getByRole('button', { name: 'OK' }).click();
      const secondCode = (await page.locator('[data-user-code]').textContent())!.trim();
      assert.notEqual(secondCode, firstCode, 'a new code');
    });
  });

  test('a verification address that is not https (or loopback http) is shown as text with a warning, never as a link or QR code', async () => {
    const panel = await device.panel();
    const id = await panel.addProvider({
      name: 'Odd provider', type: 'custom', endpointMode: 'manual', grant: 'device_code', clientId: 'odd',
      tokenEndpoint: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/token`,
      deviceAuthorizationEndpoint: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/device`,
      smtpScope: 'mail.smtp', popScope: 'mail.pop', extraScope: '',
    });
    const account = 'odd@lab.example';
    await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: '2525', timeout: '20', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId: id, account });
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${device.device.url}${PAGE_PATHS.smtp}`);
      await page.getByRole('button', { name: 'Get Token' }).click();
      await page.getByRole('button', { name: 'OK' }).click();
      await page.locator('[data-user-code]').waitFor();
      assert.equal((await page.locator('[data-user-code]').textContent())!.trim(), 'WXYZ-1234');
      assert.equal(await page.locator('#token a[href*="sign-in.example"], #token a[href^="javascript:"]').count(), 0, 'not a link');
      assert.match(await page.locator('#token code.verification-uri').textContent() ?? '', /^http:\/\/sign-in\.example\/device$/);
      assert.match(await page.locator('[data-unsafe-uri]').textContent() ?? '', /not https:\/\//);
      assert.equal(await page.locator('#token svg').count(), 0, 'no QR code for it');
      await screenshot(page, 'smtp-unsafe-verification-uri');
    });
  });
});
