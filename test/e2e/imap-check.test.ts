/**
 * In Chromium, by visible labels: the admin switches E-mail Status to IMAP (the page shows the IMAP
 * port and the Folder instead of the POP3 port), saves, presses Check Now and sees the mail Dovecot's
 * IMAP server holds; a second Check Now fetches nothing. The token is a real one from the lab.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { dovecotAvailable, startDovecotLab, type DovecotLab } from '../../firmware-sim/cloud/pop3-server.js';
import { translator } from '../../server/i18n/index.js';
import { chromiumAvailable, labelPattern, launchChromium } from '../helpers/browser.js';
import { adminSession, screenshot, withAdminPage } from '../helpers/admin-session.js';
import { bootDevice, configureOAuth, introspectionUrl, obtainToken, startLab, type Lab, type TestDevice } from '../helpers/device.js';

const skip = !chromiumAvailable() ? 'Chromium is not installed (apt-get install chromium)'
  : !dovecotAvailable() || !fs.existsSync('/usr/lib/dovecot/imap') ? 'Dovecot with IMAP is not installed (apt-get install dovecot-core dovecot-imapd)' : false;

describe('E-mail Status on IMAP, in the browser', { skip }, () => {
  const t = translator('en');
  let browser: Browser;
  let lab: Lab;
  let imap: DovecotLab;
  let device: TestDevice;

  before(async () => {
    lab = await startLab();
    imap = await startDovecotLab({ introspection: { url: introspectionUrl(lab) }, imap: {} });
    device = await bootDevice();
    // Provider, SMTP and POP pages set up as earlier walks do; the token obtained through the panel.
    const panel = await device.panel();
    await configureOAuth(panel, lab, { pop: true });
    await obtainToken(panel, lab.auth, 'smtp');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await device?.close();
    await imap?.close();
    await lab?.close();
  });

  test('choose IMAP, save, Check Now: the fetched mail is listed; again: nothing new', { timeout: 60_000 }, async () => {
    const account = lab.auth.accounts[0]!.email;
    const subject = `Scan request ${randomUUID().slice(0, 8)}`;
    await imap.deliver(account, `From: Alice Example <alice@lab.example>\r\nTo: ${account}\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@lab.example>\r\n\r\nPlease print.\r\n`);
    const session = await adminSession(browser, device.device.url);
    await withAdminPage(browser, session, async (page) => {
      const field = (key: Parameters<typeof t>[0]) => page.getByLabel(labelPattern(t(key)));
      await page.goto(`${device.device.url}/settings/system/email-status`);
      await field('pop.port').waitFor();
      assert.equal(await field('pop.folder').isVisible(), false, 'POP3: no Folder field');

      await field('pop.protocol').selectOption({ label: t('pop.protocol.imap') });
      await field('pop.imapPort').waitFor();
      assert.equal(await field('pop.port').isVisible(), false, 'IMAP: the POP3 port is hidden');
      assert.equal(await field('pop.folder').inputValue(), 'INBOX', 'the Folder starts as INBOX');
      await field('pop.server').fill('127.0.0.1');
      await field('pop.imapPort').fill(String(imap.imapPort));
      await field('pop.ssl').selectOption({ label: t('ssl.none') });
      await page.getByRole('button', { name: t('common.save'), exact: true }).click();
      await page.getByText(t('common.saved')).waitFor();
      assert.equal(await field('pop.protocol').inputValue(), 'imap', 'saved as IMAP');

      await page.getByRole('button', { name: t('popCheck.checkNow'), exact: true }).click();
      await page.getByText(t('popCheck.result.fetched', { count: 1, total: 1 })).waitFor();
      await page.getByRole('cell', { name: subject, exact: true }).waitFor();
      await page.getByRole('cell', { name: t('imapCheck.step.fetch'), exact: true }).waitFor();
      await screenshot(page, 'imap-check-now');

      await page.getByRole('button', { name: t('popCheck.checkNow'), exact: true }).click();
      await page.getByText(t('popCheck.result.none', { total: 1 })).waitFor();
    });
  });
});
