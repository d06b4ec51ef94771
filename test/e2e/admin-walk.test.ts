/**
 * The admin's walk in a real browser (Debian's Chromium), once per provider type and language, by
 * visible labels and roles as a person finds them: log in → register the authorization server →
 * SMTP and E-mail Status settings → Get Token → OK → sign in at the lab where the type needs it →
 * Obtained on both pages → Send Test E-mail → Check Now → Delete → Not obtained on both pages.
 * Every page state is checked with axe-core and photographed into test/artifacts/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { dovecotAvailable } from '../../firmware-sim/cloud/pop3-server.js';
import { translator, type Translate } from '../../server/i18n/index.js';
import type { Grant, ProviderType } from '../../server/settings/providers.js';
import { approveAtLab, chromiumAvailable, labelPattern, launchChromium, messagePattern, newAdminContext, PageReview, WALK_LANGUAGES, type Language } from '../helpers/browser.js';
import { ADMIN_PASSWORD, bootDevice } from '../helpers/device.js';
import { startMailLab, subjectOf, type MailLab } from '../helpers/mail-lab.js';

const skip = !chromiumAvailable() ? 'Chromium is not installed (apt-get install chromium)'
  : !dovecotAvailable() ? 'Dovecot is not installed (apt-get install dovecot-core dovecot-pop3d)' : false;

interface ProviderCase {
  id: string;
  title: string;
  type: ProviderType;
  grant: Grant;
  lab: { shape: 'generic' | 'microsoft' | 'google'; appOnly?: boolean };
  /** the device over HTTPS, as the browser must come back to it from the provider */
  https?: boolean;
  /** also visit the pages outside the token flow (event log, password, TLS, E-mail Alert) */
  allPages?: boolean;
  /** fills the type's own fields of Add Authorization Server */
  fill(field: (key: Parameters<Translate>[0]) => ReturnType<Page['getByLabel']>, t: Translate, lab: MailLab): Promise<void>;
}

const CASES: ProviderCase[] = [
  {
    id: 'custom-device-code', title: 'Custom provider, device code', type: 'custom', grant: 'device_code', lab: { shape: 'generic' }, allPages: true,
    async fill(field, t, lab) {
      await field('providers.endpointMode').selectOption({ label: t('providers.endpointMode.discovery') });
      await field('providers.issuer').fill(lab.auth.issuer);
      await field('providers.grant').selectOption({ label: t('grant.device_code') });
      await field('providers.clientId').fill(lab.auth.device.clientId);
      await field('providers.clientSecret').fill(lab.auth.device.clientSecret);
      await field('providers.smtpScope').fill(lab.auth.scopes.smtp);
      await field('providers.popScope').fill(lab.auth.scopes.pop);
      assert.equal(await field('providers.extraScope').inputValue(), 'offline_access', 'offline access is asked by default');
    },
  },
  {
    id: 'microsoft365', title: 'Microsoft 365, device code', type: 'microsoft365', grant: 'device_code', lab: { shape: 'microsoft' },
    async fill(field, _t, lab) {
      await field('providers.tenant').fill(lab.auth.tenant!);
      await field('providers.clientId').fill(lab.auth.device.clientId);
    },
  },
  {
    id: 'google', title: 'Google Workspace, authorization code + PKCE over HTTPS', type: 'google', grant: 'authorization_code', lab: { shape: 'google' }, https: true,
    async fill(field, _t, lab) {
      await field('providers.clientId').fill(lab.auth.device.clientId);
      await field('providers.clientSecret').fill(lab.auth.device.clientSecret);
    },
  },
  {
    id: 'microsoft365-app', title: 'Microsoft 365 app-only, client credentials', type: 'microsoft365-app', grant: 'client_credentials', lab: { shape: 'microsoft', appOnly: true },
    async fill(field, _t, lab) {
      await field('providers.tenant').fill(lab.auth.tenant!);
      await field('providers.clientId').fill(lab.auth.appOnly!.clientId);
      await field('providers.clientSecret').fill(lab.auth.appOnly!.clientSecret);
    },
  },
];

