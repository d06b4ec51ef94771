import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrations } from './migrations.js';

export type Db = Database.Database;

export const DATABASE_FILE = 'device.db';

/** The database was unreadable at start and moved aside; the device started on a new one. */
export interface Recovery {
  reason: 'empty' | 'corrupt';
  /** SQLite's words, e.g. "file is not a database" */
  detail: string;
  /** where the damaged file is now (device.db.damaged-<timestamp>) */
  damagedFile: string;
  at: number;
}
/** SQLite's companions of the database file in WAL mode. */
const COMPANIONS = ['-wal', '-shm'];

/** What SQLite says of a file that is not (or no longer) a database. */
function isDamaged(err: unknown): boolean {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  return code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT');
}

/** What SQLite says when it cannot get the space to open a WAL database (its -shm index) or write. */
function isOutOfSpace(err: unknown): boolean {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  return code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE';
}

/**
 * `exclusive`: the WAL index lives in this process's memory instead of the -shm file, which a full
 * storage cannot give room to (SQLITE_IOERR_SHMSIZE at start); only this process opens the file then.
 */
function open(file: string, exclusive = false): Db {
  const db = new Database(file);
  try {
    if (exclusive) db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    // A printer's flash is slow; NORMAL is durable across process crashes in WAL mode.
    db.pragma('synchronous = NORMAL');
    // The device database is small; a 1 MiB page cache instead of the default 8 MiB keeps RSS low.
    db.pragma('cache_size = -1024');
    // A damaged page is found now, at start, not by whichever save reads it first.
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw Object.assign(new Error(String(check)), { code: 'SQLITE_CORRUPT' });
    migrate(db);
    reusePreparedStatements(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** More distinct statements than the device's code has (a few dozen) means SQL built from data. */
const MAX_CACHED_STATEMENTS = 256;

/**
 * better-sqlite3 compiles the SQL again on every prepare(), and a page runs the same statements on
 * every request (session, settings, providers, token state): each statement is compiled once and the
 * compiled one handed out again. The modes a caller may set (pluck, raw, expand) are reset on reuse.
 */
function reusePreparedStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const statements = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = statements.get(sql);
    if (statement) {
      if (statement.reader) statement.pluck(false).expand(false).raw(false);
      return statement;
    }
    if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
    statement = prepare(sql);
    statements.set(sql, statement);
    return statement;
  }) as Db['prepare'];
}

/** The data directory 0700, the database and its WAL files 0600, even when they exist wider (a copy, an older version). */
function tighten(dataDir: string, file: string): void {
  fs.chmodSync(dataDir, 0o700);
  for (const name of [file, ...COMPANIONS.map((suffix) => file + suffix)]) {
    try {
      fs.chmodSync(name, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Moves the damaged file (and its WAL files) aside, never deleting it: device.db.damaged-<timestamp>. */
function moveAside(file: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[:.]/g, '-');
  const target = `${file}.damaged-${stamp}`;
  fs.renameSync(file, target);
  for (const suffix of COMPANIONS) {
    try {
      fs.renameSync(file + suffix, target + suffix);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return target;
}

export interface OpenedDatabase {
  db: Db;
  file: string;
  /** The file's identity when opened: a different one under the same path means it was replaced. */
  identity: { dev: number; ino: number };
  /** Set when the database was found damaged (zero length, not a database, corrupt) and moved aside. */
  recovery?: Recovery;
  /** The storage had no room even to open the database: opened in exclusive mode, read-mostly. */
  full?: boolean;
}

/**
 * Opens (creating if needed) the device database and brings its schema up to date. A zero-length or
 * damaged file is never taken for a fresh device: it is moved aside and the device starts on a new
 * database in recovery mode (the caller tells the admin; the outbox files are kept).
 */
export function openDeviceDatabase(dataDir: string, now = Date.now()): OpenedDatabase {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, DATABASE_FILE);
  let recovery: Recovery | undefined;
  let db: Db;
  // SQLite takes a zero-length file for a new database: here it means the data was lost (a truncating
  // copy, a file system repair), and the admin must hear of it rather than find a fresh device.
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
  if (size === 0) {
    recovery = { reason: 'empty', detail: 'zero-length file', damagedFile: moveAside(file, now), at: now };
  }
  let full = false;
  try {
    db = open(file);
  } catch (err) {
    if (isOutOfSpace(err)) {
      full = true;
      db = open(file, true);
    } else {
      if (recovery || !isDamaged(err)) throw err;
      recovery = { reason: 'corrupt', detail: (err as Error).message, damagedFile: moveAside(file, now), at: now };
      db = open(file);
    }
  }
  tighten(dataDir, file);
  const { dev, ino } = fs.statSync(file);
  return { db, file, identity: { dev, ino }, ...(recovery ? { recovery } : {}), ...(full ? { full } : {}) };
}

/** The database alone (tools and tests). */
export function openDatabase(dataDir: string): Db {
  return openDeviceDatabase(dataDir).db;
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
