/** The outbox's persistence rules, on a real SQLite database (the device's schema). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../../server/db/database.js';
import { Outbox, type OutboxMessage } from '../../../server/mail/outbox.js';
import { MailSender } from '../../../server/mail/sender.js';
import { tempDir } from '../../helpers/device.js';

const message = (subject: string): OutboxMessage => ({ subject, to: ['a@example.com'], cc: [], messageId: `<${subject}@example.com>`, date: 0 });

function open() {
  const dataDir = tempDir('mfp-outbox-');
  const db = openDatabase(dataDir);
  return { db, outbox: new Outbox(db), dataDir };
}

test('a job and its attachment survive closing the database; deleting the job deletes the attachment', () => {
  const { db, outbox, dataDir } = open();
  const pdf = Buffer.from('%PDF-1.4 scan');
  const id = outbox.add('scan', message('Scan'), ['a@example.com'], [{ filename: 'scan.pdf', contentType: 'application/pdf', content: pdf }]);
  db.close();
  const reopened = new Outbox(openDatabase(dataDir));
  const job = reopened.get(id)!;
  assert.equal(job.status, 'queued');
  assert.equal(job.message.subject, 'Scan');
  assert.deepEqual(reopened.attachments(id), [{ filename: 'scan.pdf', contentType: 'application/pdf', content: pdf }]);
  assert.ok(reopened.remove(id));
  assert.deepEqual(reopened.attachments(id), []);
});

test('batches: accepted and refused recipients leave the job, deferred ones stay; Retry tries the refused again, never the delivered', () => {
  const { outbox } = open();
  const id = outbox.add('alert', message('Batch'), ['a@x.example', 'b@x.example', 'c@x.example', 'D@x.example'], []);
  outbox.recordBatch(id, ['a@x.example'], [{ address: 'b@x.example', reply: '550 5.1.1 User unknown' }]);
  let job = outbox.get(id)!;
  assert.deepEqual(job.recipients, ['c@x.example', 'D@x.example'], 'c and D not done yet');
  assert.equal(job.delivered, 1);
  outbox.recordBatch(id, ['d@x.example'], []);
  job = outbox.get(id)!;
  assert.deepEqual(job.recipients, ['c@x.example'], 'addresses compare without case');
  outbox.recordBatch(id, ['c@x.example'], []);
  outbox.fail(id, { code: 'smtp_recipient_rejected', detail: 'b@x.example: 550 5.1.1 User unknown' });
  assert.equal(outbox.get(id)!.status, 'failed');
  assert.ok(outbox.retry(id));
  job = outbox.get(id)!;
  assert.equal(job.status, 'queued');
  assert.deepEqual(job.recipients, ['b@x.example'], 'only the refused recipient is tried again');
  assert.deepEqual(job.rejected, []);
  assert.equal(job.reason, null);
});

test('due order, retry schedule, holds released only when their cause is gone, everything due after a restart', () => {
  const { outbox } = open();
  const now = 1_000_000;
  const a = outbox.add('other', message('A'), ['a@example.com'], [], now);
  const b = outbox.add('other', message('B'), ['a@example.com'], [], now);
  const c = outbox.add('other', message('C'), ['a@example.com'], [], now);
  assert.equal(outbox.nextDue(now)?.id, a);
  outbox.scheduleRetry(a, now + 60_000, { code: 'smtp_temporary', detail: '454 4.7.0' }, now);
  outbox.hold(b, 'token', { code: 'token_unavailable' }, now);
  outbox.hold(c, 'settings:abc', { code: 'smtp_auth_failed' }, now);
  assert.equal(outbox.nextDue(now), undefined);
  assert.equal(outbox.nextWakeAt(), now + 60_000);
  assert.deepEqual(outbox.counts(), { queued: 1, held: 2, failed: 0 });

  assert.equal(outbox.releaseHeld({ token: false, settingsFingerprint: 'abc' }, now), 0, 'token still unusable, settings unchanged');
  assert.equal(outbox.releaseHeld({ token: true, settingsFingerprint: 'abc' }, now), 1, 'a usable token releases the token hold');
  assert.equal(outbox.get(b)!.status, 'queued');
  assert.equal(outbox.releaseHeld({ token: true, settingsFingerprint: 'def' }, now), 1, 'new settings release the settings hold');
  assert.equal(outbox.get(a)!.attempts, 1);

  assert.equal(outbox.makeAllDue(now + 1), 1, 'A was waiting for its retry');
  assert.equal(outbox.nextDue(now + 1)?.id, b);
});

test('backoff: exponential, capped, jittered', () => {
  const { db } = open();
  const sender = new MailSender({ db, settings: undefined as never, accounts: undefined as never, tokens: undefined as never, log: console, autoStart: false, retryBaseMs: 1000, retryMaxMs: 60_000 });
  for (let i = 0; i < 200; i++) {
    const first = sender.backoffMs(1);
    assert.ok(first >= 500 && first <= 1000, `attempt 1: ${first}`);
    const fourth = sender.backoffMs(4);
    assert.ok(fourth >= 4000 && fourth <= 8000, `attempt 4: ${fourth}`);
    const late = sender.backoffMs(40);
    assert.ok(late >= 30_000 && late <= 60_000, `capped: ${late}`);
  }
  const spread = new Set(Array.from({ length: 50 }, () => sender.backoffMs(3)));
  assert.ok(spread.size > 10, 'jittered');
});
