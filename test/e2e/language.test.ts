/**
 * The panel's language, as people meet it in Chromium: the browser's own language first, the header's
 * picker for this browser session, the admin's choice of a device default, dates written in the
 * language with the time zone named.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { translator } from '../../server/i18n/index.js';
import { adminSession, screenshot, withAdminPage } from '../helpers/admin-session.js';
import { chromiumAvailable, labelPattern, launchChromium, LOCALES } from '../helpers/browser.js';
import { bootDevice, type TestDevice } from '../helpers/device.js';

const skip = chromiumAvailable() ? false : 'Chromium is not installed (apt-get install chromium)';
const en = translator('en');
const ja = translator('ja');
const sv = translator('sv');
let device: TestDevice;
let browser: Browser;

before(async () => {
  if (skip) return;
  device = await bootDevice();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await device?.close();
});

test('a Japanese browser gets the login page in Japanese; a French one falls back to the device default (English)', { skip, timeout: 60_000 }, async () => {
  const base = device.device.url;
  for (const [locale, t, lang] of [[LOCALES.ja, ja, 'ja'], ['fr-FR', en, 'en']] as const) {
    const context = await browser.newContext({ locale });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/login`);
      assert.equal(await page.locator('html').getAttribute('lang'), lang);
      assert.equal(await page.getByRole('button', { name: t('login.submit') }).count(), 1, `the login button in ${lang}`);
      assert.equal(await page.getByLabel(labelPattern(t('login.password'))).count(), 1);
      if (lang === 'ja') await screenshot(page, 'language-login-ja');
    } finally {
      await context.close();
    }
  }
});

test('the header picker switches this browser to Swedish on the same page; the choice holds across pages and beats Accept-Language', { skip, timeout: 60_000 }, async () => {
  const base = device.device.url;
  const session = await adminSession(browser, base);
  await withAdminPage(browser, session, async (page) => {
    await page.goto(`${base}/settings/network/smtp`);
    await page.getByLabel(en('language.label')).selectOption({ label: 'Svenska' });
    await page.getByRole('button', { name: en('language.apply') }).click();
    await page.waitForURL(`${base}/settings/network/smtp`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'sv');
    assert.equal(await page.getByRole('heading', { level: 1, name: sv('smtp.title') }).count(), 1, 'the same page, now in Swedish');
    assert.match(await page.locator('.breadcrumb').innerText(), /Systeminställningar › Nätverksinställningar › Serviceinställning › SMTP/);
    await screenshot(page, 'language-smtp-sv');
    // Another page: still Swedish, although the browser asks for English.
    await page.getByRole('link', { name: sv('menu.eventLog') }).click();
    assert.equal(await page.getByRole('heading', { level: 1, name: sv('events.title') }).count(), 1);
    assert.equal(await page.getByLabel(sv('language.label')).inputValue(), 'sv', 'the picker shows the language in use');
  }, { locale: LOCALES.en });
});

test('the admin makes Japanese the device default: a browser asking for no known language then gets Japanese; dates name the time zone', { skip, timeout: 60_000 }, async () => {
  const base = device.device.url;
  const session = await adminSession(browser, base);
  try {
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${base}/`);
      await page.getByLabel(en('language.label')).selectOption({ label: '日本語' });
      await page.getByLabel(en('language.makeDefault')).check();
      await page.getByRole('button', { name: en('language.apply') }).click();
      await page.waitForURL(`${base}/`);
      assert.equal(await page.getByText(ja('language.defaultSaved', { language: '日本語' })).count(), 1, 'said in the new language');
    }, { locale: LOCALES.en });
    const context = await browser.newContext({ locale: 'fr-FR' });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/login`);
      assert.equal(await page.locator('html').getAttribute('lang'), 'ja', 'the device default for a browser the panel cannot match');
    } finally {
      await context.close();
    }
    // Dates follow the language: the certificate's validity as a Japanese reader writes a day.
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${base}/settings/security/tls`);
      const validTo = await page.locator('[data-valid-to]').innerText();
      assert.match(validTo, /^\d{4}\/\d{2}\/\d{2}$/, `a Japanese date, not ISO: ${validTo}`);
    }, { locale: 'fr-FR' });
  } finally {
    // Back to English for the other tests of this file.
    await withAdminPage(browser, session, async (page) => {
      await page.goto(`${base}/`);
      await page.getByLabel(ja('language.label')).selectOption({ label: 'English' });
      await page.getByLabel(ja('language.makeDefault')).check();
      await page.getByRole('button', { name: ja('language.apply') }).click();
      await page.waitForURL(`${base}/`);
    }, { locale: 'fr-FR' });
  }
});

test('an unknown language is refused with a message and changes nothing; the picker never sends the browser elsewhere', { skip, timeout: 30_000 }, async () => {
  const base = device.device.url;
  const session = await adminSession(browser, base);
  await withAdminPage(browser, session, async (page, context) => {
    await page.goto(`${base}/`);
    const csrf = await page.locator('form.language input[name=_csrf]').inputValue();
    const refused = await context.request.post(`${base}/language`, { form: { _csrf: csrf, language: 'xx', returnTo: '/' }, maxRedirects: 0 });
    assert.equal(refused.status(), 400);
    assert.match(await refused.text(), new RegExp(en('language.unknown')));
    const elsewhere = await context.request.post(`${base}/language`, { form: { _csrf: csrf, language: 'sv', returnTo: '//evil.example/' }, maxRedirects: 0 });
    assert.equal(elsewhere.status(), 303);
    assert.equal(elsewhere.headers().location, '/');
    await page.goto(`${base}/`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'sv', 'the valid language was applied');
  }, { locale: LOCALES.en });
});
