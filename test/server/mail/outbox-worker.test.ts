/**
 * A worker run that fails as a whole (here: the SMTP password cannot be opened, as after a bad key
 * file) is retried with exponential, capped backoff, not at once in a loop: a handful of error lines
 * in seconds, not thousands; and the worker sends again as soon as the cause is fixed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bootDevice, type TestDevice } from '../../helpers/device.js';
import { saveSmtp, SMTP_PASSWORD, startMailLab, waitFor, type MailLab } from './sender-helpers.js';

let mail: MailLab;
let dev: TestDevice;
before(async () => {
  mail = await startMailLab();
  dev = await bootDevice();
});
after(async () => {
  await dev?.close();
  await mail?.close();
});

const workerFailures = () => dev.logs.filter((line) => line.includes('outbox worker failed')).length;

test('a failing outbox run is retried with backoff, and sends once the cause is gone', async () => {
  const panel = await dev.panel();
  await saveSmtp(panel, mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: SMTP_PASSWORD });
  const { sender, db, settings } = dev.device.services;
  sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 1_000, holdPollMs: 100 });
  // A sealed value this device key cannot open: every run of the worker throws while reading the settings.
  // save() would seal a good one, so the row is damaged behind the repository, which is then told to re-read it.
  db.prepare("UPDATE settings SET json = json_set(json, '$.sealed.authPassword', 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA') WHERE page = 'smtp'").run();
  settings.forgetCached();

  const before = workerFailures();
  const cpuBefore = process.cpuUsage();
  const { id } = sender.enqueue({ to: 'ivan@example.com', subject: 'Backoff', text: 'x' });
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const failures = workerFailures() - before;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  process.stdout.write(`# worker failures logged in 3 s: ${failures}; CPU ${Math.round(cpuMs)} ms\n`);
  assert.ok(failures >= 2, `the worker tried again (${failures})`);
  assert.ok(failures <= 12, `exponential backoff from 100 ms capped at 1 s: at most a dozen runs in 3 s, not ${failures}`);
  assert.ok(cpuMs < 1_000, `the failing worker does not eat the CPU (${Math.round(cpuMs)} ms in 3 s)`);
  assert.ok(sender.outbox.get(id), 'the mail stays queued');

  // The admin enters the password again: the next run (at most the cap away) sends the mail.
  await saveSmtp(panel, mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: SMTP_PASSWORD });
  await waitFor(() => sender.outbox.get(id) === undefined, 'the mail to be sent', 10_000);
  assert.ok(mail.smtp.received.some((m) => m.raw.toString().includes('Subject: Backoff')));

  // Once a run succeeds the failure count is reset: nothing keeps failing in the background.
  const settled = workerFailures();
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  assert.equal(workerFailures(), settled, 'no worker failure once the cause is gone');
});
