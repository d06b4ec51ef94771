/** The outbox's attachment files: bytes written by add(), moved out of SQLite after an upgrade, removed with their job. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openDatabase } from '../../../server/db/database.js';
import { migrations } from '../../../server/db/migrations.js';
import { Outbox, type OutboxMessage } from '../../../server/mail/outbox.js';
import { tempDir } from '../../helpers/device.js';

const message = (subject: string): OutboxMessage => ({ subject, to: ['a@example.com'], cc: [], messageId: `<${subject}@example.com>`, date: 0 });
const mode = (file: string) => fs.statSync(file).mode & 0o777;

test('bytes given to add() become a 0600 file in <data dir>/outbox (0700), not a BLOB; remove() deletes the file', () => {
  const dataDir = tempDir('mfp-outbox-files-');
  const outbox = new Outbox(openDatabase(dataDir));
  const content = Buffer.from('%PDF-1.4 small');
  const id = outbox.add('other', message('Small'), ['a@example.com'], [{ filename: 'a.pdf', contentType: 'application/pdf', content }]);
  const [file] = outbox.attachmentFiles(id);
  assert.equal(path.dirname(file!.path), path.join(dataDir, 'outbox'));
  assert.equal(mode(path.join(dataDir, 'outbox')), 0o700);
  assert.equal(mode(file!.path), 0o600);
  assert.ok(fs.readFileSync(file!.path).equals(content));
  assert.equal(file!.size, content.length);
  assert.ok(outbox.remove(id));
  assert.equal(fs.existsSync(file!.path), false);
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'outbox')), []);
});

test('after the upgrade, attachments queued as BLOBs are moved to files at start and still delivered from them', () => {
  const dataDir = tempDir('mfp-outbox-upgrade-');
  // A database as the previous release left it: every step before the one that moved attachments out.
  const step = migrations.findIndex((sql) => sql.includes('outbox_attachments_v2'));
  assert.ok(step > 0);
  const old = new Database(path.join(dataDir, 'device.db'));
  for (let version = 0; version < step; version++) old.exec(migrations[version]!);
  old.pragma(`user_version = ${step}`);
  const pdf = Buffer.from('%PDF-1.4 queued before the upgrade');
  old.prepare("INSERT INTO outbox (id, kind, status, created_at, updated_at, next_attempt_at, message_json, recipients_json) VALUES (7, 'scan', 'queued', 0, 0, 0, ?, '[\"a@example.com\"]')").run(JSON.stringify(message('Old')));
  old.prepare("INSERT INTO outbox_attachments (job_id, idx, filename, content_type, content) VALUES (7, 0, 'old.pdf', 'application/pdf', ?)").run(pdf);
  old.close();

  const db = openDatabase(dataDir);
  const outbox = new Outbox(db);
  assert.deepEqual(outbox.recover(), { moved: 1, swept: 0 });
  const [file] = outbox.attachmentFiles(7);
  assert.equal(file!.filename, 'old.pdf');
  assert.ok(fs.readFileSync(file!.path).equals(pdf));
  assert.equal(db.prepare('SELECT content FROM outbox_attachments WHERE job_id = 7').pluck().get(), null, 'the BLOB is gone from SQLite');
  assert.deepEqual(outbox.recover(), { moved: 0, swept: 0 }, 'nothing left to move, the file is kept');
  assert.ok(outbox.remove(7));
  assert.equal(fs.existsSync(file!.path), false);
});
