/** One logged-in admin session for many browser contexts (logins are rate-limited: 5 a minute per address). */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { ARTIFACTS } from './browser.js';
import { ADMIN_PASSWORD } from './device.js';

export type SessionState = Awaited<ReturnType<BrowserContext['storageState']>>;

/** Logs in on the login page as a person does and returns the session cookie, for newContext({ storageState }). */
export async function adminSession(browser: Browser, base: string, options: BrowserContextOptions = {}): Promise<SessionState> {
  const context = await browser.newContext(options);
  try {
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Login' }).click();
    await page.waitForURL(`${base}/`);
    return await context.storageState();
  } finally {
    await context.close();
  }
}

/** Runs `use` on a fresh page of a new context with the session; the context is closed whatever happens. */
export async function withAdminPage<T>(browser: Browser, session: SessionState, use: (page: Page, context: BrowserContext) => Promise<T>, options: BrowserContextOptions = {}): Promise<T> {
  const context = await browser.newContext({ storageState: session, ...options });
  try {
    return await use(await context.newPage(), context);
  } finally {
    await context.close();
  }
}

/** A full-page screenshot into test/artifacts/ (ignored by git), to look at. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}
