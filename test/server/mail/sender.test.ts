/**
 * The mail sender against real peers: the lab authorization server (oidc-provider) and the lab SMTP
 * server checking XOAUTH2 tokens by introspection. Nothing is mocked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PAGE_PATHS, textOf } from '../../../firmware-sim/panel-client.js';
import { bootMailDevice, messageIdOf, obtainToken, startMailLab, storedSecrets, waitFor, xoauth2String, type MailLab } from './sender-helpers.js';

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

describe('mail sender with XOAUTH2 (token 1 h)', () => {
  let mail: MailLab;
  before(async () => {
    mail = await startMailLab();
  });
  after(async () => mail.close());

  test('scan-to-email with a PDF goes out with the token from the store; nothing secret in logs or pages', async () => {
    const { device, panel, providerId } = await bootMailDevice(mail);
    try {
      await obtainToken(panel, mail);
      const { sender } = device.device.services;
      const before = mail.smtp.received.length;
      const { id } = sender.enqueue({ kind: 'scan', to: 'alice@example.com', subject: 'Scan 0001', text: 'Scanned document attached.', attachments: [{ filename: 'scan0001.pdf', contentType: 'application/pdf', content: PDF }] });
      assert.ok(sender.outbox.get(id), 'the job is in the outbox before anything is sent');
      await waitFor(() => mail.smtp.received.length > before, 'the mail to arrive');
      await sender.idle();
      const received = mail.smtp.received.at(-1)!;
      assert.deepEqual(received.to, ['alice@example.com']);
      assert.equal(received.from, mail.account);
      assert.equal(received.user, mail.account, 'signed in as the account with XOAUTH2');
      const raw = received.raw.toString('utf8');
      assert.match(raw, /Subject: Scan 0001/);
      assert.match(raw, /filename=scan0001\.pdf/);
      assert.ok(raw.includes(PDF.toString('base64').slice(0, 40)), 'the PDF is attached');
      assert.equal(sender.outbox.get(id), undefined, 'removed from the outbox once accepted');
      assert.equal(mail.smtp.authAttempts.at(-1)?.method, 'XOAUTH2');
      assert.equal(mail.smtp.authAttempts.at(-1)?.ok, true);

      const secrets = storedSecrets(device, providerId, mail.account);
      assert.equal(secrets.length, 2);
      const forbidden = [...secrets, ...secrets.map((secret) => xoauth2String(mail.account, secret))];
      const seen = [device.logs.join('\n')];
      for (const path of ['/', PAGE_PATHS.smtp, PAGE_PATHS.pop]) seen.push((await panel.get(path)).html);
      for (const text of seen) for (const secret of forbidden) assert.equal(text.includes(secret), false, 'a token or XOAUTH2 string leaked');
      assert.ok(device.logs.some((line) => line.includes('mail sent')), 'the log records the delivery');
    } finally {
      await device.close();
    }
  });

  test('200 recipients → 4 batches of 50 on one SMTP session, each recipient once', async () => {
    const { device, panel } = await bootMailDevice(mail, { pop: false });
    try {
      await obtainToken(panel, mail);
      const { sender } = device.device.services;
      const recipients = Array.from({ length: 200 }, (_, i) => `user${i}@example.com`);
      const connections = mail.smtp.connections;
      const before = mail.smtp.received.length;
      sender.enqueue({ kind: 'alert', to: recipients.slice(0, 10), bcc: recipients.slice(10), subject: 'Toner low', text: 'Replace the black toner.' });
      await waitFor(() => mail.smtp.received.length >= before + 4, 'four batches');
      await sender.idle();
      const batches = mail.smtp.received.slice(before);
      assert.equal(batches.length, 4);
      assert.deepEqual(batches.map((b) => b.to.length), [50, 50, 50, 50]);
      assert.deepEqual(batches.flatMap((b) => b.to).sort(), [...recipients].sort(), 'every recipient exactly once');
      assert.equal(new Set(batches.map((b) => b.sessionId)).size, 1, 'all batches on the same session');
      assert.equal(mail.smtp.connections - connections, 1, 'one connection');
      assert.equal(new Set(batches.map((b) => messageIdOf(b.raw))).size, 1, 'one message, one Message-ID');
      assert.ok(!batches[0]!.raw.toString().includes('user199@example.com'), 'Bcc recipients are not in the headers');
    } finally {
      await device.close();
    }
  });

  test('password reset at the provider → Invalid on SMTP and POP with the remedy, outbox held → Delete → Get Token → drains, each mail once', async () => {
    const { device, panel } = await bootMailDevice(mail);
    try {
      await obtainToken(panel, mail);
      const { sender } = device.device.services;
      assert.ok((await mail.lab.auth.resetPassword(mail.account)) > 0, 'the grant was destroyed');
      const before = mail.smtp.received.length;
      const ids = [1, 2, 3].map((n) => sender.enqueue({ kind: 'scan', to: `bob${n}@example.com`, subject: `Held ${n}`, text: 'x' }).id);

      const smtp = await panel.waitForState('smtp', ['invalid'], 15_000);
      assert.match(smtp.reason ?? '', /no longer accepts this token/);
      assert.match(smtp.remedy ?? '', /Delete the token and obtain it again/);
      const pop = await panel.tokenStatus('pop');
      assert.equal(pop.state, 'invalid', 'the POP page shares the token');
      assert.equal(pop.reason, smtp.reason);
      const popPage = textOf((await panel.get(PAGE_PATHS.pop)).html);
      assert.match(popPage, /Token: Invalid/);
      assert.match(popPage, /What to do: Delete the token and obtain it again/);

      await waitFor(() => ids.every((id) => sender.outbox.get(id)?.status === 'held'), 'all jobs held');
      assert.equal(mail.smtp.received.length, before, 'nothing sent');
      const home = textOf((await panel.get('/')).html);
      assert.match(home, /Held 1/);
      assert.match(home, /Waiting for a usable OAuth 2\.0 token/);
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.ok(ids.every((id) => sender.outbox.get(id)?.status === 'held'), 'still held, not dropped');

      await panel.deleteToken('smtp');
      assert.ok(ids.every((id) => sender.outbox.get(id)?.status === 'held'), 'Delete keeps the mail');
      await obtainToken(panel, mail);
      await waitFor(() => mail.smtp.received.length >= before + 3, 'the held mail to drain');
      await sender.idle();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const subjects = mail.smtp.received.slice(before).map((m) => /Subject: (.*)/.exec(m.raw.toString())?.[1]?.trim());
      assert.deepEqual(subjects.sort(), ['Held 1', 'Held 2', 'Held 3'], 'each held mail delivered exactly once');
      assert.deepEqual(sender.list(), [], 'the outbox is empty');
    } finally {
      await device.close();
    }
  });

  test('550 for the recipient → failed with the server reply, not retried; Retry and Delete on the home page', async () => {
    const { device, panel } = await bootMailDevice(mail, { pop: false });
    try {
      await obtainToken(panel, mail);
      const { sender } = device.device.services;
      mail.smtp.setFault({ reply: '550 5.1.1 User unknown', on: 'rcpt' });
      const { id } = sender.enqueue({ to: 'nobody@example.com', subject: 'Bounce me', text: 'x' });
      await waitFor(() => sender.outbox.get(id)?.status === 'failed', 'the job to fail');
      mail.smtp.setFault(null);
      const job = sender.outbox.get(id)!;
      assert.equal(job.reason?.code, 'smtp_recipient_rejected');
      assert.match(job.reason?.detail ?? '', /550 5\.1\.1 User unknown/);
      const attempts = mail.smtp.authAttempts.length;
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(sender.outbox.get(id)?.status, 'failed', 'not retried by itself');
      assert.equal(mail.smtp.authAttempts.length, attempts);
      assert.equal((await panel.tokenStatus('smtp')).state, 'obtained', 'a bad recipient says nothing about the token');

      let home = textOf((await panel.get('/')).html);
      assert.match(home, /Bounce me/);
      assert.match(home, /Failed/);
      assert.match(home, /refused the recipient address/);
      assert.match(home, /550 5\.1\.1 User unknown/);

      // Retry (the mailbox was fixed meanwhile): delivered.
      const before = mail.smtp.received.length;
      home = textOf((await panel.submit(`/outbox/${id}/retry`, {}, '/')).html);
      assert.match(home, /The mail was queued again/);
      await waitFor(() => mail.smtp.received.length > before, 'the retried mail');
      await sender.idle();
      assert.equal(sender.outbox.get(id), undefined);

      // Delete a failed one.
      mail.smtp.setFault({ reply: '550 5.1.1 User unknown', on: 'rcpt' });
      const second = sender.enqueue({ to: 'ghost@example.com', subject: 'Delete me', text: 'x' }).id;
      await waitFor(() => sender.outbox.get(second)?.status === 'failed', 'the second job to fail');
      mail.smtp.setFault(null);
      home = textOf((await panel.submit(`/outbox/${second}/delete`, {}, '/')).html);
      assert.match(home, /deleted from the outbox/);
      assert.equal(sender.outbox.get(second), undefined);
      assert.doesNotMatch(home, /Delete me/);
    } finally {
      mail.smtp.setFault(null);
      await device.close();
    }
  });

  test('454 on AUTH is temporary: retried with backoff, delivered, the token stays Obtained', async () => {
    const { device, panel } = await bootMailDevice(mail, { pop: false });
    try {
      await obtainToken(panel, mail);
      const { sender } = device.device.services;
      mail.smtp.setFault({ reply: '454 4.7.0 Temporary authentication failure', on: 'auth', count: 2 });
      const before = mail.smtp.received.length;
      const { id } = sender.enqueue({ to: 'carol@example.com', subject: 'After 454', text: 'x' });
      await waitFor(() => mail.smtp.received.length > before, 'delivery after the temporary failures');
      await sender.idle();
      assert.equal(sender.outbox.get(id), undefined);
      assert.equal((await panel.tokenStatus('smtp')).state, 'obtained');
      assert.equal(mail.smtp.received.length, before + 1, 'delivered once');
    } finally {
      mail.smtp.setFault(null);
      await device.close();
    }
  });

  test('restart with queued mail → sent after boot, each once', async () => {
    let { device, panel } = await bootMailDevice(mail, { pop: false });
    try {
      await obtainToken(panel, mail);
      mail.smtp.setFault({ kind: 'drop' });
      const { sender } = device.device.services;
      sender.setRetryPolicy({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
      const ids = [1, 2].map((n) => sender.enqueue({ to: `dave${n}@example.com`, subject: `Reboot ${n}`, text: 'x' }).id);
      await waitFor(() => ids.every((id) => (sender.outbox.get(id)?.attempts ?? 0) >= 1), 'a failed attempt each');
      assert.ok(ids.every((id) => sender.outbox.get(id)?.status === 'queued' && sender.outbox.get(id)!.nextAttemptAt > Date.now() + 10_000), 'waiting for a retry in the future');
      const before = mail.smtp.received.length;
      mail.smtp.setFault(null);
      device = await device.restart();
      panel = await device.panel();
      const restarted = device.device.services.sender;
      await waitFor(() => mail.smtp.received.length >= before + 2, 'the queued mail after boot', 10_000);
      await restarted.idle();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const subjects = mail.smtp.received.slice(before).map((m) => /Subject: (.*)/.exec(m.raw.toString())?.[1]?.trim()).sort();
      assert.deepEqual(subjects, ['Reboot 1', 'Reboot 2']);
      assert.deepEqual(restarted.list(), []);
    } finally {
      mail.smtp.setFault(null);
      await device.close();
    }
  });
});

describe('mail sender with short-lived tokens (3 s)', () => {
  let mail: MailLab;
  before(async () => {
    mail = await startMailLab({ accessTokenTtl: 3 });
  });
  after(async () => mail.close());

  test('a token near expiry is renewed before signing in (no rejected sign-in)', async () => {
    const { device, panel, providerId } = await bootMailDevice(mail, { pop: false });
    try {
      await obtainToken(panel, mail);
      const [first] = storedSecrets(device, providerId, mail.account);
      const attempts = mail.smtp.authAttempts.length;
      const before = mail.smtp.received.length;
      device.device.services.sender.enqueue({ to: 'erin@example.com', subject: 'Fresh token', text: 'x' });
      await waitFor(() => mail.smtp.received.length > before, 'delivery');
      const [renewed] = storedSecrets(device, providerId, mail.account);
      assert.notEqual(renewed, first, 'the access token was renewed');
      assert.deepEqual(mail.smtp.authAttempts.slice(attempts).map((a) => a.ok), [true], 'one sign-in, accepted: renewed before, not after a rejection');
      assert.equal((await mail.lab.auth.introspect(renewed!)).active, true);
      assert.match(textOf((await panel.get('/settings/system/token-events')).html), /Token renewed/);
    } finally {
      await device.close();
    }
  });

  test('provider outage while the token must be renewed → stays Obtained with a warning, mail retried and delivered', async () => {
    const { device, panel } = await bootMailDevice(mail, { pop: false });
    try {
      await obtainToken(panel, mail);
      // Let the access token expire so that sending needs a refresh.
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      mail.lab.auth.setFault({ kind: 'server_error', endpoint: 'token', count: 2 });
      const { sender } = device.device.services;
      const before = mail.smtp.received.length;
      const { id } = sender.enqueue({ to: 'frank@example.com', subject: 'Through the outage', text: 'x' });
      await waitFor(() => (sender.outbox.get(id)?.attempts ?? 0) >= 1 || mail.smtp.received.length > before, 'a first failed attempt');
      const during = await panel.tokenStatus('smtp');
      assert.equal(during.state, 'obtained', 'a provider outage does not invalidate the token');
      assert.match(during.warning ?? '', /could not be reached/);
      await waitFor(() => mail.smtp.received.length > before, 'delivery after the outage');
      await sender.idle();
      assert.equal(mail.smtp.received.length, before + 1, 'delivered once');
      assert.equal((await panel.tokenStatus('smtp')).state, 'obtained');
      assert.ok(device.logs.some((line) => line.includes('mail not sent') && line.includes('"code":"unreachable"')), 'the first attempt failed on the provider and was retried');
    } finally {
      mail.lab.auth.setFault(null);
      await device.close();
    }
  });
});
