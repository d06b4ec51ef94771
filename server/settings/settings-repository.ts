import type { Db } from '../db/database.js';
import type { SecretBox } from '../security/secret-box.js';
import { defaults, type FormSpec, type FormValues } from './form.js';

interface StoredPage {
  values: FormValues;
  /** Secret fields, sealed with the device key. */
  sealed: Record<string, string>;
}

/**
 * Saved values of the settings pages; secret fields are encrypted at rest and never returned to a page.
 * Every page reads several settings pages, so each stored page is parsed once and kept until this
 * repository saves it again (or `forgetCached()` after a write to the table from elsewhere).
 */
export class SettingsRepository {
  /** Parsed rows by page id; null: nothing saved. Never handed out: callers get copies. */
  readonly #cache = new Map<string, Readonly<StoredPage> | null>();
  #version = 0;

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  #read(page: string): Readonly<StoredPage> | undefined {
    let stored = this.#cache.get(page);
    if (stored === undefined) {
      const row = this.db.prepare('SELECT json FROM settings WHERE page = ?').get(page) as { json: string } | undefined;
      stored = row ? (JSON.parse(row.json) as StoredPage) : null;
      this.#cache.set(page, stored);
    }
    return stored ?? undefined;
  }

  /** Moves on with every change of the settings: what is derived from them can be kept until then. */
  get version(): number {
    return this.#version;
  }

  /** For the one writer of the table besides save() (the device key check at start, which retires or restores secrets). */
  forgetCached(): void {
    this.#cache.clear();
    this.#version++;
  }

  /** The page's values (defaults where nothing is saved yet). */
  values(spec: FormSpec): FormValues {
    return { ...defaults(spec), ...this.#read(spec.id)?.values };
  }

  isSaved(spec: FormSpec): boolean {
    return this.#read(spec.id) !== undefined;
  }

  secretsSet(spec: FormSpec): Set<string> {
    return new Set(Object.keys(this.#read(spec.id)?.sealed ?? {}));
  }

  secret(spec: FormSpec, name: string): string | undefined {
    return this.box.openOptional(this.#read(spec.id)?.sealed[name]);
  }

  /** Saves validated values; secrets not entered this time keep their stored value. */
  save(spec: FormSpec, values: FormValues, secrets: Record<string, string>): void {
    const sealed = { ...this.#read(spec.id)?.sealed };
    for (const [name, value] of Object.entries(secrets)) sealed[name] = this.box.seal(value);
    this.db
      .prepare('INSERT INTO settings (page, json, updated_at) VALUES (?, ?, ?) ON CONFLICT(page) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at')
      .run(spec.id, JSON.stringify({ values, sealed } satisfies StoredPage), Date.now());
    // Dropped, not replaced: the next read parses what was written, so a failed write leaves no stale copy.
    this.#cache.delete(spec.id);
    this.#version++;
  }
}
