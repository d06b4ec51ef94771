/**
 * `npm run soak`: the standing proof that nothing queued is lost (issue 10).
 *   npm run soak -- --jobs 2000 --kills 20 [--seed 12345] [--concurrency 2] [--posts 1000]
 * Prints queued / delivered / lost / duplicated, then a fuzz run's answers by status; exits 1 when
 * any queued mail was lost or the fuzz found a 5xx, a crash, an unescaped payload or an injected header.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startSimDevice } from '../sim-device.js';
import { formatCrashSoak, runCrashSoak } from './crash-soak.js';
import { runFuzz } from './fuzz.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '200' },
    kills: { type: 'string', default: '5' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    posts: { type: 'string', default: '1000' },
    quiet: { type: 'boolean', default: false },
  },
});
const count = (name: string, raw: string | undefined, min: number): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be a whole number of at least ${min}, not "${raw}"\n`);
    process.exit(2);
  }
  return n;
};

const report = await runCrashSoak({
  jobs: count('jobs', values.jobs, 1),
  kills: count('kills', values.kills, 0),
  concurrency: count('concurrency', values.concurrency, 1),
  ...(values.seed !== undefined ? { seed: count('seed', values.seed, 0) } : {}),
  log: values.quiet ? () => {} : (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(`${formatCrashSoak(report)}\n`);

// ---- the fuzz half: hostile posts to every form and the bridge of a device whose settings lead nowhere ----
const posts = count('posts', values.posts, 0);
let fuzzFailures = 0;
if (posts > 0) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-fuzz-'));
  const device = await startSimDevice({ dataDir, adminPassword: crypto.randomBytes(12).toString('base64url') });
  try {
    const closed = await freePort();
    const panel = await device.panel();
    const providerId = await panel.addProvider({ name: 'Nowhere', issuerUrl: `http://127.0.0.1:${closed}`, clientId: 'fuzz', smtpScope: 'mail.smtp', popScope: 'mail.pop' });
    const account = 'fuzz@lab.example';
    await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: String(closed), timeout: '2', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account });
    await panel.saveSettings('pop', { server: '127.0.0.1', port: String(closed), checkInterval: '60', ssl: 'none', authMethod: 'oauth2', providerId, account });
    const fuzz = await runFuzz({
      posts, panelUrl: device.url, adminPassword: device.adminPassword, firmwareSocket: device.socketPath,
      ...(values.seed !== undefined ? { seed: count('seed', values.seed, 0) } : {}),
      print: (line) => process.stdout.write(`${line}\n`),
    });
    fuzzFailures = fuzz.failures.length;
    process.stdout.write(`fuzz: ${fuzz.requests} requests, ${fuzzFailures} failures (seed ${fuzz.seed})\n`);
  } finally {
    await device.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

process.exit(report.lost > 0 || fuzzFailures > 0 ? 1 : 0);