async function walk(browser: Browser, lang: Language, kase: ProviderCase, diagnostic: (message: string) => void): Promise<void> {
  const t = translator(lang);
  const lab = await startMailLab(kase.lab);
  const env: Record<string, string> = kase.lab.shape === 'microsoft' ? { MFP_LAB_MICROSOFT_AUTHORITY: lab.auth.baseUrl }
    : kase.lab.shape === 'google' ? { MFP_LAB_GOOGLE_BASE: lab.auth.baseUrl } : {};
  const device = await bootDevice(undefined, { ...env, ...(kase.https ? { MFP_ALLOW_HTTP: '' } : {}) });
  const context = await newAdminContext(browser, lang);
  const review = new PageReview(`${kase.id}-${lang}`);
  try {
    const base = kase.https ? device.device.httpsUrl : device.device.url;
    const callback = `${base}/oauth/callback`;
    if (kase.grant === 'authorization_code') await lab.auth.addRedirectUri(callback);
    const account = lab.account.email;
    const providerName = `Lab ${kase.title}`;
    const page = await context.newPage();

    const field = (key: Parameters<Translate>[0]) => page.getByLabel(labelPattern(t(key)));
    const button = (key: Parameters<Translate>[0]) => page.getByRole('button', { name: t(key), exact: true });
    const heading = (text: string) => page.getByRole('heading', { name: text, exact: true, level: 1 });
    const menu = async (key: Parameters<Translate>[0], title: string) => {
      await page.getByRole('navigation').getByRole('link', { name: t(key), exact: true }).click();
      await heading(title).waitFor();
    };
    // The token state as words in the heading: never told by colour alone.
    const tokenState = (state: 'not_obtained' | 'awaiting_authorization' | 'obtained') =>
      page.getByRole('heading', { name: `${t('token.label')}: ${t(`token.state.${state}`)}`, exact: true });
    const shows = async (text: string | RegExp) => page.getByText(text).first().waitFor();

    // 1. Log in: a stranger asking for the SMTP page gets the login page.
    await page.goto(`${base}/settings/network/smtp`);
    await heading(t('login.title')).waitFor();
    assert.equal(new URL(page.url()).protocol, kase.https ? 'https:' : 'http:');
    await review.look(page, 'login');
    await field('login.password').fill(ADMIN_PASSWORD);
    await button('login.submit').click();
    await heading(t('home.title')).waitFor();
    await review.look(page, 'home');

    // 2. Register the authorization server through the form.
    await menu('menu.oauthServers', t('providers.title'));
    await shows(t('providers.empty'));
    await review.look(page, 'oauth-servers-empty');
    await page.getByRole('link', { name: t('providers.add'), exact: true }).click();
    await field('providers.name').fill(providerName);
    await field('providers.type').selectOption({ label: t(`providerType.${kase.type}`) });
    await kase.fill(field, t, lab);
    if (kase.grant === 'authorization_code') await shows(callback); // the exact redirect URI to register
    await review.look(page, 'oauth-server-form');
    await button('common.save').click();
    await heading(t('providers.title')).waitFor();
    await page.getByRole('link', { name: providerName, exact: true }).waitFor();
    await review.look(page, 'oauth-servers-list');

    // 3. The SMTP page: fill in and save.
    await menu('menu.smtp', t('smtp.title'));
    await field('smtp.primaryServer').fill('127.0.0.1');
    await field('smtp.port').fill(String(lab.smtp.port));
    await field('smtp.senderAddress').fill(account);
    await field('smtp.ssl').selectOption({ label: t('ssl.none') });
    await field('smtp.authMethod').selectOption({ label: t('auth.smtpAuth') });
    assert.equal(await field('smtp.authUser').isVisible(), true, 'SMTP-AUTH shows its User Name');
    await field('smtp.authMethod').selectOption({ label: t('auth.oauth2') });
    assert.equal(await field('smtp.authUser').isHidden(), true, 'OAuth 2.0 hides the SMTP-AUTH fields');
    await field('smtp.provider').selectOption({ label: providerName });
    await field('smtp.account').fill(account);
    await button('common.save').click();
    await shows(t('common.saved'));
    await tokenState('not_obtained').waitFor();
    await review.look(page, 'smtp-not-obtained');

    // 4. The E-mail Status page: the same provider and account (one token serves both).
    await menu('menu.emailStatus', t('pop.title'));
    await field('pop.server').fill('127.0.0.1');
    await field('pop.port').fill(String(lab.pop!.port));
    await field('pop.checkInterval').fill('60');
    await field('pop.ssl').selectOption({ label: t('ssl.none') });
    await field('pop.authMethod').selectOption({ label: t('auth.oauth2') });
    await field('pop.provider').selectOption({ label: providerName });
    await field('pop.account').fill(account);
    await button('common.save').click();
    await shows(t('common.saved'));
    await tokenState('not_obtained').waitFor();
    await review.look(page, 'email-status-not-obtained');

    // 5. Get Token → OK, and whatever the provider type needs of the person.
    await menu('menu.smtp', t('smtp.title'));
    await button('token.get').click();
    await heading(t('token.getConfirmTitle')).waitFor();
    await shows(t('token.getConfirm', { provider: providerName, account }));
    await shows(t('token.getConfirmShared', { pages: t('pop.title') }));
    await review.look(page, 'get-token-confirm');
    await button('common.ok').click();
    if (kase.grant === 'device_code') {
      await tokenState('awaiting_authorization').waitFor();
      await review.look(page, 'smtp-awaiting');
      const userCode = (await page.locator('[data-user-code]').textContent())!.trim();
      const verificationUri = new URL(kase.lab.shape === 'microsoft' ? '/devicelogin' : '/device', lab.auth.baseUrl).href;
      // The person opens the link the page shows (a new tab) and signs in as the mailbox.
      const [idp] = await Promise.all([context.waitForEvent('page'), page.getByRole('link', { name: verificationUri, exact: true }).click()]);
      await approveAtLab(idp, lab.account, userCode);
      await idp.getByRole('heading', { name: 'Device connected' }).waitFor();
      await idp.close();
      // The panel notices by itself, without a reload.
      await tokenState('obtained').waitFor({ timeout: 20_000 });
    } else if (kase.grant === 'authorization_code') {
      // The browser really leaves the device for the provider's sign-in page, and comes back.
      await page.waitForURL((url) => url.origin === lab.auth.baseUrl, { timeout: 10_000 });
      await approveAtLab(page, lab.account);
      await page.waitForURL(`${base}/settings/network/smtp`);
      await shows(t('token.obtainedNow'));
      await tokenState('obtained').waitFor();
    } else {
      await shows(t('token.obtainedNow'));
      await tokenState('obtained').waitFor();
    }
    await shows(`${providerName} · ${account}`);
    await review.look(page, 'smtp-obtained');
    await menu('menu.emailStatus', t('pop.title'));
    await tokenState('obtained').waitFor();
    await shows(`${providerName} · ${account}`);
    await review.look(page, 'email-status-obtained');
    await menu('menu.home', t('home.title'));
    assert.equal(await page.getByRole('cell', { name: t('token.state.obtained'), exact: true }).count(), 2, 'the home page lists both settings as Obtained');
    await review.look(page, 'home-obtained');

    // 6. Send Test E-mail: the page says the server accepted it, and the lab's server has it.
    await menu('menu.smtp', t('smtp.title'));
    await button('smtpTools.sendTest').click();
    await shows(messagePattern(t, 'smtpTools.testSent', { to: account }));
    await review.look(page, 'smtp-test-mail-sent');
    assert.equal(lab.smtp.received.length, 1, 'the lab SMTP server received the test e-mail');
    const mail = lab.smtp.received[0]!;
    assert.equal(mail.user, account, 'signed in with XOAUTH2 as the mailbox');
    assert.deepEqual(mail.to, [account], 'sent to the Sender Address');
    assert.equal(subjectOf(mail.raw), t('mail.test.subject'), 'the test mail is written in the admin\'s language');
    assert.ok(lab.smtp.authAttempts.every((a) => a.method === 'XOAUTH2' && a.ok), 'every sign-in was XOAUTH2 and accepted');

    // 7. Check Now: the test e-mail, delivered to the mailbox, is fetched from Dovecot.
    await lab.pop!.deliver(account, mail.raw);
    await menu('menu.emailStatus', t('pop.title'));
    await button('popCheck.checkNow').click();
    await shows(t('popCheck.result.fetched', { count: 1, total: 1 }));
    await page.getByRole('cell', { name: t('mail.test.subject'), exact: true }).waitFor();
    await review.look(page, 'check-now-result');
    await menu('menu.emailInbox', t('popCheck.title'));
    await page.getByRole('cell', { name: t('mail.test.subject'), exact: true }).waitFor();
    await review.look(page, 'inbox');

    // 8. Delete → OK → Not obtained on both pages.
    await menu('menu.smtp', t('smtp.title'));
    await button('token.delete').click();
    await heading(t('token.deleteConfirmTitle')).waitFor();
    await shows(t('token.deleteConfirm', { account, provider: providerName }));
    await review.look(page, 'delete-token-confirm');
    await button('common.ok').click();
    await shows(t('token.deleted'));
    await tokenState('not_obtained').waitFor();
    await review.look(page, 'smtp-deleted');
    await menu('menu.emailStatus', t('pop.title'));
    await tokenState('not_obtained').waitFor();
    await review.look(page, 'email-status-deleted');

    if (kase.allPages) {
      await menu('menu.eventLog', t('events.title'));
      for (const kind of ['event.obtained', 'event.deleted'] as const) await page.getByRole('cell', { name: t(kind), exact: true }).first().waitFor();
      await review.look(page, 'event-log');
      await menu('menu.password', t('password.title'));
      await review.look(page, 'password');
      await menu('menu.tls', t('tls.title'));
      await review.look(page, 'tls');
      await menu('menu.emailAlert', t('alert.title'));
      await review.look(page, 'email-alert');
    }

    // Issue 9: every browser Get Token logged "Reply was already sent" (the route answered twice).
    assert.deepEqual(device.logs.filter((line) => line.includes('Reply was already sent')), [], 'Get Token answers once');
  } finally {
    const blocking = review.blocking();
    diagnostic(`${review.states.length} page states looked at; axe: ${review.findings.length} violation(s), ${blocking.length} serious/critical`);
    if (review.overflows.length) diagnostic(`wider than 390 px: ${review.overflows.join(', ')}`);
    for (const f of review.findings) diagnostic(`axe ${f.impact} ${f.id} on ${f.state}: ${f.help}`);
    await context.close();
    await device.close();
    await lab.close();
    assert.deepEqual(blocking, [], 'no serious or critical accessibility violation');
  }
}

describe('the admin\'s walk in Chromium, for every provider type', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => browser?.close());

  for (const lang of WALK_LANGUAGES) {
    for (const kase of CASES) {
      test(`${kase.title} [${lang}]: log in, register, save, Get Token, Obtained on both pages, test mail, Check Now, Delete`, { timeout: 120_000 }, async (t) => {
        const started = Date.now();
        await walk(browser, lang, kase, (message) => t.diagnostic(message));
        t.diagnostic(`walk took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      });
    }
  }
});
