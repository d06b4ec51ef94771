/**
 * Post/redirect/get for the buttons that do something: the POST answers 303 to the page with the
 * result's anchor, the result is kept in the session as data without secrets, shown once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { csrfTokenOf, PAGE_PATHS, textOf } from '../../../firmware-sim/panel-client.js';
import { bootMailDevice, obtainToken, startMailLab, storedSecrets, xoauth2String, type MailDevice, type MailLab } from '../mail/sender-helpers.js';

let mail: MailLab;
let dev: MailDevice;
before(async () => {
  mail = await startMailLab();
  dev = await bootMailDevice(mail);
  await obtainToken(dev.panel, mail);
});
after(async () => {
  await dev?.device.close();
  await mail?.close();
});

test('Connection Test and Send Test E-mail: 303 to #smtp-result, the result once, and no token in the stored session', async () => {
  const { panel, device, providerId } = dev;
  const csrf = csrfTokenOf((await panel.get(PAGE_PATHS.smtp)).html);
  const answer = await panel.request('POST', `${PAGE_PATHS.smtp}/connection-test`, { _csrf: csrf }, 0);
  assert.equal(answer.status, 303);
  assert.equal(answer.headers.get('location'), `${PAGE_PATHS.smtp}#smtp-result`);

  const shown = await panel.get(PAGE_PATHS.smtp);
  assert.match(textOf(shown.html), /Connection test to 127\.0\.0\.1:\d+ passed/);
  assert.doesNotMatch(textOf((await panel.get(PAGE_PATHS.smtp)).html), /Connection test to/, 'shown once');

  const received = mail.smtp.received.length;
  const sent = await panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: 'ivan@example.com' }, PAGE_PATHS.smtp);
  assert.match(textOf(sent.html), /The test e-mail to ivan@example\.com was accepted/);
  assert.equal(mail.smtp.received.length, received + 1);
  await panel.get(PAGE_PATHS.smtp);
  assert.equal(mail.smtp.received.length, received + 1, 'the page after the redirect sends nothing');

  // Kept for the next page (the session is stored in the device database): no token in it, ever.
  await panel.request('POST', `${PAGE_PATHS.smtp}/connection-test`, { _csrf: csrf }, 0);
  const sessions = (device.device.services.db.prepare('SELECT data FROM sessions').all() as { data: string }[]).map((row) => row.data).join('\n');
  assert.match(sessions, /"toolResult"/, 'the result waits in the session');
  const secrets = storedSecrets(device, providerId, mail.account);
  assert.ok(secrets.length > 0);
  for (const secret of [...secrets, ...secrets.map((s) => xoauth2String(mail.account, s))]) {
    assert.equal(sessions.includes(secret), false, 'a token reached the session store');
  }
});

test('a bad test address is refused on the page itself (400) and nothing is sent or kept', async () => {
  const { panel } = dev;
  const received = mail.smtp.received.length;
  const bad = await panel.submit(`${PAGE_PATHS.smtp}/test-mail`, { testTo: 'not an address' }, PAGE_PATHS.smtp);
  assert.equal(bad.status, 400);
  assert.match(textOf(bad.html), /Enter an e-mail address/);
  assert.equal(mail.smtp.received.length, received);
});
