// One device as its own process, booted exactly as `npm run device` boots it (the same node flags,
// compiled JavaScript), on its own data directory and ports, with the lab's authority overrides for
// Microsoft- and Google-shaped labs. Every device started here is killed when this process exits,
// whatever the reason (test failure, Ctrl+C, process.exit).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { DEVICE_MAIN, deviceEnv, deviceNodeFlags } from './device-process.js';
import { bridgeSocketPath } from './bridge-client.js';
import { PanelClient } from './panel-client.js';
import type { Cloud } from './cloud/index.js';
import { freePort } from './free-port.js';

export { freePort };

export interface SimDeviceOptions {
  dataDir: string;
  adminPassword: string;
  /** default: free ports */
  port?: number;
  httpsPort?: number;
  /** the cloud whose Microsoft/Google shape the device must reach instead of the real provider */
  cloud?: Cloud;
  env?: Record<string, string>;
  bootTimeoutMs?: number;
}

export interface SimDevice {
  url: string;
  port: number;
  httpsPort: number;
  dataDir: string;
  adminPassword: string;
  socketPath: string;
  logFile: string;
  child: ChildProcess;
  /** A panel client already logged in as admin. */
  panel(): Promise<PanelClient>;
  stop(): Promise<void>;
}

const alive = new Map<ChildProcess, ChildProcess /* its watchdog */>();
let hooked = false;
function killOnExit(child: ChildProcess): void {
  alive.set(child, watchdog(child));
  child.once('exit', () => {
    alive.get(child)?.kill('SIGKILL');
    alive.delete(child);
  });
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const [c, dog] of alive) {
      try { dog.kill('SIGKILL'); c.kill('SIGKILL'); } catch { /* already gone */ }
    }
  });
}

// A SIGKILLed simulator runs no exit hook. The watchdog shell notices its death as EOF on its stdin
// pipe (the kernel closes it) and stops the device, which would otherwise keep its ports and make the
// next start fail. `read` is a shell builtin: one small process per device, nothing else to clean up.
const WATCHDOG = 'read -r _; kill -TERM "$1" 2>/dev/null || exit 0; for _ in 1 2 3 4 5 6 7 8 9 10; do sleep 0.5; kill -0 "$1" 2>/dev/null || exit 0; done; kill -KILL "$1"';

