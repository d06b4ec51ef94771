/**
 * Notifications when a token turns Invalid, against real peers: the lab's authorization server, the
 * lab's SMTP server as the SMTP-AUTH fallback (the SMTP page's own token is the dead one), and a UDP
 * syslog receiver. Each once per cause, also across a restart; bad fallback settings are refused.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startSmtpLab, type SmtpLab } from '../../../firmware-sim/cloud/smtp-server.js';
import { errorsOf, textOf, type PanelClient } from '../../../firmware-sim/panel-client.js';
import { bootDevice, configureOAuth, obtainToken, startLab, type Lab, type TestDevice } from '../../helpers/device.js';

const FALLBACK = { user: 'alerts@lab.example', password: 'fallback-smtp-password' };
const PAGE = '/settings/system/token-care';

describe('token notifications', () => {
  let lab: Lab;
  let fallback: SmtpLab;
  let syslog: dgram.Socket;
  const lines: string[] = [];
  let device: TestDevice;
  let panel: PanelClient;

  before(async () => {
    lab = await startLab();
    fallback = await startSmtpLab({ passwords: { [FALLBACK.user]: FALLBACK.password } });
    syslog = dgram.createSocket('udp4');
    syslog.on('message', (message) => lines.push(message.toString('utf8')));
    await new Promise<void>((resolve) => syslog.bind(0, '127.0.0.1', resolve));
    device = await bootDevice();
    panel = await device.panel();
    await configureOAuth(panel, lab);
    const alert = await panel.submit('/settings/system/email-alert', { enabled: 'on', recipients: 'tech@example.com', events: 'all' });
    assert.equal(alert.status, 200);
  });
  after(async () => {
    await device?.close();
    syslog?.close();
    await fallback?.close();
    await lab?.close();
  });

  const settings = () => ({
    microsoftDays: '90', googleDays: '180', customDays: '90', notifyEmail: 'on',
    fallbackServer: '127.0.0.1', fallbackPort: String(fallback.port), fallbackSsl: 'none', fallbackUser: FALLBACK.user, fallbackPassword: FALLBACK.password, fallbackSender: FALLBACK.user,
    syslog: 'udp', syslogHost: '127.0.0.1', syslogPort: String((syslog.address() as AddressInfo).port),
  });

  test('a fallback server without a sign-in is refused with the reason next to the field; nothing is saved', async () => {
    const refused = await panel.submit(PAGE, { ...settings(), fallbackUser: '', fallbackPassword: '' });
    assert.equal(refused.status, 400);
    assert.ok(errorsOf(refused.html).includes('A fallback server needs a user name, a password and a sender address.'));
    assert.ok(!textOf((await panel.get(PAGE)).html).includes('127.0.0.1'), 'nothing was saved');
    const saved = await panel.submit(PAGE, settings());
    assert.equal(saved.status, 200);
    assert.ok(!saved.html.includes(FALLBACK.password), 'the password is never shown again');
  });

  test('the SMTP token turns Invalid: one mail through the fallback to the alert recipients, one syslog line; once, also after a restart', async () => {
    await obtainToken(panel, lab.auth);
    await device.device.services.notifier.check();
    assert.equal(fallback.received.length + lines.length, 0, 'nothing to tell while the token is fine');

    await lab.auth.resetPassword(lab.auth.accounts[0]!.email);
    const key = device.device.services.accounts.keyFor('smtp')!;
    await assert.rejects(device.device.services.tokens.getAccessToken(key, { forceRefresh: true }));
    await device.device.services.notifier.check();
    for (let i = 0; i < 50 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 20));

    assert.equal(fallback.received.length, 1, 'one mail through the fallback server');
    const mail = fallback.received[0]!;
    assert.deepEqual([mail.user, mail.to], [FALLBACK.user, ['tech@example.com']]);
    const raw = mail.raw.toString('utf8');
    assert.match(raw, /^Subject: \[MFP-C131\] The SMTP token is Invalid$/m);
    assert.match(raw.replace(/=?\r\n/g, ''), /is Invalid \(invalid_grant: /);
    assert.equal(lines.length, 1, 'one syslog line');
    assert.match(lines[0]!, /^<131>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ mfp-panel - token-invalid \[token@32473 provider="Lab IdP" account="printer@lab.example" pages="SMTP"\] \ufeffMFP-C131: the OAuth 2.0 token of printer@lab\.example at Lab IdP, used by the SMTP setting, is Invalid/);
    assert.ok(!lines[0]!.includes('\n'));

    await device.device.services.notifier.check();
    device = await device.restart();
    await device.device.services.notifier.check();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual([fallback.received.length, lines.length], [1, 1], 'told once per cause, restart or not');
  });
});

describe('token notifications through the SMTP setting', () => {
  let lab: Lab;
  let smtp: SmtpLab;
  let device: TestDevice;
  let panel: PanelClient;

  before(async () => {
    lab = await startLab();
    smtp = await startSmtpLab({ passwords: { [FALLBACK.user]: FALLBACK.password } });
    device = await bootDevice();
    panel = await device.panel();
    await configureOAuth(panel, lab, { pop: true });
    // SMTP signs in with a password; only the E-mail Status page uses the OAuth token.
    const saved = await panel.saveSettings('smtp', {
      primaryServer: '127.0.0.1', port: String(smtp.port), timeout: '5', senderAddress: FALLBACK.user, ssl: 'none', authMethod: 'smtp-auth', authUser: FALLBACK.user, authPassword: FALLBACK.password,
    });
    assert.equal(saved.status, 200);
    assert.equal((await panel.submit('/settings/system/email-alert', { enabled: 'on', recipients: 'tech@example.com', events: 'all' })).status, 200);
    assert.equal((await panel.submit(PAGE, { microsoftDays: '90', googleDays: '180', customDays: '90', notifyEmail: 'on', fallbackPort: '587', fallbackSsl: 'starttls', syslog: 'off' })).status, 200);
  });
  after(async () => {
    await device?.close();
    await smtp?.close();
    await lab?.close();
  });

  test('the E-mail Status token turns Invalid: the mail goes out through the SMTP setting (the outbox), once', async () => {
    await obtainToken(panel, lab.auth, 'pop');
    await lab.auth.resetPassword(lab.auth.accounts[0]!.email);
    const key = device.device.services.accounts.keyFor('pop')!;
    await assert.rejects(device.device.services.tokens.getAccessToken(key, { forceRefresh: true }));
    await device.device.services.notifier.check();
    await device.device.services.sender.idle();
    await device.device.services.notifier.check();
    await device.device.services.sender.idle();
    assert.equal(smtp.received.length, 1, 'one mail');
    assert.deepEqual(smtp.received[0]!.to, ['tech@example.com']);
    assert.match(smtp.received[0]!.raw.toString('utf8'), /^Subject: \[MFP-C131\] The E-mail Status token is Invalid$/m);
  });
});
