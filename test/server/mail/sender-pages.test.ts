/** The SMTP page's Send Test E-mail and Connection Test buttons, against the lab servers. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SMTP_REPLIES } from '../../../firmware-sim/cloud/faults.js';
import { csrfTokenOf, formValuesOf, PAGE_PATHS, textOf } from '../../../firmware-sim/panel-client.js';
import { en } from '../../../server/i18n/en.js';
import { SMTP_PASSWORD, bootMailDevice, obtainToken, saveSmtp, startMailLab, storedSecrets, xoauth2String, type MailDevice, type MailLab } from './sender-helpers.js';

/** The rows of the Connection Test's step table: label → [status, transcript]. */
function stepsOf(html: string): Map<string, { status: string; text: string }> {
  const steps = new Map<string, { status: string; text: string }>();
  for (const m of html.matchAll(/<tr class="step-(\w+)" data-step="([^"]+)">([\s\S]*?)<\/tr>/g)) steps.set(m[2]!, { status: m[1]!, text: textOf(m[3]!) });
  return steps;
}

describe('SMTP page: Send Test E-mail and Connection Test', () => {
  let mail: MailLab;
  let dev: MailDevice;
  before(async () => {
    mail = await startMailLab();
    dev = await bootMailDevice(mail);
  });
  after(async () => {
    await dev.device.close();
    await mail.close();
  });

  test('without a token: both say why and what to do; nothing is sent', async () => {
    const before = mail.smtp.connections;
    const page = await dev.panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: '' }, PAGE_PATHS.smtp);
    assert.equal(page.status, 200);
    const text = textOf(page.html);
    assert.match(text, /The test e-mail to printer@lab\.example was not sent/);
    assert.match(text, /There is no usable OAuth 2\.0 token/);
    const conn = await dev.panel.submit(`${PAGE_PATHS.smtp}/connection-test`, {}, PAGE_PATHS.smtp);
    assert.match(textOf(conn.html), /Connection test to 127\.0\.0\.1:\d+ failed/);
    assert.equal(stepsOf(conn.html).get('AUTH')?.status, 'failed');
    assert.equal(mail.smtp.connections, before, 'no connection without a token');
  });

  test('with a token: Connection Test shows each step with the replies, the token masked; Send Test E-mail reaches the typed address', async () => {
    const { panel, device, providerId } = dev;
    await obtainToken(panel, mail);
    const conn = await panel.submit(`${PAGE_PATHS.smtp}/connection-test`, {}, PAGE_PATHS.smtp);
    assert.equal(conn.status, 200);
    assert.match(textOf(conn.html), /Connection test to 127\.0\.0\.1:\d+ passed/);
    const steps = stepsOf(conn.html);
    assert.deepEqual([...steps.keys()], ['Connect', 'TLS', 'EHLO', 'AUTH', 'Result']);
    assert.equal(steps.get('Connect')?.status, 'ok');
    assert.match(steps.get('Connect')!.text, /S: 220 smtp\.lab\.example/);
    assert.equal(steps.get('TLS')?.status, 'skipped');
    assert.match(steps.get('TLS')!.text, /not used/);
    assert.equal(steps.get('EHLO')?.status, 'ok');
    assert.match(steps.get('EHLO')!.text, /C: EHLO .*S: 250/);
    assert.equal(steps.get('AUTH')?.status, 'ok');
    assert.match(steps.get('AUTH')!.text, /C: AUTH XOAUTH2 \*\*\* S: 235/);
    assert.equal(steps.get('Result')?.status, 'ok');

    const before = mail.smtp.received.length;
    const sent = await panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: 'ivan@example.com' }, PAGE_PATHS.smtp);
    assert.match(textOf(sent.html), /The test e-mail to ivan@example\.com was accepted by the server \(250/);
    assert.equal(mail.smtp.received.length, before + 1);
    assert.deepEqual(mail.smtp.received.at(-1)!.to, ['ivan@example.com']);
    assert.match(mail.smtp.received.at(-1)!.raw.toString(), /Subject: Test e-mail from the device/);

    const blank = await panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: '' }, PAGE_PATHS.smtp);
    assert.match(textOf(blank.html), /The test e-mail to printer@lab\.example was accepted/);
    const bad = await panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: 'not an address' }, PAGE_PATHS.smtp);
    assert.equal(bad.status, 400);

    const secrets = storedSecrets(device, providerId, mail.account);
    for (const html of [conn.html, sent.html, device.logs.join('\n')]) {
      for (const secret of [...secrets, ...secrets.map((s) => xoauth2String(mail.account, s))]) assert.equal(html.includes(secret), false, 'a token leaked');
    }
  });

  test('Connection Test when the server refuses SMTP AUTH (535 5.7.139): AUTH fails with the reply, one forced refresh, token Invalid with the remedy', async () => {
    const { panel } = dev;
    if ((await panel.tokenStatus('smtp')).state !== 'obtained') await obtainToken(panel, mail);
    mail.smtp.setFault({ reply: '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.', on: 'auth' });
    try {
      const attempts = mail.smtp.authAttempts.length;
      const conn = await panel.submit(`${PAGE_PATHS.smtp}/connection-test`, {}, PAGE_PATHS.smtp);
      const steps = stepsOf(conn.html);
      assert.equal(steps.get('AUTH')?.status, 'failed');
      assert.match(steps.get('AUTH')!.text, /S: 535 5\.7\.139 Authentication unsuccessful/);
      const text = textOf(conn.html);
      assert.match(text, /SMTP AUTH is turned off for the whole Microsoft 365 organization/);
      assert.match(text, /What to do: Ask the Microsoft 365 administrator to allow SMTP AUTH for the organization/);
      assert.equal(mail.smtp.authAttempts.length - attempts, 2, 'tried again once with a renewed token');
      assert.equal((await panel.tokenStatus('smtp')).state, 'invalid');
    } finally {
      mail.smtp.setFault(null);
      await panel.deleteToken('smtp');
    }
  });

  test('Connection Test after a password reset: the XOAUTH2 challenge is shown decoded, then why the token is dead', async () => {
    const { panel } = dev;
    await obtainToken(panel, mail);
    await mail.lab.auth.resetPassword(mail.account);
    const conn = await panel.submit(`${PAGE_PATHS.smtp}/connection-test`, {}, PAGE_PATHS.smtp);
    const auth = stepsOf(conn.html).get('AUTH')!;
    assert.equal(auth.status, 'failed');
    assert.match(auth.text, /S: 334 \{"status":"401","schemes":"bearer","scope":"mail\.smtp"\}/);
    assert.match(textOf(conn.html), /no longer accepts this token/);
    assert.equal((await panel.tokenStatus('smtp')).state, 'invalid');
    await panel.deleteToken('smtp');
  });

  test('SMTP-AUTH with a password: Connection Test signs in, the password never shows', async () => {
    const { panel, device } = dev;
    await saveSmtp(panel, mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: SMTP_PASSWORD });
    try {
      const conn = await panel.submit(`${PAGE_PATHS.smtp}/connection-test`, {}, PAGE_PATHS.smtp);
      const steps = stepsOf(conn.html);
      assert.equal(steps.get('AUTH')?.status, 'ok', textOf(conn.html));
      assert.match(steps.get('AUTH')!.text, /C: AUTH PLAIN \*\*\*|C: AUTH PLAIN/);
      assert.equal(conn.html.includes(SMTP_PASSWORD), false);
      assert.equal(conn.html.includes(Buffer.from(`\0${mail.account}\0${SMTP_PASSWORD}`).toString('base64')), false);

      await saveSmtp(panel, mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: 'wrong-password-1' });
      const wrong = await panel.submit(`${PAGE_PATHS.smtp}/connection-test`, {}, PAGE_PATHS.smtp);
      assert.equal(stepsOf(wrong.html).get('AUTH')?.status, 'failed');
      assert.match(textOf(wrong.html), /refused the user name or password/);
      assert.equal(wrong.html.includes('wrong-password-1'), false);
      assert.equal(device.logs.join('\n').includes(SMTP_PASSWORD), false);
    } finally {
      await saveSmtp(panel, mail, { authMethod: 'oauth2', providerId: dev.providerId, account: mail.account });
    }
  });

  test('a password the server no longer takes (5.7.30): Connection Test says so and suggests OAuth 2.0', async () => {
    const { panel } = dev;
    await saveSmtp(panel, mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: SMTP_PASSWORD });
    mail.smtp.setFault({ reply: SMTP_REPLIES['5.7.30']!, on: 'auth' });
    try {
      const text = textOf((await panel.submit(`${PAGE_PATHS.smtp}/connection-test`, {}, PAGE_PATHS.smtp)).html);
      assert.ok(text.includes(en['reason.smtp_5.7.30']), text);
      assert.ok(text.includes(`What to do: ${en['reason.smtp_5.7.30.remedy']}`));
    } finally {
      mail.smtp.setFault(null);
      await saveSmtp(panel, mail, { authMethod: 'oauth2', providerId: dev.providerId, account: mail.account });
    }
  });

  test('Send Test E-mail from an address the mailbox may not send as (5.7.60): the page says so, its button sets the Sender Address to the account, the next test goes', async () => {
    const { panel } = dev;
    if ((await panel.tokenStatus('smtp')).state !== 'obtained') await obtainToken(panel, mail);
    await saveSmtp(panel, mail, { senderAddress: 'scanner@lab.example', authMethod: 'oauth2', providerId: dev.providerId, account: mail.account });
    mail.smtp.setFault({ kind: 'send_as' });
    try {
      const refused = await panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: 'ivan@example.com' }, PAGE_PATHS.smtp);
      const text = textOf(refused.html);
      assert.ok(text.includes(en['reason.smtp_5.7.60']), text);
      assert.ok(text.includes(`Set Sender Address to ${mail.account}`), 'the button that fixes it');
      assert.equal((await panel.tokenStatus('smtp')).state, 'obtained', 'the token is not blamed');

      const fixed = await panel.request('POST', `${PAGE_PATHS.smtp}/sender-from-account`, { _csrf: csrfTokenOf(refused.html), back: 'smtp' });
      assert.ok(textOf(fixed.html).includes(`The Sender Address is now ${mail.account}`));
      assert.equal(formValuesOf(fixed.html).senderAddress, mail.account, 'the SMTP page shows the account as Sender Address');
      const before = mail.smtp.received.length;
      const sent = await panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: 'ivan@example.com' }, PAGE_PATHS.smtp);
      assert.match(textOf(sent.html), /was accepted by the server/);
      assert.equal(mail.smtp.received.at(before)?.from, mail.account);

      const again = await panel.request('POST', `${PAGE_PATHS.smtp}/sender-from-account`, { _csrf: csrfTokenOf(sent.html), back: 'smtp' });
      assert.ok(textOf(again.html).includes(en['senderFix.unavailable']), 'nothing to change: said so, nothing changed');
    } finally {
      mail.smtp.setFault(null);
    }
  });
});
