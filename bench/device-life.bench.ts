/**
 * The device's RSS at each point of its life, under `npm run device` exactly: idle after the first
 * boot (which made the key, the database and the certificate), idle after a normal boot, after a Get
 * Token, after a mail, after a POP check, and after an idle period. Each figure is read a while after
 * the step (V8's memory reducer gives memory back some seconds after activity). Budget: RSS <= 64 MB
 * idle at every point.
 *
 * Standalone: `node dist/bench/device-life.bench.js [--short] [--detail]` (after a build).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAuthorizationServer } from '../firmware-sim/cloud/authorization-server.js';
import { dovecotAvailable, startDovecotLab } from '../firmware-sim/cloud/pop3-server.js';
import { startSmtpLab } from '../firmware-sim/cloud/smtp-server.js';
import { rssByMapping, sleep, spawnDevice, type Rss, type SpawnedDevice } from './spawned-device.js';

export interface LifeOptions {
  /** How long after each step RSS is read. */
  settleMs: number;
  /** The idle period at the end. */
  longIdleMs: number;
  /** Print the largest mappings at each point. */
  detail?: boolean;
}

export const LIFE_FULL: LifeOptions = { settleMs: 20_000, longIdleMs: 300_000 };
export const LIFE_SHORT: LifeOptions = { settleMs: 5_000, longIdleMs: 30_000 };

export async function deviceLifeBench(options: LifeOptions = LIFE_FULL): Promise<Record<string, Rss>> {
  const { settleMs, longIdleMs } = options;
  const auth = await startAuthorizationServer({ deviceInterval: 1 });
  const smtp = await startSmtpLab({ authorizationServer: auth });
  const introspection = new URL('/token/introspection', auth.issuer);
  introspection.username = encodeURIComponent(auth.introspector.clientId);
  introspection.password = encodeURIComponent(auth.introspector.clientSecret);
  const pop = dovecotAvailable() ? await startDovecotLab({ introspection: { url: introspection.href } }) : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-bench-'));
  const figures: Record<string, Rss> = {};
  let device: SpawnedDevice | undefined;
  const record = async (point: string) => {
    await sleep(settleMs);
    figures[point] = device!.rss();
    if (options.detail) console.log(`  ${point}: ${rssByMapping(device!.pid).slice(0, 6).map((m) => `${m.name} ${m.rssMb.toFixed(1)}`).join(', ')} MB`);
  };
  try {
    device = await spawnDevice({ dataDir });
    await (await device.panel()).get('/');
    await record('idle after the first boot');
    await device.close({ keepData: true });
    device = await spawnDevice({ dataDir });
    const panel = await device.panel();
    for (const page of ['/', '/settings/network/smtp', '/settings/system/email-status']) await panel.get(page);
    await record('idle after start (logged in, 3 pages)');
    const account = auth.accounts[0]!.email;
    const providerId = await panel.addProvider({ name: 'Lab', issuerUrl: auth.issuer, clientId: auth.device.clientId, clientSecret: auth.device.clientSecret, smtpScope: auth.scopes.smtp, popScope: auth.scopes.pop, extraScope: 'offline_access' });
    await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: String(smtp.port), timeout: '20', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account });
    if (pop) await panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '1440', ssl: 'none', authMethod: 'oauth2', providerId, account });
    await panel.getToken('smtp');
    await auth.approveDeviceCode((await panel.tokenStatus('smtp')).pending!.userCode);
    await panel.waitForState('smtp', ['obtained']);
    await record('after Get Token');
    await panel.submit('/settings/network/smtp/test-mail', {}, '/settings/network/smtp');
    await record('after a mail (Send Test E-mail)');
    if (pop) {
      for (let i = 0; i < 5; i++) await pop.deliver(account, `From: a@lab.example\r\nSubject: print ${i}\r\n\r\nPage.\r\n`);
      await panel.submit('/settings/system/email-status/check', { from: 'settings' }, '/settings/system/email-status');
      await record('after a POP check (5 new)');
    }
    await sleep(longIdleMs);
    figures[`after ${Math.round((settleMs + longIdleMs) / 1000)} s idle`] = device.rss();
  } finally {
    await device?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await Promise.all([auth.close(), smtp.close(), pop?.close()]);
  }
  const baseline = figures['idle after start (logged in, 3 pages)']!.rssMb;
  console.log(`\nDevice RSS through its life (npm run device; read ${settleMs / 1000} s after each step; baseline = idle after start; budget 64 MB)`);
  for (const [point, rss] of Object.entries(figures)) {
    console.log(`  ${point.padEnd(40)} ${rss.rssMb.toFixed(1).padStart(5)} MB  ratio ${(rss.rssMb / baseline).toFixed(2)}  (anonymous ${rss.anonMb.toFixed(1)}, file-backed ${rss.fileMb.toFixed(1)})  ${rss.rssMb <= 64 ? 'within' : 'OVER'} budget`);
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await deviceLifeBench({ ...(process.argv.includes('--short') ? LIFE_SHORT : LIFE_FULL), detail: process.argv.includes('--detail') });
  process.exit(0);
}
