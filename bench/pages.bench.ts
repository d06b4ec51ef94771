/**
 * Pages under load: the SMTP page and the home page, logged in, at 50 connections (autocannon), from
 * the device under `npm run device`, against a bare Fastify app started with the same node flags that
 * serves the same bytes (the baseline, measured in the same run, one after the other). What the panel
 * adds per page — session, CSRF, settings and token reads, rendering, security headers — is the
 * difference. Goal: ratio >= 0.5 and p99 < 20 ms. Also the CPU time per page of each process, which a
 * machine shared with other work disturbs less than req/s.
 *
 * Standalone: `node dist/bench/pages.bench.js [--short]` (after a build).
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deviceEnv, deviceNodeFlags } from '../firmware-sim/device-process.js';
import { cpuMs, spawnDevice } from './spawned-device.js';

const CONNECTIONS = 50;
const PAGES = { 'SMTP page': '/settings/network/smtp', 'home page': '/' } as const;

export interface LoadFigures {
  requestsPerSecond: number;
  p99Ms: number;
  /** CPU time the server process used per page: steadier than req/s on a machine shared with others. */
  cpuMsPerPage: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, headers: Record<string, string>, seconds: number, pid: number): Promise<LoadFigures> {
  await autocannon({ url, headers, connections: CONNECTIONS, duration: 1 }); // warm-up
  const cpuBefore = cpuMs(pid);
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: seconds });
  const cpuMsPerPage = (cpuMs(pid) - cpuBefore) / result.requests.total;
  return { requestsPerSecond: result.requests.average, p99Ms: result.latency.p99, cpuMsPerPage, non2xx: result.non2xx, errors: result.errors };
}

/** Starts the bare Fastify baseline serving `pages`; returns its base URL and a stop function. */
async function startBaseline(pages: Record<string, { type: string; body: Buffer }>): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-bare-'));
  const file = path.join(dir, 'pages.json');
  fs.writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(pages).map(([p, page]) => [p, { type: page.type, base64: page.body.toString('base64') }]))));
  const script = fileURLToPath(new URL('./bare-fastify.js', import.meta.url));
  const child = spawn(process.execPath, [...deviceNodeFlags(), script, file], { env: { ...process.env, ...deviceEnv() }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the baseline exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function pagesBench(options: { seconds: number } = { seconds: 10 }): Promise<Record<string, { device: LoadFigures; baseline: LoadFigures; bytes: number }>> {
  const device = await spawnDevice();
  const results: Record<string, { device: LoadFigures; baseline: LoadFigures; bytes: number }> = {};
  try {
    const panel = await device.panel();
    const headers = { cookie: panel.cookieHeader(), accept: 'text/html' };
    const pages: Record<string, { type: string; body: Buffer }> = {};
    for (const pagePath of Object.values(PAGES)) {
      const response = await fetch(device.url + pagePath, { headers, redirect: 'manual' });
      if (response.status !== 200) throw new Error(`${pagePath} answered HTTP ${response.status}, not the page`);
      pages[pagePath] = { type: response.headers.get('content-type') ?? 'text/html', body: Buffer.from(await response.arrayBuffer()) };
    }
    const baseline = await startBaseline(pages);
    try {
      for (const [name, pagePath] of Object.entries(PAGES)) {
        const base = await load(baseline.url + pagePath, headers, options.seconds, baseline.pid);
        const measured = await load(device.url + pagePath, headers, options.seconds, device.pid);
        results[name] = { device: measured, baseline: base, bytes: pages[pagePath]!.body.length };
      }
    } finally {
      await baseline.stop();
    }
  } finally {
    await device.close();
  }
  console.log(`\nPages, logged in, ${CONNECTIONS} connections, ${options.seconds} s each (autocannon); baseline = bare Fastify with the same node flags serving the same bytes; goal ratio >= 0.5, p99 < 20 ms`);
  for (const [name, { device: d, baseline: b, bytes }] of Object.entries(results)) {
    const problems = d.non2xx + d.errors ? `   (device: ${d.non2xx} non-2xx, ${d.errors} errors)` : '';
    console.log(
      `  ${name.padEnd(10)} ${(bytes / 1024).toFixed(1)} kB  device ${d.requestsPerSecond.toFixed(0).padStart(6)} req/s p99 ${d.p99Ms.toFixed(0).padStart(4)} ms   baseline ${b.requestsPerSecond.toFixed(0).padStart(6)} req/s p99 ${b.p99Ms.toFixed(0).padStart(3)} ms   ratio ${(d.requestsPerSecond / b.requestsPerSecond).toFixed(2)}×${problems}`,
    );
    console.log(`  ${''.padEnd(19)}CPU per page: device ${d.cpuMsPerPage.toFixed(2)} ms, baseline ${b.cpuMsPerPage.toFixed(2)} ms   ratio (baseline / device) ${(b.cpuMsPerPage / d.cpuMsPerPage).toFixed(2)}×`);
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await pagesBench({ seconds: process.argv.includes('--short') ? 3 : 10 });
  process.exit(0);
}
