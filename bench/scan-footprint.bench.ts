/**
 * Peak RSS of the device while a 20 MB scan goes through: firmware bridge (Unix socket) → outbox →
 * lab SMTP server (auth None), for `npm run device` exactly as package.json runs it. The idle RSS of
 * the same process just before the scan is the baseline. The peak is the kernel's high-water mark
 * (VmHWM), reset to the idle RSS right before the scan (clear_refs 5) so boot does not count, and
 * sampled until the job has left the outbox.
 *
 * Standalone: `node dist/bench/scan-footprint.bench.js` (after a build); also part of `npm run bench`.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BridgeClient, bridgeSocketPath } from '../firmware-sim/bridge-client.js';
import { startSmtpLab } from '../firmware-sim/cloud/smtp-server.js';
import { DEVICE_MAIN, deviceEnv, deviceNodeFlags } from '../firmware-sim/device-process.js';
import { freePort } from '../firmware-sim/free-port.js';
import { PanelClient } from '../firmware-sim/panel-client.js';
import { ADMIN_PASSWORD, median, resetPeak, waitForPage } from './spawned-device.js';

const RUNS = 3;
const IDLE_MS = 3000;
const PDF_BYTES = 20 * 1024 * 1024;

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
}

interface Measured {
  idleMb: number;
  peakMb: number;
  afterMb: number;
  ms: number;
  peakReset: boolean;
}

async function measure(smtpPort: number, body: { to: string[]; fileName: string; pdfBase64: string; pages: number }, received: () => number): Promise<Measured> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-scan-bench-'));
  const port = await freePort();
  const env = { HTTPS_PORT: '0', HOST: '127.0.0.1', PORT: String(port), MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: ADMIN_PASSWORD, MFP_ALLOW_HTTP: '1', LOG_LEVEL: 'warn' };
  const child = spawn(process.execPath, [...deviceNodeFlags(), DEVICE_MAIN], { env: { ...process.env, ...deviceEnv(), ...env }, stdio: 'ignore' });
  try {
    await waitForPage(`http://127.0.0.1:${port}/login`, child);
    const panel = new PanelClient(`http://127.0.0.1:${port}`);
    await panel.login(ADMIN_PASSWORD);
    const saved = await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: String(smtpPort), timeout: '60', senderAddress: 'scanner@lab.example', ssl: 'none', authMethod: 'none' });
    if (saved.status !== 200) throw new Error(`saving SMTP failed: HTTP ${saved.status}`);
    const bridge = new BridgeClient(bridgeSocketPath(dataDir), 120_000);
    if (!(await bridge.waitUntilUp())) throw new Error('no firmware bridge');
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const pid = child.pid!;
    const idleKb = statusKb(pid, 'VmRSS');
    const peakReset = resetPeak(pid);
    let peakKb = statusKb(pid, 'VmHWM');
    // VmHWM is the kernel's own maximum; sampling it only guards against the process exiting early.
    const sampler = setInterval(() => {
      try {
        peakKb = Math.max(peakKb, statusKb(pid, 'VmHWM'));
      } catch {
        /* gone */
      }
    }, 10);
    const before = received();
    const started = performance.now();
    try {
      const answer = await bridge.scanToEmail(body);
      if (answer.held) throw new Error('the scan was held: SMTP not usable');
      const deadline = Date.now() + 120_000;
      while (received() === before) {
        if (child.exitCode !== null) throw new Error(`device exited with ${child.exitCode}`);
        if (Date.now() > deadline) throw new Error(`the scan was not delivered: ${JSON.stringify((await bridge.status()).outbox)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Sent = gone from the outbox (the device removes the job once the server took it).
      for (;;) {
        const { outbox } = await bridge.status();
        if (outbox.queued + outbox.held + outbox.failed === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      clearInterval(sampler);
    }
    const ms = performance.now() - started;
    peakKb = Math.max(peakKb, statusKb(pid, 'VmHWM'));
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    return { idleMb: idleKb / 1024, peakMb: peakKb / 1024, afterMb: statusKb(pid, 'VmRSS') / 1024, ms, peakReset };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function scanFootprintBench(): Promise<void> {
  // A 20 MB PDF is ~28 MB as a base64 MIME part: above the lab's default 25 MiB SIZE.
  const smtp = await startSmtpLab({ size: 64 * 1024 * 1024, authOptional: true });
  try {
    // Random bytes: incompressible, and any damage would show.
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), crypto.randomBytes(PDF_BYTES - 16), Buffer.from('\n%%EOF\n')]);
    const body = { to: ['ann@example.com', 'ben@example.com'], fileName: 'bench-scan.pdf', pdfBase64: pdf.toString('base64'), pages: 40 };
    const digest = crypto.createHash('sha256').update(pdf).digest('hex');
    const runs: Measured[] = [];
    for (let run = 0; run < RUNS; run++) {
      runs.push(await measure(smtp.port, body, () => smtp.received.length));
      // Check the delivery once per run (outside the measurement): the PDF must arrive intact.
      const raw = smtp.received.at(-1)!.raw.toString('latin1');
      const at = raw.indexOf('filename=bench-scan.pdf');
      const start = raw.indexOf('\r\n\r\n', at);
      const end = raw.indexOf('\r\n--', start);
      const out = Buffer.from(raw.slice(start + 4, end).replace(/\s+/g, ''), 'base64');
      if (crypto.createHash('sha256').update(out).digest('hex') !== digest) throw new Error('the PDF did not arrive intact');
      smtp.received.length = 0;
    }
    const m = (field: 'idleMb' | 'peakMb' | 'afterMb' | 'ms') => median(runs.map((r) => r[field]));
    const idle = m('idleMb');
    const line = (name: string, value: number) => `  ${name.padEnd(34)} ${value.toFixed(0).padStart(5)} MB   baseline (idle) ${idle.toFixed(0).padStart(4)} MB   ratio ${(value / idle).toFixed(2)}`;
    console.log(`\nScan-to-email footprint: a ${PDF_BYTES / (1024 * 1024)} MB PDF, bridge → outbox → lab SMTP (auth None), npm run device flags, median of ${RUNS}`);
    console.log(line('peak RSS (VmHWM) during the scan', m('peakMb')));
    console.log(line('RSS idle after the scan', m('afterMb')));
    console.log(`  scan request to mail sent          ${m('ms').toFixed(0).padStart(5)} ms   peaks per run: ${runs.map((r) => r.peakMb.toFixed(0)).join(', ')} MB${runs.every((r) => r.peakReset) ? '' : '   (VmHWM could not be reset: includes boot)'}`);
  } finally {
    await smtp.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await scanFootprintBench();
  process.exit(0);
}
