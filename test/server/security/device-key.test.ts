/**
 * device.key lost (or replaced by another device's) while the database stays: the device notices at
 * start, keeps every setting, tells the admin which secrets to enter again (the Client Secret, the
 * token: Invalid with the reason), does not spin on secrets it cannot open, and sends the held mail
 * once they are entered again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PAGE_PATHS, textOf } from '../../../firmware-sim/panel-client.js';
import { en } from '../../../server/i18n/en.js';
import { bootDevice, type TestDevice } from '../../helpers/device.js';
import { bootMailDevice, obtainToken, saveSmtp, SMTP_PASSWORD, startMailLab, waitFor, type MailLab } from '../mail/sender-helpers.js';

let mail: MailLab;
let dev: TestDevice;
before(async () => {
  mail = await startMailLab();
});
after(async () => {
  await dev?.close();
  await mail?.close();
});

test('a replaced device.key: settings kept, secrets to enter again listed, token Invalid with the reason, no spinning', async () => {
  const first = await bootMailDevice(mail);
  await obtainToken(first.panel, mail);
  const dataDir = first.device.dataDir;
  const providerId = first.providerId;
  await first.device.close();

  // The key file is lost; the next start makes a new one.
  fs.rmSync(path.join(dataDir, 'device.key'));
  dev = await bootDevice(dataDir);
  dev.device.services.sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 500, holdPollMs: 100 });
  const panel = await dev.panel();

  const clientSecretItem = en['storage.keyReplaced.clientSecret'].replace('{name}', 'Lab IdP');
  const tokenItem = en['storage.keyReplaced.token'].replace('{name}', `Lab IdP · ${mail.account}`);
  const home = textOf((await panel.get('/')).html);
  assert.ok(home.includes(en['storage.keyReplaced.title']), 'the home page says secrets must be entered again');
  assert.ok(home.includes(clientSecretItem), 'the Client Secret is listed');
  assert.ok(home.includes(tokenItem), 'the token is listed');

  const smtp = await panel.tokenStatus('smtp');
  assert.equal(smtp.state, 'invalid');
  assert.equal(smtp.reason, en['reason.device_key_replaced']);
  assert.equal(smtp.remedy, en['reason.device_key_replaced.remedy']);
  const smtpPage = await panel.get(PAGE_PATHS.smtp);
  assert.match(smtpPage.html, /name="primaryServer"[^>]*value="127\.0\.0\.1"|value="127\.0\.0\.1"[^>]*name="primaryServer"/, 'the SMTP settings were kept');
  assert.ok(textOf(smtpPage.html).includes(tokenItem), 'the SMTP page names its token too');
  const providerPage = textOf((await panel.get(`/settings/network/oauth-servers/${providerId}`)).html);
  assert.ok(providerPage.includes(clientSecretItem), 'the provider page asks for its Client Secret');

  // A mail queued now is held for the token; the worker does not spin on unreadable secrets.
  const { sender, db } = dev.device.services;
  const { id } = sender.enqueue({ to: 'judy@example.com', subject: 'After the key change', text: 'x' });
  await waitFor(() => sender.outbox.get(id)?.status === 'held', 'the mail to be held');
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(dev.logs.filter((line) => line.includes('outbox worker failed')).length, 0, 'no failing worker runs');
  assert.ok(db.prepare('SELECT COUNT(*) FROM retired_secrets').pluck().get() as number >= 3, 'the old sealed values are kept, not deleted');

  // The admin enters the Client Secret again and gets a new token: the mail goes out, the notice goes.
  const saved = await panel.submit(`/settings/network/oauth-servers/${providerId}`, {
    name: 'Lab IdP', type: 'custom', endpointMode: 'discovery', issuerUrl: mail.lab.auth.issuer, grant: 'device_code', clientId: mail.lab.auth.device.clientId,
    clientSecret: mail.lab.auth.device.clientSecret, smtpScope: mail.lab.auth.scopes.smtp, popScope: mail.lab.auth.scopes.pop, extraScope: 'offline_access',
  });
  assert.equal(saved.status, 200, textOf(saved.html).slice(0, 300));
  const between = textOf((await panel.get('/')).html);
  assert.ok(!between.includes(clientSecretItem), 'the Client Secret leaves the list as soon as it is entered');
  assert.ok(between.includes(tokenItem), 'the token stays listed until it is obtained again');
  await obtainToken(panel, mail);
  await waitFor(() => sender.outbox.get(id) === undefined, 'the held mail to be sent');
  assert.ok(mail.smtp.received.some((m) => m.raw.toString().includes('Subject: After the key change')));
  assert.ok(!textOf((await panel.get('/')).html).includes(en['storage.keyReplaced.title']), 'nothing is left to enter again');
});

test('the same key at the next start: no notice', async () => {
  await dev.close();
  dev = await bootDevice(dev.dataDir);
  const panel = await dev.panel();
  assert.ok(!textOf((await panel.get('/')).html).includes(en['storage.keyReplaced.title']));
  assert.equal((await panel.tokenStatus('smtp')).state, 'obtained');
});

test('a replaced device.key and an SMTP-AUTH password: listed on the home and SMTP pages until entered again, then the mail goes', async () => {
  await dev.close();
  dev = await bootDevice();
  let panel = await dev.panel();
  await saveSmtp(panel, mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: SMTP_PASSWORD });
  await dev.close();
  fs.rmSync(path.join(dev.dataDir, 'device.key'));
  dev = await bootDevice(dev.dataDir);
  dev.device.services.sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 500, holdPollMs: 100 });
  panel = await dev.panel();

  const item = en['storage.keyReplaced.setting'].replace('{page}', en['smtp.title']).replace('{field}', en['smtp.authPassword']);
  assert.ok(textOf((await panel.get('/')).html).includes(item), 'the home page names the SMTP password');
  assert.ok(textOf((await panel.get(PAGE_PATHS.smtp)).html).includes(item), 'so does the SMTP page');
  const attemptsBefore = mail.smtp.authAttempts.length;
  const { id } = dev.device.services.sender.enqueue({ to: 'ken@example.com', subject: 'Password again', text: 'x' });
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(dev.device.services.sender.outbox.get(id), 'the mail waits');
  assert.equal(mail.smtp.authAttempts.length, attemptsBefore, 'no sign-in is tried without the password');
  assert.equal(dev.logs.filter((line) => line.includes('outbox worker failed')).length, 0);

  await saveSmtp(panel, mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: SMTP_PASSWORD });
  await waitFor(() => dev.device.services.sender.outbox.get(id) === undefined, 'the mail to be sent');
  assert.ok(!textOf((await panel.get('/')).html).includes(item), 'nothing left to enter');
});

test('the old device.key put back: the secrets it sealed are restored, the token reads Obtained again', async () => {
  await dev.close();
  const first = await bootMailDevice(mail);
  await obtainToken(first.panel, mail);
  const { dataDir } = first.device;
  await first.device.close();
  const keyFile = path.join(dataDir, 'device.key');
  const oldKey = fs.readFileSync(keyFile);

  fs.rmSync(keyFile);
  dev = await bootDevice(dataDir);
  assert.equal((await (await dev.panel()).tokenStatus('smtp')).state, 'invalid', 'with a new key: Invalid');
  await dev.close();

  fs.writeFileSync(keyFile, oldKey, { mode: 0o600 });
  dev = await bootDevice(dataDir);
  dev.device.services.sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 500, holdPollMs: 100 });
  const panel = await dev.panel();
  assert.ok(!textOf((await panel.get('/')).html).includes(en['storage.keyReplaced.title']), 'nothing to enter again');
  assert.equal((await panel.tokenStatus('smtp')).state, 'obtained');
  assert.equal(dev.device.services.providers.clientSecret(Number(first.providerId)), mail.lab.auth.device.clientSecret, 'the Client Secret is back');
  const { id } = dev.device.services.sender.enqueue({ to: 'liv@example.com', subject: 'Old key back', text: 'x' });
  await waitFor(() => dev.device.services.sender.outbox.get(id) === undefined, 'the mail to be sent with the restored token');
});
