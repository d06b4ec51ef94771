import type { Db } from './database.js';

/** The device_state table: small named facts about the device's own storage (key check, recovery notice). */
export function readState(db: Db, name: string): string | undefined {
  return (db.prepare('SELECT value FROM device_state WHERE name = ?').pluck().get(name) as string | undefined) ?? undefined;
}

/** Writes (or, with null, removes) a fact. */
export function writeState(db: Db, name: string, value: string | null, now = Date.now()): void {
  if (value === null) db.prepare('DELETE FROM device_state WHERE name = ?').run(name);
  else db.prepare('INSERT INTO device_state (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at').run(name, value, now);
}
