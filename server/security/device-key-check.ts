/**
 * Whether device.key is the key the database's secrets were sealed with. A lost or replaced key file
 * (restored backup of the database alone, a new flash card) used to go unnoticed: a new key was made,
 * every sealed secret failed to open on each use, and the outbox worker spun on the error.
 *
 * The database keeps the key's check value (SecretBox.checkValue). At start a different value means
 * the key changed: every secret the new key cannot open is retired (archived in retired_secrets, the
 * live column emptied, tokens Invalid with the reason device_key_replaced), the rest of the data is
 * kept, and secretsToReenter() lists what the admin must enter again until it has been.
 */
import type { Db } from '../db/database.js';
import { readState, writeState } from '../db/device-state.js';
import { RETIRED_SECRET, type SecretBox } from './secret-box.js';

export const KEY_REPLACED = 'device_key_replaced';
const KEY_CHECK = 'key_check';

export type RetiredSource = 'provider' | 'settings' | 'credential';

/** One secret the admin must enter (or obtain) again. */
export interface SecretToReenter {
  source: RetiredSource;
  /** provider id, settings page id, or "<provider id>/<account>" */
  ref: string;
  /** client_secret, the settings field's name, or token */
  field: string;
  /** the provider's name (client secret, token) or the account */
  label: string;
}

interface SealedValue {
  source: RetiredSource;
  ref: string;
  field: string;
  label: string;
  sealed: string;
}

/** Every sealed value in the database: the one list of where secrets live. */
function sealedValues(db: Db): SealedValue[] {
  const values: SealedValue[] = [];
  for (const row of db.prepare('SELECT id, name, client_secret_enc FROM providers WHERE client_secret_enc IS NOT NULL').all() as { id: number; name: string; client_secret_enc: string }[]) {
    values.push({ source: 'provider', ref: String(row.id), field: 'client_secret', label: row.name, sealed: row.client_secret_enc });
  }
  for (const row of db.prepare('SELECT page, json FROM settings').all() as { page: string; json: string }[]) {
    const sealed = (JSON.parse(row.json) as { sealed?: Record<string, string> }).sealed ?? {};
    for (const [field, value] of Object.entries(sealed)) values.push({ source: 'settings', ref: row.page, field, label: row.page, sealed: value });
  }
  const credentials = db
    .prepare('SELECT c.provider_id, c.account, c.access_token_enc, c.refresh_token_enc, c.pending_enc, p.name FROM credentials c JOIN providers p ON p.id = c.provider_id')
    .all() as { provider_id: number; account: string; access_token_enc: string | null; refresh_token_enc: string | null; pending_enc: string | null; name: string }[];
  for (const row of credentials) {
    const ref = `${row.provider_id}/${row.account}`;
    const label = `${row.name} · ${row.account}`;
    for (const [field, sealed] of [['access_token', row.access_token_enc], ['refresh_token', row.refresh_token_enc], ['pending', row.pending_enc]] as const) {
      if (sealed && sealed !== RETIRED_SECRET) values.push({ source: 'credential', ref, field, label, sealed });
    }
  }
  return values;
}

export type KeyCheckOutcome = { kind: 'ok' } | { kind: 'replaced'; retired: number; restored: number } | { kind: 'restored'; restored: number };

/**
 * Run once at start, before anything reads a secret. A database without a check value (first boot,
 * or written before this check existed) gets one, unless its secrets already fail to open.
 */
export function checkDeviceKey(db: Db, box: SecretBox, now = Date.now()): KeyCheckOutcome {
  const current = box.checkValue();
  const stored = readState(db, KEY_CHECK);
  if (stored === current) return { kind: 'ok' };
  const unreadable = sealedValues(db).filter((value) => !box.canOpen(value.sealed));
  if (stored === undefined && unreadable.length === 0) {
    writeState(db, KEY_CHECK, current, now);
    return { kind: 'ok' };
  }
  let restored = 0;
  db.transaction(() => {
    for (const value of unreadable) retire(db, value, stored ?? null, now);
    restored = restoreOpenable(db, box);
    writeState(db, KEY_CHECK, current, now);
  }).immediate();
  if (unreadable.length === 0 && restored > 0) return { kind: 'restored', restored };
  return { kind: 'replaced', retired: unreadable.length, restored };
}

/**
 * The old device.key put back: the archived secrets it can open return to their columns where
 * nothing was entered since, and a token retired with the key reads Obtained again. An authorization
 * that was pending is not brought back (it ended when its secret was retired).
 */
