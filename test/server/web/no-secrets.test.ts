/** Tokens and secrets never appear in a page, a JSON answer or a log line, whatever the admin opens. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootDevice, configureOAuth, obtainToken, startLab } from '../../helpers/device.js';

test('no token, device code or client secret in any page, JSON answer or log output', async () => {
  const lab = await startLab();
  const device = await bootDevice();
  try {
    const panel = await device.panel();
    const providerId = await configureOAuth(panel, lab, { pop: true });
    await obtainToken(panel, lab.auth, 'smtp');

    const { services } = device.device;
    const row = services.db.prepare('SELECT * FROM credentials WHERE provider_id = ?').get(Number(providerId)) as Record<string, string>;
    const secrets = [services.box.open(row.access_token_enc!), services.box.open(row.refresh_token_enc!), lab.auth.device.clientSecret];
    assert.ok(secrets.every((secret) => secret.length >= 16), 'the secrets are real values');

    const seen: string[] = [];
    for (const path of ['/', '/settings/network/smtp', '/settings/system/email-status', '/settings/network/oauth-servers', `/settings/network/oauth-servers/${providerId}`, '/settings/system/token-events']) {
      seen.push((await panel.get(path)).html);
    }
    seen.push(JSON.stringify((await panel.json('/api/token-status/smtp')).body), JSON.stringify((await panel.json('/api/token-status/pop')).body));
    seen.push((await panel.deleteToken('smtp')).html);
    const logs = device.logs.join('\n');
    assert.ok(logs.includes('token event'), 'the log did record the token lifecycle');
    for (const secret of secrets) {
      for (const text of [...seen, logs]) assert.equal(text.includes(secret), false, 'a secret leaked');
    }
  } finally {
    await device.close();
    await lab.close();
  }
});
