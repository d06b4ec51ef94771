import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrations } from './migrations.js';

export type Db = Database.Database;

/** Opens (creating if needed) the device database and brings its schema up to date. */
export function openDatabase(dataDir: string): Db {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(path.join(dataDir, 'device.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // A printer's flash is slow; NORMAL is durable across process crashes in WAL mode.
  db.pragma('synchronous = NORMAL');
  // The device database is small; a 1 MiB page cache instead of the default 8 MiB keeps RSS low.
  db.pragma('cache_size = -1024');
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < migrations.length; version++) {
    const step = migrations[version]!;
    db.transaction(() => {
      db.exec(step);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
