/**
 * Every XOAUTH2 error code Microsoft documents (shared/seeds/DIGEST.md), returned by the lab SMTP
 * server: one forced refresh and retry, then Invalid on both pages with the code's own message and
 * remedy; the mail is held, not lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PAGE_PATHS, textOf } from '../../../firmware-sim/panel-client.js';
import { en } from '../../../server/i18n/en.js';
import { documentedReply } from '../../../server/mail/smtp-diagnosis.js';
import { bootMailDevice, obtainToken, startMailLab, waitFor, type MailDevice, type MailLab } from './sender-helpers.js';

const REPLIES = [
  '501 5.5.121 Invalid XOAUTH2 argument: not base64',
  '501 5.5.122 XOAUTH2 auth data is invalid',
  '501 5.5.123 XOAUTH2 user address missing',
  '501 5.5.124 XOAUTH2 user address is invalid',
  '501 5.5.125 XOAUTH2 auth type missing',
  '501 5.5.126 XOAUTH2 token missing',
  '501 5.5.127 Token about to expire',
  '501 5.5.128 Token expired',
  '501 5.5.129 Invalid token: wrong permissions',
  '535 5.7.3 Authentication unsuccessful',
  '535 5.7.127 Authentication failed',
  '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.',
  '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.',
  "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.",
  '535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.',
];

describe('XOAUTH2 error codes from the mail server', () => {
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

  for (const reply of REPLIES) {
    // 5.7.139's causes are told apart by the words (smtp_5.7.139_tenant, …): the table says which.
    const code = documentedReply(reply)!.code.replace(/^smtp_/, '');
    test(`${reply.slice(0, 11)} → "${en[`reason.smtp_${code}` as keyof typeof en].slice(0, 60)}…"`, async () => {
      const { panel, device } = dev;
      const { sender, events } = device.device.services;
      mail.smtp.setFault({ reply, on: 'auth' });
      try {
        await obtainToken(panel, mail);
        const attempts = mail.smtp.authAttempts.length;
        const renewed = events.list().filter((e) => e.kind === 'refreshed').length;
        const { id } = sender.enqueue({ to: 'grace@example.com', subject: `Code ${code}`, text: 'x' });

        const smtp = await panel.waitForState('smtp', ['invalid'], 10_000);
        const message = en[`reason.smtp_${code}` as keyof typeof en];
        const remedy = en[`reason.smtp_${code}.remedy` as keyof typeof en];
        assert.equal(smtp.reason, `${message} (${reply})`, 'the code\'s own message with the server\'s reply');
        assert.equal(smtp.remedy, remedy);
        const pop = await panel.tokenStatus('pop');
        assert.equal(pop.state, 'invalid');
        assert.equal(pop.reason, smtp.reason, 'the same on the POP page');
        assert.ok(textOf((await panel.get(PAGE_PATHS.smtp)).html).includes(`What to do: ${remedy}`));

        assert.equal(mail.smtp.authAttempts.length - attempts, 2, 'one sign-in, one forced refresh, one retry');
        assert.equal(events.list().filter((e) => e.kind === 'refreshed').length - renewed, 1, 'exactly one forced refresh');
        await waitFor(() => sender.outbox.get(id)?.status === 'held', 'the mail to be held');
        assert.equal(sender.outbox.get(id)?.reason?.code, `smtp_${code}`);
        assert.ok(sender.delete(id));
      } finally {
        mail.smtp.setFault(null);
        await panel.deleteToken('smtp');
      }
    });
  }

  test('after the cause is fixed: Get Token and the held mail goes out', async () => {
    const { panel, device } = dev;
    const { sender } = device.device.services;
    mail.smtp.setFault({ reply: REPLIES[11]!, on: 'auth' });
    await obtainToken(panel, mail);
    const { id } = sender.enqueue({ to: 'heidi@example.com', subject: 'Held by 5.7.139', text: 'x' });
    await panel.waitForState('smtp', ['invalid'], 10_000);
    await waitFor(() => sender.outbox.get(id)?.status === 'held', 'held');
    const home = textOf((await panel.get('/')).html);
    assert.match(home, /SMTP AUTH is turned off for the whole Microsoft 365 organization/);

    mail.smtp.setFault(null); // the tenant admin enabled SMTP AUTH
    await panel.deleteToken('smtp');
    const before = mail.smtp.received.length;
    await obtainToken(panel, mail);
    await waitFor(() => mail.smtp.received.length > before, 'delivery');
    await sender.idle();
    assert.equal(sender.outbox.get(id), undefined);
  });
});
