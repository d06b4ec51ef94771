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
import { DEVICE_MAIN, deviceEnv, deviceNodeFlags } from '../firmware-sim/device-process.js';
import { freePort } from '../firmware-sim/free-port.js';
import { ADMIN_PASSWORD, median, rssOf, waitForPage } from './spawned-device.js';

const RUNS = 3;
const IDLE_MS = 3000;

async function firstPage(url: string, child: ChildProcess, started: number): Promise<number> {
  await waitForPage(url, child);
  return performance.now() - started;
}

async function measure(
  args: string[],
  env: Record<string, string>,
  url: (port: number) => string,
  port: number,
): Promise<Measured> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, ...deviceEnv(), ...env }, stdio: 'ignore' });
  try {
    const firstPageMs = await firstPage(url(port), child, started);
    // A few more pages, then idle: what the device holds between admin visits.
    for (let i = 0; i < 10; i++) await (await fetch(url(port))).text();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    return { firstPageMs, rssMb: rssOf(child.pid!).rssMb };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

export async function deviceFootprintBench(): Promise<void> {
  const flags = deviceNodeFlags();
  const figures = { baseline: [] as Measured[], firstBoot: [] as Measured[], boot: [] as Measured[] };
  for (let run = 0; run < RUNS; run++) {
    const port = await freePort();
    figures.baseline.push(await measure([...flags, '-e', `require('node:http').createServer((q, r) => r.end('ok')).listen(${port}, '127.0.0.1')`], {}, (p) => `http://127.0.0.1:${p}/`, port));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-bench-'));
    const env = { HTTPS_PORT: '0', HOST: '127.0.0.1', MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: ADMIN_PASSWORD, MFP_ALLOW_HTTP: '1', LOG_LEVEL: 'warn' };
    // The first boot makes the device key, the database and the certificate; every later boot just starts.
    for (const list of [figures.firstBoot, figures.boot]) {
      const httpPort = await freePort();
      list.push(await measure([...flags, DEVICE_MAIN], { ...env, PORT: String(httpPort) }, (p) => `http://127.0.0.1:${p}/login`, httpPort));
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
  console.log('  (RSS after use — Get Token, mail, POP check, long idle — is the device-life benchmark below)');
}

interface Measured {
  firstPageMs: number;
  rssMb: number;
}
