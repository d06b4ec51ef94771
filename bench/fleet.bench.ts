/**
 * Scale: `npm run sim -- start --devices N --auto-approve` (the simulator CLI, compiled, as its own
 * process) on this machine. Figures: the time from the command to every device configured (sim.json
 * written), the total RSS of the fleet (devices, the simulator with its cloud, Dovecot), and mails/s
 * across the fleet: every device gets a token (Get Token; the lab approves by itself) and then
 * scans to e-mail through its firmware bridge, all devices at once, until every outbox is empty.
 *
 * Standalone: `node dist/bench/fleet.bench.js [--devices N] [--scans M]` (after a build); default 50 and 10.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BridgeClient } from '../firmware-sim/bridge-client.js';
import { freePort } from '../firmware-sim/free-port.js';
import { makePdf } from '../firmware-sim/pdf.js';
import { PanelClient } from '../firmware-sim/panel-client.js';
import { readRunState } from '../firmware-sim/run-file.js';
import { pressGetToken } from '../firmware-sim/sim-device.js';
import { cpuMs, rssOf, sleep } from './spawned-device.js';

const CLI = fileURLToPath(new URL('../firmware-sim/cli.js', import.meta.url));
const ADMIN_PASSWORD = 'fleet-bench-password';

/** Every process below `root` (its children, theirs, …), by /proc. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) if (parent === pid) found.push(child), walk(child);
  };
  walk(root);
  return found;
}

const commandOf = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');

/** Runs `tasks` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  }));
}

export async function fleetBench(options: { devices: number; scansPerDevice: number } = { devices: 50, scansPerDevice: 10 }): Promise<void> {
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-fleet-'));
  // Ports away from the defaults (a `npm start` elsewhere on the machine) and below Linux's ephemeral
  // range (32768-), where the tests' free ports come from.
  const base = 20_000 + Math.floor(Math.random() * 120) * 100;
  const ports = { PORT: base, HTTPS_PORT: base + options.devices, LAB_AUTH_PORT: await freePort(), LAB_SMTP_PORT: await freePort(), LAB_POP_PORT: await freePort(), LAB_CONTROL_PORT: await freePort() };
  const env = { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), MFP_ADMIN_PASSWORD: ADMIN_PASSWORD };
  const started = performance.now();
  const sim = spawn(process.execPath, [CLI, 'start', '--devices', String(options.devices), '--auto-approve', '--data-dir', baseDir], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let keep = false;
  sim.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    // sim.json appears as the simulator starts (it guards against a second start); `ready` is set
    // once every device is up and configured.
    while (!readRunState(baseDir)?.ready) {
      if (sim.exitCode !== null) {
        keep = true; // for the device logs the message points to
        throw new Error(`the simulator exited with ${sim.exitCode}: ${stderr.slice(-500)}`);
      }
      await sleep(100);
    }
    const startMs = performance.now() - started;
    const run = readRunState(baseDir)!;
    await sleep(10_000);
    const processes = descendants(sim.pid!).map((pid) => ({ pid, command: commandOf(pid) }));
    const sum = (list: { pid: number }[]) => list.reduce((total, { pid }) => total + rssOf(pid).rssMb, 0);
    const devices = processes.filter((p) => p.command.includes('server/main.js'));
    const dovecot = processes.filter((p) => !p.command.includes('server/main.js') && !p.command.startsWith('sh '));
    const deviceRss = sum(devices);
    const simRss = rssOf(sim.pid!).rssMb;
    const dovecotRss = sum(dovecot);

    const tokenStarted = performance.now();
    await pool(run.devices, 10, async (device) => {
      const panel = new PanelClient(device.url);
      await panel.login(ADMIN_PASSWORD);
      await pressGetToken(panel, 'smtp');
      await panel.waitForState('smtp', ['obtained'], 60_000);
    });
    const tokenMs = performance.now() - tokenStarted;

    const groups = { devices, 'simulator + cloud': [{ pid: sim.pid! }], Dovecot: dovecot };
    const cpuOf = () => Object.fromEntries(Object.entries(groups).map(([name, list]) => [name, list.reduce((total, { pid }) => total + cpuMs(pid), 0)]));
    const cpuBefore = cpuOf();
    const pdf = makePdf(2, 'Fleet').toString('base64');
    const mails = run.devices.length * options.scansPerDevice;
    const mailStarted = performance.now();
    await Promise.all(run.devices.map(async (device) => {
      const bridge = new BridgeClient(device.socketPath, 120_000);
      for (let i = 0; i < options.scansPerDevice; i++) await bridge.scanToEmail({ to: ['desk@lab.example'], fileName: 'fleet.pdf', pdfBase64: pdf, pages: 2 });
      for (;;) {
        const { outbox } = await bridge.status();
        if (outbox.failed + outbox.held > 0) throw new Error(`device ${device.number}: ${outbox.failed} failed, ${outbox.held} held`);
        if (outbox.queued === 0) break;
        await sleep(50);
      }
    }));
    const mailMs = performance.now() - mailStarted;
    const cpuAfter = cpuOf();
    const cpuUse = Object.entries(cpuAfter).map(([name, ms]) => `${name} ${((ms - cpuBefore[name]!) / mailMs).toFixed(2)} cores`).join(', ');
    console.log(`\nFleet: npm run sim -- start --devices ${run.devices.length} --auto-approve (${os.cpus().length} cores)`);
    console.log(`  start, to every device configured     ${(startMs / 1000).toFixed(1)} s (${(startMs / run.devices.length).toFixed(0)} ms per device)`);
    console.log(`  RSS, ${devices.length} device processes           ${deviceRss.toFixed(0)} MB (${(deviceRss / devices.length).toFixed(1)} MB each); simulator + cloud ${simRss.toFixed(0)} MB; Dovecot ${dovecotRss.toFixed(0)} MB (${dovecot.length} processes); total ${(deviceRss + simRss + dovecotRss).toFixed(0)} MB`);
    console.log(`  Get Token on every device (10 at a time) ${(tokenMs / 1000).toFixed(1)} s`);
    console.log(`  ${mails} scans to e-mail, all devices at once  ${((mails / mailMs) * 1000).toFixed(0)} mails/s (${(mailMs / 1000).toFixed(1)} s); CPU meanwhile: ${cpuUse}`);
  } catch (err) {
    keep = true; // each device's device.log says what went wrong
    console.error(`fleet bench failed; the devices' data directories (device.log in each) are kept under ${baseDir}`);
    throw err;
  } finally {
    if (sim.exitCode === null) {
      sim.kill('SIGTERM');
      await new Promise((resolve) => sim.once('exit', resolve));
    }
    if (!keep) fs.rmSync(baseDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback: number) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? Number(process.argv[at + 1]) : fallback;
  };
  await fleetBench({ devices: arg('--devices', 50), scansPerDevice: arg('--scans', 10) });
  process.exit(0);
}
