// Scenarios: a list of steps with expectations, run against a fresh simulated cloud and fresh
// devices (child processes), with a readable transcript of what the printer did, what the cloud
// answered and what the admin saw on the panel at each step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCloud, type Cloud, type CloudFault, type CloudOptions } from '../cloud/index.js';
import { dovecotAvailable } from '../cloud/pop3-server.js';
import type { AuthorizationServerShape } from '../cloud/authorization-server.js';
import { PAGE_PATHS, textOf, tokenLabelOf, type PanelClient, type PanelPurpose, type TokenStatusAnswer } from '../panel-client.js';
import { SimulatedPrinter, type ScanOptions } from '../printer.js';
import { configureDevice, obtainToken, pressGetToken, startSimDevice, type SimDevice } from '../sim-device.js';
import type { BridgeStatus, PopCheckAnswer, ScanToEmailAnswer } from '../bridge-client.js';

export interface ScenarioSetup {
  devices?: number;
  shape?: AuthorizationServerShape;
  /** seconds */
  accessTokenTtl?: number;
  deviceCodeTtl?: number;
  /** the scenario needs Dovecot (skipped without it) */
  pop?: boolean;
  /** the scenario needs the device's firmware bridge (skipped on a device without one) */
  bridge?: boolean;
  /** google: the app is in "Testing" at the provider (refresh tokens end 7 days after the sign-in) */
  googleTesting?: boolean;
}

export interface Step {
  title: string;
  run(ctx: ScenarioContext): Promise<void>;
}

export interface Scenario {
  name: string;
  title: string;
  /** e.g. "seed 000" */
  seed?: string;
  setup?: ScenarioSetup;
  /** the whole run, set-up included; default 60 s */
  timeoutMs?: number;
  steps: Step[];
}

export interface ScenarioResult {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  transcript: string[];
  failedStep?: string;
  error?: string;
  skipReason?: string;
}

export class ExpectationFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpectationFailed';
  }
}

export class ScenarioSkipped extends Error {}

export interface PrinterHandle {
  /** 1-based, as the CLI and transcripts count */
  number: number;
  device: SimDevice;
  panel: PanelClient;
  printer: SimulatedPrinter;
}

export interface OutboxView {
  summary: string;
  rows: { id: string; status: string; text: string }[];
}

const PURPOSE_TITLE: Record<PanelPurpose, string> = { smtp: 'SMTP page', pop: 'E-mail Status page' };
const DAY_MS = 24 * 60 * 60_000;

export interface HomeNotice {
  /** The "Needs attention" section of the home page, as text ('' when there is none). */
  text: string;
  /** The menu items that carry a badge. */
  badges: string[];
}

export class ScenarioContext {
  readonly transcript: string[] = [];
  /** what one step leaves for the next */
  readonly data: Record<string, string> = {};
  cloud!: Cloud;
  printers: PrinterHandle[] = [];
  #bridge = false;
  #clockOffsetMs = 0;

  constructor(readonly scenario: Scenario, readonly live?: (line: string) => void) {}

  get first(): PrinterHandle {
    return this.printers[0]!;
  }

  line(text: string): void {
    this.transcript.push(text);
    this.live?.(text);
  }

  /** actor: printer, cloud, panel, tech (the technician at the panel), person (the mailbox owner at the provider) */
  note(actor: string, text: string): void {
    if (actor !== 'cloud') this.flushCloud(); // what the cloud did so far comes first
    this.line(`  ${actor.padEnd(7)} ${text}`);
  }

  flushCloud(): void {
    if (!this.cloud) return;
    for (const entry of this.cloud.journal()) this.note('cloud', entry);
  }

  // ---- expectations ----

  expect(condition: unknown, what: string): void {
    this.flushCloud();
    if (!condition) throw new ExpectationFailed(what);
    this.line(`  ✓ ${what}`);
  }

