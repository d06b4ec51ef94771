/**
 * The device as a benchmark runs it: `npm run device` exactly (compiled JS, the node flags and
 * environment of package.json), as its own process on a fresh data directory; and what the kernel
 * says about its memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEVICE_MAIN, deviceEnv, deviceNodeFlags } from '../firmware-sim/device-process.js';
import { freePort } from '../firmware-sim/free-port.js';
import { PanelClient } from '../firmware-sim/panel-client.js';

export const ADMIN_PASSWORD = 'bench-password-1';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export interface Rss {
  rssMb: number;
  /** Heap, malloc, stacks: what the process itself wrote. */
  anonMb: number;
  /** Pages of the node binary and libraries it touched (shared with other processes, but counted). */
  fileMb: number;
}

export function rssOf(pid: number): Rss {
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
  return { rssMb: kb('Rss') / 1024, anonMb: kb('Anonymous') / 1024, fileMb: (kb('Rss') - kb('Anonymous')) / 1024 };
}

/** CPU time (user + system) a process has used, in ms. */
export function cpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** The kernel's high-water mark of RSS (VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** Resets VmHWM to the current RSS (Linux >= 4.0); false where the kernel does not allow it. */
export function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Where the RSS lives, per mapping (the node binary, V8's heap, malloc, libraries), largest first. */
export function rssByMapping(pid: number): { name: string; rssMb: number }[] {
  const totals = new Map<string, number>();
  let current = '';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) current = path.basename(header[1] || '[anonymous]');
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss) totals.set(current, (totals.get(current) ?? 0) + Number(rss[1]));
  }
  return [...totals].map(([name, kb]) => ({ name, rssMb: kb / 1024 })).sort((a, b) => b.rssMb - a.rssMb);
}

/** Polls until `url` answers 200; the time it took is the caller's to measure. */
export async function waitForPage(url: string, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    try {
      const response = await fetch(url);
      await response.text();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(5);
  }
}

export interface SpawnedDevice {
  child: ChildProcess;
  pid: number;
  url: string;
  dataDir: string;
  /** From spawn to the login page answering. */
  firstPageMs: number;
  /** A panel client logged in as admin. */
  panel(): Promise<PanelClient>;
  rss(): Rss;
  /** Stops the process (SIGTERM); the data directory is removed unless `keepData`. */
  close(options?: { keepData?: boolean }): Promise<void>;
}

export async function spawnDevice(options: { dataDir?: string; env?: Record<string, string>; extraFlags?: string[] } = {}): Promise<SpawnedDevice> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-bench-'));
  const port = await freePort();
  const env = { ...process.env, ...deviceEnv(), PORT: String(port), HTTPS_PORT: '0', HOST: '127.0.0.1', MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: ADMIN_PASSWORD, MFP_ALLOW_HTTP: '1', LOG_LEVEL: 'warn', ...options.env };
  const started = performance.now();
  const child = spawn(process.execPath, [...deviceNodeFlags(), ...(options.extraFlags ?? []), DEVICE_MAIN], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const close = async ({ keepData = false } = {}) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    if (!keepData) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForPage(`${url}/login`, child);
  } catch (err) {
    await close({ keepData: options.dataDir !== undefined });
    throw err;
  }
  return {
    child,
    pid: child.pid!,
    url,
    dataDir,
    firstPageMs: performance.now() - started,
    async panel() {
      const panel = new PanelClient(url);
      await panel.login(ADMIN_PASSWORD);
      return panel;
    },
    rss: () => rssOf(child.pid!),
    close,
  };
}