function watchdog(child: ChildProcess): ChildProcess {
  const dog = spawn('/bin/sh', ['-c', WATCHDOG, 'device-watchdog', String(child.pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
  dog.unref();
  (dog.stdin as net.Socket).unref();
  dog.on('error', () => { /* no /bin/sh: only the kill -9 case is left uncovered */ });
  return dog;
}

export function labAuthorityEnv(cloud: Cloud | undefined): Record<string, string> {
  if (!cloud) return {};
  if (cloud.auth.shape === 'microsoft') return { MFP_LAB_MICROSOFT_AUTHORITY: cloud.auth.baseUrl };
  if (cloud.auth.shape === 'google') return { MFP_LAB_GOOGLE_BASE: cloud.auth.baseUrl };
  return {};
}

export async function startSimDevice(options: SimDeviceOptions): Promise<SimDevice> {
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const port = options.port ?? (await freePort());
  const httpsPort = options.httpsPort ?? (await freePort());
  const logFile = path.join(options.dataDir, 'device.log');
  const log = fs.openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...deviceEnv(), // the NAME=value words of `npm run device` (e.g. MALLOC_MMAP_THRESHOLD_)
    ...labAuthorityEnv(options.cloud),
    ...options.env,
    PORT: String(port),
    HTTPS_PORT: String(httpsPort),
    HOST: '127.0.0.1',
    MFP_DATA_DIR: options.dataDir,
    MFP_ADMIN_PASSWORD: options.adminPassword,
    MFP_ALLOW_HTTP: '1',
  };
  const child = spawn(process.execPath, [...deviceNodeFlags(), DEVICE_MAIN], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  killOnExit(child);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  async function stop(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  try {
    const deadline = Date.now() + (options.bootTimeoutMs ?? 30_000);
    for (;;) {
      if (child.exitCode !== null) {
        const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
        throw new Error(`the device exited with code ${child.exitCode}; see ${logFile}\n${tail}`);
      }
      try {
        const response = await fetch(new URL('/login', url));
        await response.body?.cancel();
        if (response.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the device at ${url} did not answer within ${options.bootTimeoutMs ?? 30_000} ms; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    port,
    httpsPort,
    dataDir: options.dataDir,
    adminPassword: options.adminPassword,
    socketPath: bridgeSocketPath(options.dataDir, { ...options.env }),
    logFile,
    child,
    async panel() {
      const panel = new PanelClient(url);
      await panel.login(options.adminPassword);
      return panel;
    },
    stop,
  };
}

export const LAB_PROVIDER_NAME = 'Lab IdP (simulated)';

/**
 * What `npm start` does at first boot: registers the cloud's authorization server on the device
 * (as the shape's provider type) and fills in the SMTP and E-mail Status pages, through the forms.
 */
export async function configureDevice(panel: PanelClient, cloud: Cloud, device: { url: string }, options: { checkInterval?: number; senderName?: string } = {}): Promise<string> {
  const { auth } = cloud;
  let fields: Record<string, string>;
  if (auth.shape === 'microsoft') {
    fields = { name: LAB_PROVIDER_NAME, type: 'microsoft365', tenant: auth.tenant!, clientId: auth.device.clientId };
  } else if (auth.shape === 'google') {
    await auth.addRedirectUri(`${device.url}/oauth/callback`);
    fields = { name: LAB_PROVIDER_NAME, type: 'google', clientId: auth.device.clientId, clientSecret: auth.device.clientSecret };
  } else {
    fields = {
      name: LAB_PROVIDER_NAME, type: 'custom', issuerUrl: auth.issuer, clientId: auth.device.clientId, clientSecret: auth.device.clientSecret,
      smtpScope: auth.scopes.smtp, popScope: auth.scopes.pop, extraScope: 'offline_access',
    };
  }
  const providerId = await panel.addProvider(fields);
  const account = cloud.account.email;
  const smtp = await panel.saveSettings('smtp', {
    primaryServer: '127.0.0.1', port: String(cloud.smtp.port), timeout: '20', senderName: options.senderName ?? 'MFP lab scanner', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account,
  });
  if (smtp.status !== 200) throw new Error(`saving the SMTP page failed: HTTP ${smtp.status}`);
  if (cloud.popPort !== undefined) {
    const pop = await panel.saveSettings('pop', { server: '127.0.0.1', port: String(cloud.popPort), checkInterval: String(options.checkInterval ?? 5), ssl: 'none', authMethod: 'oauth2', providerId, account });
    if (pop.status !== 200) throw new Error(`saving the E-mail Status page failed: HTTP ${pop.status}`);
  }
  return providerId;
}

/** The Check Interval of the E-mail Status page (minutes), as saved; undefined when POP is not set up. */
export async function popCheckInterval(panel: PanelClient): Promise<number | undefined> {
  const html = (await panel.get('/settings/system/email-status')).html;
  const value = /name="checkInterval"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="checkInterval"/.exec(html);
  const n = Number(value?.[1] ?? value?.[2]);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * The technician presses Get Token (and OK) on a page; for the device-code flow returns the code the
 * page shows; for Google's browser sign-in, the authorization URL the device sends the browser to.
 */
export async function pressGetToken(panel: PanelClient, purpose: 'smtp' | 'pop'): Promise<{ userCode?: string; authorizationUrl?: string }> {
  const pagePath = purpose === 'smtp' ? '/settings/network/smtp' : '/settings/system/email-status';
  const page = await panel.get(pagePath);
  const match = /name="_csrf" value="([^"]+)"/.exec(page.html);
  if (!match) throw new Error('the page has no form with a CSRF token');
  const response = await panel.request('POST', `${pagePath}/token/get`, { _csrf: match[1]!, confirm: 'ok' }, 0);
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location && /^https?:/.test(location) && !location.startsWith(panel.baseUrl)) {
    return { authorizationUrl: location };
  }
  if (location) await panel.get(location);
  const status = await panel.tokenStatus(purpose);
  return status.pending ? { userCode: status.pending.userCode } : {};
}

/** Get Token, then the mailbox owner approves at the (simulated) provider; waits for Obtained. */
export async function obtainToken(panel: PanelClient, cloud: Cloud, purpose: 'smtp' | 'pop' = 'smtp', timeoutMs = 20_000): Promise<string> {
  const started = await pressGetToken(panel, purpose);
  if (started.authorizationUrl) {
    const callback = await cloud.auth.approveAuthorization(started.authorizationUrl);
    await panel.get(callback.slice(callback.indexOf('/oauth/callback')));
  } else if (started.userCode) {
    await cloud.auth.approveDeviceCode(started.userCode);
  } else {
    const status = await panel.tokenStatus(purpose);
    if (status.state !== 'obtained') throw new Error(`Get Token gave no code: the token is ${status.state}${status.reason ? ` (${status.reason})` : ''}`);
  }
  await panel.waitForState(purpose, ['obtained'], timeoutMs);
  return started.userCode ?? 'browser sign-in';
}