  expectEqual<T>(actual: T, expected: T, what: string): void {
    this.flushCloud();
    if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new ExpectationFailed(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    this.line(`  ✓ ${what}: ${JSON.stringify(actual)}`);
  }

  expectMatch(text: string | null | undefined, pattern: RegExp | string, what: string): void {
    this.flushCloud();
    const ok = typeof pattern === 'string' ? (text ?? '').includes(pattern) : pattern.test(text ?? '');
    if (!ok) throw new ExpectationFailed(`${what}: expected ${typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern)} in ${JSON.stringify(text)}`);
    this.line(`  ✓ ${what}`);
  }

  async waitFor<T>(probe: () => Promise<T | undefined | false | null> | T | undefined | false | null, what: string, timeoutMs = 15_000, everyMs = 100): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) {
        this.flushCloud();
        this.line(`  ✓ ${what}`);
        return value;
      }
      if (Date.now() > deadline) throw new ExpectationFailed(`${what} (waited ${(timeoutMs / 1000).toFixed(1)} s)`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  // ---- the people and the printer ----

  printer(n = 1): PrinterHandle {
    const p = this.printers[n - 1];
    if (!p) throw new Error(`no printer ${n}`);
    return p;
  }

  /** The technician presses Get Token and OK; returns the code the page shows. */
  async pressGetToken(purpose: PanelPurpose = 'smtp', n = 1): Promise<string | undefined> {
    const { userCode } = await pressGetToken(this.printer(n).panel, purpose);
    this.note('tech', `${this.prefix(n)}${PURPOSE_TITLE[purpose]} › Get Token › OK${userCode ? ` → the page shows code ${userCode}` : ''}`);
    this.flushCloud();
    return userCode;
  }

  /** Get Token, and the mailbox owner approves at the provider; waits for Obtained. */
  async obtainToken(purpose: PanelPurpose = 'smtp', n = 1): Promise<void> {
    const code = await obtainToken(this.printer(n).panel, this.cloud, purpose);
    this.note('tech', `${this.prefix(n)}${PURPOSE_TITLE[purpose]} › Get Token › OK → code ${code}`);
    this.note('person', `${this.prefix(n)}signs in as ${this.cloud.account.login} at the provider and approves ${code}`);
    this.flushCloud();
  }

  async pressDelete(purpose: PanelPurpose = 'smtp', n = 1): Promise<void> {
    await this.printer(n).panel.deleteToken(purpose);
    this.note('tech', `${this.prefix(n)}${PURPOSE_TITLE[purpose]} › Delete › OK`);
  }

  async fault(f: CloudFault): Promise<void> {
    await this.cloud.setFault(f);
    this.flushCloud();
  }

  clearFaults(): void {
    this.cloud.clearFaults();
    this.flushCloud();
  }

  async scan(options: ScanOptions, n = 1): Promise<ScanToEmailAnswer> {
    const answer = await this.printer(n).printer.scan(options);
    return answer;
  }

  async popCheck(n = 1): Promise<PopCheckAnswer> {
    const answer = await this.printer(n).printer.checkPop();
    this.flushCloud();
    return answer;
  }

  async status(n = 1): Promise<BridgeStatus> {
    return this.printer(n).printer.status();
  }

  /** What the admin sees on a settings page: the token line, the reason and what to do. */
  async panelShows(purpose: PanelPurpose, n = 1, quiet = false): Promise<TokenStatusAnswer & { label: string | undefined; pageText: string }> {
    const { panel } = this.printer(n);
    const [status, page] = await Promise.all([panel.tokenStatus(purpose), panel.get(PAGE_PATHS[purpose])]);
    const label = tokenLabelOf(page.html);
    if (!quiet) {
      const parts = [`Token: ${label ?? status.stateLabel}`];
      if (status.reason) parts.push(status.reason);
      if (status.remedy) parts.push(`What to do: ${status.remedy}`);
      if (status.warning) parts.push(`Warning: ${status.warning}`);
      this.note('panel', `${this.prefix(n)}${PURPOSE_TITLE[purpose]}: ${parts.join(' — ')}`);
    }
    return { ...status, label, pageText: textOf(page.html) };
  }

  /**
   * Simulated time: the cloud's clock and every device's run `days` further ahead. Each device is
   * restarted to take up its new clock (as if switched off meanwhile); its data and ports stay.
   */
  async advanceClock(days: number): Promise<void> {
    this.#clockOffsetMs += days * DAY_MS;
    this.cloud.auth.setClockOffset(this.#clockOffsetMs);
    for (const p of this.printers) {
      const old = p.device;
      await old.stop();
      p.device = await startSimDevice({
        dataDir: old.dataDir, adminPassword: old.adminPassword, port: old.port, httpsPort: old.httpsPort, cloud: this.cloud,
        env: { MFP_LAB_CLOCK_OFFSET_MS: String(this.#clockOffsetMs) },
      });
      p.panel = await p.device.panel();
    }
    this.note('sim', `${days} days pass (simulated clock, cloud and device${this.printers.length > 1 ? 's' : ''}); the device restarts with its clock ${Math.round(this.#clockOffsetMs / DAY_MS)} days ahead`);
  }

  /** The home page's "Needs attention" notice and the menu's badges. */
  async homeNotice(n = 1, quiet = false): Promise<HomeNotice> {
    const html = (await this.printer(n).panel.get('/')).html;
    const section = /<section class="notice"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    const nav = /<nav class="menu"[\s\S]*?<\/nav>/.exec(html)?.[0] ?? '';
    const badges = [...nav.matchAll(/<a href="[^"]+"[^>]*>([^<]+) <span class="badge">/g)].map((m) => textOf(m[1]!));
    const text = textOf(section);
    if (!quiet) {
      this.note('panel', `${this.prefix(n)}Device Status › ${text || 'no notice'}`);
      if (badges.length) this.note('panel', `${this.prefix(n)}Menu: a badge on ${badges.join(', ')}`);
    }
    return { text, badges };
  }

  /**
   * The admin is told: the page reads Invalid with the provider's reason and what to do, the home
   * page has the notice with the remedy and the link, and the page's menu item a badge.
   */
  async expectInvalidAndTold(purpose: PanelPurpose, reason: RegExp | string, remedy: RegExp | string = /obtain it again/, n = 1): Promise<void> {
    const shown = await this.panelShows(purpose, n);
    const page = purpose === 'smtp' ? 'SMTP' : 'E-mail Status';
    this.expectEqual(shown.label, 'Invalid', `${PURPOSE_TITLE[purpose]} token`);
    this.expectMatch(shown.reason, reason, `${PURPOSE_TITLE[purpose]}: the reason`);
    this.expectMatch(shown.remedy, remedy, `${PURPOSE_TITLE[purpose]}: what to do`);
    const notice = await this.homeNotice(n);
    this.expectMatch(notice.text, `The ${page} token is Invalid`, 'the home page says so');
    this.expectMatch(notice.text, remedy, 'with the remedy');
    this.expectMatch(notice.text, `Open the ${page} page`, 'and the page to fix it');
    this.expect(notice.badges.includes(page), `the ${page} menu item carries a badge`);
  }

  /** The Outgoing mail section of the home page (Device Status). */
  async outbox(n = 1, quiet = false): Promise<OutboxView> {
    const html = (await this.printer(n).panel.get('/')).html;
    const section = /<section class="outbox"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    const summary = textOf(/<p class="muted">([\s\S]*?)<\/p>/.exec(section)?.[1] ?? '');
    const rows = [...section.matchAll(/<tr data-outbox-id="([^"]+)" data-outbox-status="([^"]+)">([\s\S]*?)<\/tr>/g)]
      .map((m) => ({ id: m[1]!, status: m[2]!, text: textOf(m[3]!.replace(/<td class="buttons">[\s\S]*$/, '')) }));
    if (!quiet) {
      this.note('panel', `${this.prefix(n)}Device Status › Outgoing mail: ${summary || 'No mail is waiting to be sent.'}`);
      for (const row of rows.slice(0, 5)) this.note('panel', `${this.prefix(n)}  · ${row.text}`);
      if (rows.length > 5) this.note('panel', `${this.prefix(n)}  · … ${rows.length - 5} more`);
    }
    return { summary, rows };
  }

  /** The Token Event Log page: how many events of each kind (refreshed, invalidated, unreachable…). */
  async tokenEvents(n = 1): Promise<Record<string, number>> {
    const html = (await this.printer(n).panel.get('/settings/system/token-events')).html;
    const counts: Record<string, number> = {};
    for (const m of html.matchAll(/<tr class="event-([a-z_]+)">/g)) counts[m[1]!] = (counts[m[1]!] ?? 0) + 1;
    return counts;
  }

  /** Waits until the bridge's outbox counts match (queued/held/failed). */
  async waitForOutbox(expected: { queued?: number; held?: number; failed?: number }, what: string, n = 1, timeoutMs = 15_000): Promise<BridgeStatus> {
    return this.waitFor(async () => {
      const s = await this.status(n);
      return (Object.keys(expected) as (keyof typeof expected)[]).every((k) => s.outbox[k] === expected[k]) ? s : undefined;
    }, what, timeoutMs);
  }

  /** Mail the SMTP lab accepted since `mark` (an index into cloud.smtp.received). */
  delivered(mark: number) {
    return this.cloud.smtp.received.slice(mark);
  }

  prefix(n: number): string {
    return this.printers.length > 1 ? `[printer ${n}] ` : '';
  }

  get bridgeAvailable(): boolean {
    return this.#bridge;
  }

  set bridgeAvailable(value: boolean) {
    this.#bridge = value;
  }
}

export function subjectOf(raw: Buffer): string {
  return /^Subject: (.*)$/im.exec(raw.toString('utf8'))?.[1]?.trim() ?? '';
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Runs one scenario from a fresh cloud and fresh devices; stops everything it started. */
export async function runScenario(scenario: Scenario, options: { live?: (line: string) => void; keepData?: boolean } = {}): Promise<ScenarioResult> {
  const started = Date.now();
  const ctx = new ScenarioContext(scenario, options.live);
  const setup = scenario.setup ?? {};
  ctx.line(`scenario ${scenario.name}${scenario.seed ? ` (${scenario.seed})` : ''}: ${scenario.title}`);
  if (setup.pop && !dovecotAvailable()) {
    ctx.line('  skipped: Dovecot not installed (apt-get install dovecot-core dovecot-pop3d)');
    return { name: scenario.name, status: 'skipped', ms: Date.now() - started, transcript: ctx.transcript, skipReason: 'Dovecot not installed' };
  }
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), `mfp-sim-${scenario.name}-`));
  let failedStep: string | undefined;
  let error: string | undefined;
  let skipReason: string | undefined;
  let timer: NodeJS.Timeout | undefined;

  const body = async (): Promise<void> => {
    failedStep = 'set-up';
    const cloudOptions: CloudOptions = {
      shape: setup.shape ?? 'generic',
      deviceInterval: 1,
      pop: setup.pop ?? false,
      ...(setup.accessTokenTtl !== undefined ? { accessTokenTtl: setup.accessTokenTtl } : {}),
      ...(setup.deviceCodeTtl !== undefined ? { deviceCodeTtl: setup.deviceCodeTtl } : {}),
      ...(setup.googleTesting ? { googleTesting: true } : {}),
    };
    const t0 = Date.now();
    ctx.cloud = await startCloud(cloudOptions);
    const count = setup.devices ?? 1;
    const devices = await Promise.all(Array.from({ length: count }, (_, i) => startSimDevice({
      dataDir: path.join(baseDir, `printer-${i + 1}`),
      adminPassword: 'sim-admin-password',
      cloud: ctx.cloud,
    })));
    ctx.printers = await Promise.all(devices.map(async (device, i) => {
      const panel = await device.panel();
      await configureDevice(panel, ctx.cloud, device, { checkInterval: 1 });
      const printer = new SimulatedPrinter({ socketPath: device.socketPath, name: count > 1 ? `printer ${i + 1}` : 'printer', log: (l) => ctx.note('printer', l.replace(/^printer( \d+)?: /, (_m, d: string | undefined) => (d ? `[printer${d}] ` : ''))) });
      return { number: i + 1, device, panel, printer };
    }));
    ctx.bridgeAvailable = (await Promise.all(ctx.printers.map((p) => p.printer.bridge.waitUntilUp(setup.bridge ? 5_000 : 300)))).every(Boolean);
    ctx.line(`  setup   cloud (${cloudOptions.shape}${setup.accessTokenTtl ? `, access tokens ${setup.accessTokenTtl} s` : ''}${setup.deviceCodeTtl ? `, device codes ${setup.deviceCodeTtl} s` : ''}${ctx.cloud.popPort ? ', Dovecot behind the POP fault proxy' : ''}) + ${count} device(s)${count <= 3 ? ` at ${devices.map((d) => d.url).join(', ')}` : ''}, lab registered and SMTP${ctx.cloud.popPort ? '/POP' : ''} pages filled [${seconds(Date.now() - t0)}]`);
    if (setup.bridge && !ctx.bridgeAvailable) {
      throw new ScenarioSkipped(`the device has no firmware bridge (nothing answers on ${devices[0]!.socketPath})`);
    }
    ctx.cloud.journal(); // set-up noise
    for (const [i, step] of scenario.steps.entries()) {
      failedStep = `${i + 1}. ${step.title}`;
      const s0 = Date.now();
      ctx.line(`step ${failedStep}`);
      await step.run(ctx);
      ctx.flushCloud();
      ctx.line(`  [${seconds(Date.now() - s0)}]`);
    }
    failedStep = undefined;
  };

  try {
    await Promise.race([
      body(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ExpectationFailed(`the scenario did not finish within ${seconds(scenario.timeoutMs ?? 60_000)}`)), scenario.timeoutMs ?? 60_000);
      }),
    ]);
  } catch (err) {
    if (err instanceof ScenarioSkipped) {
      skipReason = err.message;
      failedStep = undefined;
    } else {
      error = err instanceof ExpectationFailed ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    }
  } finally {
    clearTimeout(timer);
    try { ctx.flushCloud(); } catch { /* closing anyway */ }
    await Promise.allSettled(ctx.printers.map((p) => p.printer.stop()));
    await Promise.allSettled(ctx.printers.map((p) => p.device.stop()));
    await ctx.cloud?.close().catch(() => {});
    if (!options.keepData && (error === undefined)) fs.rmSync(baseDir, { recursive: true, force: true });
  }
  const ms = Date.now() - started;
  if (skipReason) {
    ctx.line(`  skipped: ${skipReason}`);
    return { name: scenario.name, status: 'skipped', ms, transcript: ctx.transcript, skipReason };
  }
  if (error !== undefined) {
    ctx.line(`FAILED at step ${failedStep}: ${error}`);
    ctx.line(`  device data and logs kept in ${baseDir}`);
    return { name: scenario.name, status: 'failed', ms, transcript: ctx.transcript, ...(failedStep ? { failedStep } : {}), error };
  }
  ctx.line(`PASSED ${scenario.name} in ${seconds(ms)}`);
  return { name: scenario.name, status: 'passed', ms, transcript: ctx.transcript };
}
