/**
 * The device's footprint on a printer: RSS when idle and the time from process start to the first
 * page, for `npm run device` exactly as package.json runs it. Baseline, measured in the same run: a
 * bare Node.js HTTP server started the same way (what the runtime alone costs).
 * Budget (DEVELOPERS.md): RSS <= 64 MB idle, first page <= 500 ms after start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAuthorizationServer, type AuthorizationServer } from '../firmware-sim/cloud/authorization-server.js';
import { startSmtpLab, type SmtpLab } from '../firmware-sim/cloud/smtp-server.js';
import { DEVICE_MAIN, deviceEnv, deviceNodeFlags } from '../firmware-sim/device-process.js';
import { freePort } from '../firmware-sim/free-port.js';
import { PanelClient } from '../firmware-sim/panel-client.js';
import { ADMIN_PASSWORD, median, rssOf, waitForPage } from './spawned-device.js';

const RUNS = 3;
const IDLE_MS = 3000;
/** After real use V8's memory reducer needs a little longer to give the heap back (seen: 64 → 61 MB). */
const IDLE_AFTER_USE_MS = 20_000;


const rssMb = (child: ChildProcess) => rssOf(child.pid!).rssMb;

async function firstPage(url: string, child: ChildProcess, started: number): Promise<number> {
  await waitForPage(url, child);
  return performance.now() - started;
}

/** What a device does in its first minutes of real use: a Get Token (device code) and a mail. */
async function use(port: number, lab: { auth: AuthorizationServer; smtp: SmtpLab }): Promise<void> {
  const panel = new PanelClient(`http://127.0.0.1:${port}`);
  await panel.login(ADMIN_PASSWORD);
  const account = lab.auth.accounts[0]!.email;
  const providerId = await panel.addProvider({ name: 'Lab', issuerUrl: lab.auth.issuer, clientId: lab.auth.device.clientId, clientSecret: lab.auth.device.clientSecret, smtpScope: lab.auth.scopes.smtp, popScope: lab.auth.scopes.pop });
  await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: String(lab.smtp.port), timeout: '20', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account });
  await panel.getToken('smtp');
  await lab.auth.approveDeviceCode((await panel.tokenStatus('smtp')).pending!.userCode);
  await panel.waitForState('smtp', ['obtained']);
  await panel.submit('/settings/network/smtp/test-mail', {}, '/settings/network/smtp');
}

async function measure(
  args: string[],
  env: Record<string, string>,
  url: (port: number) => string,
  port: number,
  lab?: { auth: AuthorizationServer; smtp: SmtpLab },
): Promise<Measured> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, ...deviceEnv(), ...env }, stdio: 'ignore' });
  try {
    const firstPageMs = await firstPage(url(port), child, started);
    // A few more pages, then idle: what the device holds between admin visits.
    for (let i = 0; i < 10; i++) await (await fetch(url(port))).text();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const idle = rssMb(child);
    if (!lab) return { firstPageMs, rssMb: idle, rssAfterUseMb: idle };
    await use(port, lab);
    await new Promise((resolve) => setTimeout(resolve, IDLE_AFTER_USE_MS));
    return { firstPageMs, rssMb: idle, rssAfterUseMb: rssMb(child) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

export async function deviceFootprintBench(): Promise<void> {
  const flags = deviceNodeFlags();
  const figures = { baseline: [] as Measured[], firstBoot: [] as Measured[], boot: [] as Measured[] };
  const auth = await startAuthorizationServer({ deviceInterval: 1 });
  const lab = { auth, smtp: await startSmtpLab({ authorizationServer: auth }) };
  for (let run = 0; run < RUNS; run++) {
    const port = await freePort();
    figures.baseline.push(await measure([...flags, '-e', `require('node:http').createServer((q, r) => r.end('ok')).listen(${port}, '127.0.0.1')`], {}, (p) => `http://127.0.0.1:${p}/`, port));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-bench-'));
    const env = { HTTPS_PORT: '0', HOST: '127.0.0.1', MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: ADMIN_PASSWORD, MFP_ALLOW_HTTP: '1', LOG_LEVEL: 'warn' };
    // The first boot makes the device key, the database and the certificate; every later boot just starts.
    for (const list of [figures.firstBoot, figures.boot]) {
      const httpPort = await freePort();
      list.push(await measure([...flags, DEVICE_MAIN], { ...env, PORT: String(httpPort) }, (p) => `http://127.0.0.1:${p}/login`, httpPort, list === figures.boot ? lab : undefined));
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const m = (list: Measured[], field: keyof Measured) => median(list.map((entry) => entry[field]));
  const line = (name: string, value: number, base: number, unit: string, budget?: number) =>
    `  ${name.padEnd(30)} ${value.toFixed(0).padStart(5)} ${unit}   baseline ${base.toFixed(0).padStart(4)} ${unit}   ratio ${(value / base).toFixed(2)}${budget === undefined ? '' : `   budget ${budget} ${unit}: ${value <= budget ? 'met' : 'NOT MET'}`}`;
  console.log(`\nDevice footprint (npm run device: ${Object.entries(deviceEnv()).map(([k, v]) => `${k}=${v} `).join('')}node ${flags.join(' ')}), median of ${RUNS}; baseline = a bare node http server with the same flags`);
  console.log(line('first page after start', m(figures.boot, 'firstPageMs'), m(figures.baseline, 'firstPageMs'), 'ms', 500));
  console.log(line('first page, very first boot', m(figures.firstBoot, 'firstPageMs'), m(figures.baseline, 'firstPageMs'), 'ms'));
  console.log(line('RSS idle', m(figures.boot, 'rssMb'), m(figures.baseline, 'rssMb'), 'MB', 64));
  console.log(line('RSS idle after Get Token + mail', m(figures.boot, 'rssAfterUseMb'), m(figures.baseline, 'rssMb'), 'MB'));
  await Promise.all([lab.auth.close(), lab.smtp.close()]);
}

interface Measured {
  firstPageMs: number;
  rssMb: number;
  /** After the device fetched tokens and mailed: openid-client, fetch (undici) and nodemailer are loaded. */
  rssAfterUseMb: number;
}