function restoreOpenable(db: Db, box: SecretBox): number {
  const rows = db.prepare("SELECT id, source, ref, field, sealed FROM retired_secrets WHERE field <> 'pending' ORDER BY id").all() as (SealedValue & { id: number })[];
  let restored = 0;
  for (const row of rows) {
    if (!box.canOpen(row.sealed)) continue;
    let changes = 0;
    if (row.source === 'provider') {
      changes = db.prepare('UPDATE providers SET client_secret_enc = ? WHERE id = ? AND client_secret_enc IS NULL').run(row.sealed, Number(row.ref)).changes;
    } else if (row.source === 'settings') {
      const page = db.prepare('SELECT json FROM settings WHERE page = ?').get(row.ref) as { json: string } | undefined;
      const stored = page && (JSON.parse(page.json) as { values: unknown; sealed: Record<string, string> });
      if (stored && !stored.sealed[row.field]) {
        stored.sealed[row.field] = row.sealed;
        changes = db.prepare('UPDATE settings SET json = ? WHERE page = ?').run(JSON.stringify(stored), row.ref).changes;
      }
    } else {
      const [providerId, ...account] = row.ref.split('/');
      const key = [Number(providerId), account.join('/')];
      changes = db.prepare(`UPDATE credentials SET ${row.field}_enc = ? WHERE provider_id = ? AND account = ? AND ${row.field}_enc = ?`).run(row.sealed, ...key, RETIRED_SECRET).changes;
      db.prepare('UPDATE credentials SET invalid_code = NULL WHERE provider_id = ? AND account = ? AND invalid_code = ? AND coalesce(access_token_enc, \'\') <> ? AND coalesce(refresh_token_enc, \'\') <> ?').run(
        ...key, KEY_REPLACED, RETIRED_SECRET, RETIRED_SECRET,
      );
    }
    if (changes) {
      db.prepare('DELETE FROM retired_secrets WHERE id = ?').run(row.id);
      restored++;
    }
  }
  return restored;
}

function retire(db: Db, value: SealedValue, keyCheck: string | null, now: number): void {
  db.prepare('INSERT INTO retired_secrets (source, ref, field, label, sealed, key_check, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    value.source, value.ref, value.field, value.label, value.sealed, keyCheck, now,
  );
  if (value.source === 'provider') {
    db.prepare('UPDATE providers SET client_secret_enc = NULL WHERE id = ?').run(Number(value.ref));
  } else if (value.source === 'settings') {
    const row = db.prepare('SELECT json FROM settings WHERE page = ?').get(value.ref) as { json: string };
    const page = JSON.parse(row.json) as { values: unknown; sealed: Record<string, string> };
    delete page.sealed[value.field];
    db.prepare('UPDATE settings SET json = ? WHERE page = ?').run(JSON.stringify(page), value.ref);
  } else {
    const [providerId, ...account] = value.ref.split('/');
    const where = 'WHERE provider_id = ? AND account = ?';
    const key = [Number(providerId), account.join('/')];
    if (value.field === 'pending') {
      // The open authorization cannot be finished without its secret: it ends, saying why.
      db.prepare(
        `UPDATE credentials SET pending_enc = NULL, pending_kind = NULL, pending_state_hash = NULL, pending_user_code = NULL, pending_verification_uri = NULL,
         pending_verification_uri_complete = NULL, pending_expires_at = NULL, pending_interval = NULL,
         failure_code = ?, failure_detail = NULL, failure_at = ?, updated_at = ? ${where}`,
      ).run(KEY_REPLACED, now, now, ...key);
    } else {
      // The token's facts stay (so it reads Invalid, with the reason); its secret is gone.
      db.prepare(`UPDATE credentials SET ${value.field}_enc = ?, invalid_code = ?, invalid_detail = NULL, warning_code = NULL, warning_at = NULL, updated_at = ? ${where}`).run(
        RETIRED_SECRET, KEY_REPLACED, now, ...key,
      );
    }
  }
}

/** The retired secrets not entered again yet (a token counts once, however many of its parts). */
export function secretsToReenter(db: Db): SecretToReenter[] {
  const rows = db.prepare('SELECT DISTINCT source, ref, CASE source WHEN \'credential\' THEN \'token\' ELSE field END AS field, label FROM retired_secrets ORDER BY id').all() as SecretToReenter[];
  return rows.filter((row) => {
    if (row.source === 'provider') {
      return db.prepare('SELECT 1 FROM providers WHERE id = ? AND client_secret_enc IS NULL').get(Number(row.ref)) !== undefined;
    }
    if (row.source === 'settings') {
      const page = db.prepare('SELECT json FROM settings WHERE page = ?').get(row.ref) as { json: string } | undefined;
      return page !== undefined && !((JSON.parse(page.json) as { sealed?: Record<string, string> }).sealed ?? {})[row.field];
    }
    const [providerId, ...account] = row.ref.split('/');
    return db.prepare('SELECT 1 FROM credentials WHERE provider_id = ? AND account = ? AND (invalid_code = ? OR (access_token_enc IS NULL AND refresh_token_enc IS NULL AND failure_code = ?))').get(
      Number(providerId), account.join('/'), KEY_REPLACED, KEY_REPLACED,
    ) !== undefined;
  });
}
