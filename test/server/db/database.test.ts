/**
 * The database file at start: a zero-length or damaged one is never taken for a fresh device. It is
 * moved aside (device.db.damaged-<timestamp>), the device starts in a recovery mode the home page
 * explains, and the outbox's scan files are kept. The data directory and its files are tightened.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { textOf } from '../../../firmware-sim/panel-client.js';
import { en } from '../../../server/i18n/en.js';
import { bootDevice, tempDir } from '../../helpers/device.js';

/** A device that has run once, with a scan file waiting in its outbox (a queued job). */
async function usedDevice(): Promise<{ dataDir: string; scanFile: string }> {
  const dev = await bootDevice();
  const { sender } = dev.device.services;
  const { id } = sender.enqueue({ kind: 'scan', to: 'kim@example.com', subject: 'Scan', attachments: [{ filename: 'scan.pdf', content: Buffer.from('%PDF-1.4 scan') }] });
  const scanFile = sender.outbox.attachmentFiles(id)[0]!.path;
  await dev.close();
  return { dataDir: dev.dataDir, scanFile };
}

const damagedFiles = (dataDir: string) => fs.readdirSync(dataDir).filter((name) => /^device\.db\.damaged-[0-9T-]+Z$/.test(name));

for (const [what, damage, said] of [
  ['zero-length', (file: string) => fs.truncateSync(file, 0), en['storage.recovery.empty'].split(' {time}')[0]!],
  ['not a database', (file: string) => fs.writeFileSync(file, Buffer.alloc(64 * 1024, 'not a database ')), '(file is not a database)'],
] as const) {
  test(`a ${what} device.db: moved aside, recovery mode on the home page, scan files kept`, async () => {
    const { dataDir, scanFile } = await usedDevice();
    const dbFile = path.join(dataDir, 'device.db');
    for (const suffix of ['-wal', '-shm']) fs.rmSync(dbFile + suffix, { force: true });
    damage(dbFile);
    const damagedBytes = fs.readFileSync(dbFile);

    let dev = await bootDevice(dataDir);
    try {
      const [moved] = damagedFiles(dataDir);
      assert.ok(moved, 'the damaged file was moved aside');
      assert.deepEqual(fs.readFileSync(path.join(dataDir, moved)), damagedBytes, 'unchanged');
      assert.ok(fs.existsSync(scanFile), 'the scan file is kept');

      let home = textOf((await (await dev.panel()).get('/')).html);
      assert.ok(home.includes(en['storage.recovery.title']), 'the home page explains the recovery mode');
      assert.ok(home.includes(said), `it says what happened (${said})`);
      assert.ok(home.includes(path.join(dataDir, moved)), 'and where the damaged file is');
      assert.ok(home.includes(en['storage.recovery.todo'].slice(0, 40)), 'and what to do');

      // A restart does not end recovery mode, nor sweep the kept files.
      dev = await dev.restart();
      const panel = await dev.panel();
      home = textOf((await panel.get('/')).html);
      assert.ok(home.includes(en['storage.recovery.title']), 'still explained after a restart');
      assert.ok(fs.existsSync(scanFile), 'still kept after a restart');
      assert.equal(damagedFiles(dataDir).length, 1, 'the new database is not moved aside again');

      // The admin dismisses it once done.
      const dismissed = await panel.submit('/storage/recovery/dismiss', {}, '/');
      assert.equal(dismissed.status, 200);
      assert.ok(!textOf(dismissed.html).includes(en['storage.recovery.title']));
      assert.ok(textOf(dismissed.html).includes(en['storage.recovery.dismissed']));
    } finally {
      await dev.close();
    }
  });
}

test('a database with a damaged page is found at start (quick_check), not by a later save', async () => {
  const { dataDir } = await usedDevice();
  const dbFile = path.join(dataDir, 'device.db');
  // Fold the WAL into the file so the damage below is what SQLite reads.
  const checkpoint = await bootDevice(dataDir);
  checkpoint.device.services.db.pragma('wal_checkpoint(TRUNCATE)');
  await checkpoint.close();
  const bytes = fs.readFileSync(dbFile);
  // Page 2 onwards: overwrite b-tree pages with garbage, keep the header page intact.
  bytes.fill(0xa5, 4096 + 16, Math.min(bytes.length, 4096 * 4));
  fs.writeFileSync(dbFile, bytes);

  const dev = await bootDevice(dataDir);
  try {
    assert.equal(damagedFiles(dataDir).length, 1);
    const home = textOf((await (await dev.panel()).get('/')).html);
    assert.ok(home.includes(en['storage.recovery.title']));
  } finally {
    await dev.close();
  }
});

test('the data directory is made 0700 and device.db, its WAL files and device.key 0600, even when they exist wider', async () => {
  const dataDir = tempDir();
  let dev = await bootDevice(dataDir);
  await dev.close();
  fs.chmodSync(dataDir, 0o755);
  for (const name of ['device.db', 'device.key']) fs.chmodSync(path.join(dataDir, name), 0o644);
  dev = await bootDevice(dataDir);
  try {
    const mode = (name: string) => fs.statSync(path.join(dataDir, name)).mode & 0o777;
    assert.equal(mode('.'), 0o700);
    for (const name of ['device.db', 'device.db-wal', 'device.db-shm', 'device.key']) {
      if (fs.existsSync(path.join(dataDir, name))) assert.equal(mode(name), 0o600, name);
    }
    assert.ok(fs.existsSync(path.join(dataDir, 'device.db-wal')), 'WAL mode: the -wal file exists and was checked');
  } finally {
    await dev.close();
  }
});
