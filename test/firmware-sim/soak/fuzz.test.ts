/** The short fuzz run of npm test: ~1,000 hostile requests to every form and the bridge of a device with OAuth set up. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from '../../../firmware-sim/soak/fuzz.js';
import { freePort } from '../../../firmware-sim/free-port.js';
import { ADMIN_PASSWORD, bootDevice } from '../../helpers/device.js';

test('1,000 fuzzed posts: no 5xx, no crash, no unescaped payload, no injected header', { timeout: 120_000 }, async () => {
  const device = await bootDevice();
  try {
    // Settings that lead nowhere off this machine: a port nobody listens on, for the provider and both mail pages.
    const closed = await freePort();
    const panel = await device.panel();
    const providerId = await panel.addProvider({ name: 'Nowhere', issuerUrl: `http://127.0.0.1:${closed}`, clientId: 'fuzz', smtpScope: 'mail.smtp', popScope: 'mail.pop' });
    const account = 'fuzz@lab.example';
    assert.equal((await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: String(closed), timeout: '2', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account })).status, 200);
    assert.equal((await panel.saveSettings('pop', { server: '127.0.0.1', port: String(closed), checkInterval: '60', ssl: 'none', authMethod: 'oauth2', providerId, account })).status, 200);
    device.device.services.sender.enqueue({ kind: 'other', to: ['someone@lab.example'], subject: 'held', text: 'held' });

    const lines: string[] = [];
    const report = await runFuzz({ posts: 1000, panelUrl: device.device.url, adminPassword: ADMIN_PASSWORD, firmwareSocket: device.device.firmwareSocket, seed: Number(process.env.FUZZ_SEED) || undefined, print: (line) => void lines.push(line) });
    process.stdout.write(`# ${lines.join('\n# ')}\n`);
    assert.equal(report.requests, 1000);
    assert.deepEqual(report.failures, [], `seed ${report.seed}`);
    const statuses = Object.keys(report.byStatus).join(' ');
    assert.match(statuses, /POST \/settings\/network\/smtp 400/, 'refused saves were among them');
    assert.match(statuses, /bridge POST \/scan-to-email 202/, 'and scans the bridge took');
    assert.ok(!device.logs.some((line) => line.includes('"level":50')), 'no error logged by the device');
  } finally {
    await device.close();
  }
});
