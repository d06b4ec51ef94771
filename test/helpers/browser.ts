import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import type { AxeResults, Result as AxeViolation } from 'axe-core';
import type { Translate } from '../../server/i18n/index.js';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

/** Debian's Chromium, headless, with the flags this closed network needs (REFERENCE.md §3). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// ---- languages -----------------------------------------------------------------------------------

/** The browser's locale for each panel language (it sends Accept-Language from it). */
export const LOCALES = { en: 'en-US', ja: 'ja-JP', sv: 'sv-SE' } as const;
export type Language = keyof typeof LOCALES;
/** The languages every browser walk runs in: all the panel speaks. */
export const WALK_LANGUAGES: readonly Language[] = ['en', 'ja', 'sv'];

/** A browser context as an admin in this language would have it (desktop size; HTTPS accepted for the self-signed device). */
export async function newAdminContext(browser: Browser, lang: Language): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: LOCALES[lang], viewport: DESKTOP, ignoreHTTPSErrors: true });
  context.setDefaultTimeout(10_000);
  return context;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A form label exactly, with or without the required-field mark the panel adds ("Name *"). */
export function labelPattern(text: string): RegExp {
  return new RegExp(`^${escapeRegExp(text)}(\\s*\\*)?$`);
}

/** The catalog's text as a pattern: placeholders not given match any text. */
export function messagePattern(t: Translate, key: Parameters<Translate>[0], params: Record<string, string | number> = {}): RegExp {
  const text = t(key, params);
  return new RegExp(text.split(/\{\w+\}/).map(escapeRegExp).join('.+?'));
}

// ---- looking at every page: axe-core and screenshots ---------------------------------------------

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
export const ARTIFACTS = fileURLToPath(new URL('../../../test/artifacts/', import.meta.url));
// Injected with page.evaluate (the DevTools protocol), so the page's own CSP stays exactly as served.
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeFinding { state: string; url: string; id: string; impact: string; help: string; targets: string[] }

/**
 * Every page state a walk visits goes through look(): axe-core's violations are collected (serious
 * and critical ones fail the walk at the end, all are written to test/artifacts/), and the state is
 * photographed at desktop and phone size.
 */
export class PageReview {
  readonly findings: AxeFinding[] = [];
  readonly states: string[] = [];
  /** states wider than a phone's screen (they scroll sideways at 390 px): reported, not failed */
  readonly overflows: string[] = [];

  constructor(readonly walk: string) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  }

  async look(page: Page, state: string): Promise<void> {
    this.states.push(state);
    await page.waitForLoadState('load');
    if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
    const results = await page.evaluate(() => (window as unknown as { axe: { run(): Promise<AxeResults> } }).axe.run()) as AxeResults;
    for (const v of results.violations as AxeViolation[]) {
      this.findings.push({ state, url: new URL(page.url()).pathname, id: v.id, impact: v.impact ?? 'unknown', help: v.help, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) });
    }
    const file = (size: string) => path.join(ARTIFACTS, `${this.walk}--${String(this.states.length).padStart(2, '0')}-${state}--${size}.png`);
    await page.screenshot({ path: file('1280x900'), fullPage: true });
    await page.setViewportSize(PHONE);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > PHONE.width) this.overflows.push(`${state} (${width} px wide)`);
    await page.screenshot({ path: file('390x844'), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }

  /** Serious and critical violations, one line each (empty when axe found none). */
  blocking(): string[] {
    fs.writeFileSync(path.join(ARTIFACTS, `${this.walk}--axe.json`), `${JSON.stringify(this.findings, null, 2)}\n`);
    return this.findings
      .filter((f) => f.impact === 'serious' || f.impact === 'critical')
      .map((f) => `${f.state} (${f.url}): ${f.impact} ${f.id} — ${f.help} — ${f.targets.join(', ')}`);
  }
}

// ---- the person at the lab's sign-in pages -------------------------------------------------------

/**
 * Signs in at the lab authorization server as a person does, in the browser: enters the user code
 * when the page asks for it (Microsoft sends no link with the code in it), confirms it, signs in
 * and approves. Ends on the lab's success page (device code) or wherever the lab sends the browser
 * back to (authorization code).
 */
export async function approveAtLab(idp: Page, account: { login: string; password: string }, userCode?: string): Promise<void> {
  const heading = (name: string): Locator => idp.getByRole('heading', { name, exact: true });
  await idp.waitForLoadState();
  if (await heading('Connect a device').isVisible()) {
    if (!userCode) throw new Error('the lab asks for a user code, and none was given');
    await idp.getByLabel('Code').fill(userCode);
    await idp.getByRole('button', { name: 'Continue' }).click();
  }
  if (userCode !== undefined) {
    await heading('Confirm the device').waitFor();
    await idp.getByRole('button', { name: 'Continue' }).click();
  }
  await heading('Sign in').waitFor();
  await idp.getByLabel('Login').fill(account.login);
  await idp.getByLabel('Password').fill(account.password);
  await idp.getByRole('button', { name: 'Sign in' }).click();
  await heading('Allow access?').waitFor();
  await idp.getByRole('button', { name: 'Approve' }).click();
  await idp.waitForLoadState();
}

// ---- the keyboard alone --------------------------------------------------------------------------

/** Presses Tab until the focused element has this accessible role and name; fails after `limit` presses. */
export async function tabTo(page: Page, role: 'link' | 'button' | 'textbox' | 'combobox', name: string, limit = 60): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return null;
      const tag = el.tagName.toLowerCase();
      const role = el.getAttribute('role') ?? (tag === 'a' ? 'link' : tag === 'button' ? 'button' : tag === 'select' ? 'combobox' : tag === 'input' ? 'textbox' : tag);
      const label = (el as HTMLInputElement).labels?.[0]?.textContent ?? el.getAttribute('aria-label') ?? el.textContent ?? '';
      return { role, name: label.replace(/\s+/g, ' ').replace(/\s*\*$/, '').trim() };
    });
    if (focused && focused.role === role && focused.name === name) return;
  }
  throw new Error(`Tab did not reach the ${role} "${name}" within ${limit} presses`);
}
