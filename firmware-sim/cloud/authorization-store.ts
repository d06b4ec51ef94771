// A persistent store for the lab authorization server (option `stateFile`): an oidc-provider
// adapter that keeps every model's entries (grants, refresh and access tokens, device codes,
// sessions, interactions…) in memory with their expiry, and mirrors them to one JSON file so that a
// lab restarted on the same file still knows the tokens the device holds.
//
// - the file is written atomically (a temp file in the same directory, mode 0600, then rename),
//   shortly after a change (debounced) and on flush()/close();
// - loading drops entries whose expiry has passed; a file that cannot be read as a store is
//   reported and the lab starts empty (it is overwritten at the next change);
// - payloads are copied in and out (as a database would), so nothing mutates a stored entry behind
//   the store's back;
// - the adapter follows oidc-provider's own memory adapter: findByUserCode, findByUid (sessions)
//   and revokeByGrantId (the grantable token models) — here by scanning, the lab holds few entries.

import fs from 'node:fs';
import path from 'node:path';

export type StoredPayload = Record<string, unknown>;

interface Entry {
  model: string;
  id: string;
  payload: StoredPayload;
  /** ms since the epoch; null: no expiry (oidc-provider gave no TTL) */
  expiresAt: number | null;
}

interface StoreFile {
  version: 1;
  entries: Entry[];
}

// The token models revokeByGrantId removes (as oidc-provider's memory adapter).
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/** What oidc-provider calls on an adapter (one instance per model). */
export interface OidcAdapter {
  upsert(id: string, payload: StoredPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<StoredPayload | undefined>;
  findByUserCode(userCode: string): Promise<StoredPayload | undefined>;
  findByUid(uid: string): Promise<StoredPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export interface FileStoreOptions {
  /** how long after a change the file is written; default 100 ms */
  debounceMs?: number;
  /** told about a file that could not be read or written (default: console.error) */
  warn?: (message: string) => void;
}

const clone = <T>(v: T): T => structuredClone(v);

export class FileStore {
  readonly file: string;
  private readonly entries = new Map<string, Entry>();
  private readonly debounceMs: number;
  private readonly warn: (message: string) => void;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(file: string, options: FileStoreOptions = {}) {
    this.file = path.resolve(file);
    this.debounceMs = options.debounceMs ?? 100;
    this.warn = options.warn ?? ((m) => console.error(`[auth-lab] ${m}`));
    this.load();
  }

  private static key(model: string, id: string): string {
    return `${model}:${id}`;
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(`cannot read ${this.file} (${(err as Error).message}); starting with no grants or tokens`);
      return;
    }
    let data: StoreFile;
    try {
      data = JSON.parse(text) as StoreFile;
      if (data.version !== 1 || !Array.isArray(data.entries)) throw new Error('not a lab store (version 1)');
    } catch (err) {
      this.warn(`ignoring ${this.file} (${(err as Error).message}); starting with no grants or tokens`);
      return;
    }
    const now = Date.now();
    let dropped = 0;
    for (const e of data.entries) {
      if (!e || typeof e.model !== 'string' || typeof e.id !== 'string' || !e.payload || typeof e.payload !== 'object') { dropped++; continue; }
      const expiresAt = typeof e.expiresAt === 'number' ? e.expiresAt : null;
      if (expiresAt !== null && expiresAt <= now) { dropped++; continue; }
      this.entries.set(FileStore.key(e.model, e.id), { model: e.model, id: e.id, payload: e.payload, expiresAt });
    }
    // expired entries leave the file at the next write
    if (dropped) this.dirty = true;
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== null && e.expiresAt <= Date.now()) {
      this.entries.delete(key);
      this.changed();
      return undefined;
    }
    return e;
  }

  private changed(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.debounceMs);
    // a pending write does not keep the process alive; close() (or the next change) writes it
    this.timer.unref();
  }

  /** Write the file now if anything changed (atomic: temp file, mode 0600, rename). */
  flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (!this.dirty) return;
    const now = Date.now();
    const entries: Entry[] = [];
    for (const [key, e] of this.entries) {
      if (e.expiresAt !== null && e.expiresAt <= now) this.entries.delete(key);
      else entries.push(e);
    }
    const body: StoreFile = { version: 1, entries };
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      fs.rmSync(tmp, { force: true });
      fs.writeFileSync(tmp, JSON.stringify(body), { mode: 0o600, flag: 'wx' });
      fs.renameSync(tmp, this.file);
      this.dirty = false;
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      this.warn(`cannot write ${this.file}: ${(err as Error).message}`);
    }
  }

  /** Stop the debounce timer and write what is pending. */
  close(): void {
    this.flush();
  }

  /** The ids of the stored grants of one account (resetPassword). */
  grantIdsOf(accountId: string): string[] {
    const ids: string[] = [];
    for (const [key, e] of this.entries) {
      if (e.model === 'Grant' && e.payload.accountId === accountId && this.live(key)) ids.push(e.id);
    }
    return ids;
  }

  /** An adapter class for oidc-provider's `adapter` option (`new Adapter(modelName)`). */
  adapterClass(): new (model: string) => OidcAdapter {
    const store = this;
    return class FileStoreAdapter implements OidcAdapter {
      private readonly model: string;
      constructor(model: string) { this.model = model; }

      async upsert(id: string, payload: StoredPayload, expiresIn?: number): Promise<void> {
        const expiresAt = typeof expiresIn === 'number' && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null;
        store.entries.set(FileStore.key(this.model, id), { model: this.model, id, payload: clone(payload), expiresAt });
        store.changed();
      }

      async find(id: string): Promise<StoredPayload | undefined> {
        const e = store.live(FileStore.key(this.model, id));
        return e ? clone(e.payload) : undefined;
      }

      async findByUserCode(userCode: string): Promise<StoredPayload | undefined> {
        return this.findBy('userCode', userCode);
      }

      async findByUid(uid: string): Promise<StoredPayload | undefined> {
        return this.findBy('uid', uid);
      }

      private findBy(field: string, value: string): StoredPayload | undefined {
        for (const [key, e] of store.entries) {
          if (e.model === this.model && e.payload[field] === value && store.live(key)) return clone(e.payload);
        }
        return undefined;
      }

      async consume(id: string): Promise<void> {
        const e = store.live(FileStore.key(this.model, id));
        if (!e) return;
        e.payload.consumed = Math.floor(Date.now() / 1000);
        store.changed();
      }

      async destroy(id: string): Promise<void> {
        if (store.entries.delete(FileStore.key(this.model, id))) store.changed();
      }

      async revokeByGrantId(grantId: string): Promise<void> {
        let removed = false;
        for (const [key, e] of store.entries) {
          if (GRANTABLE.has(e.model) && e.payload.grantId === grantId) { store.entries.delete(key); removed = true; }
        }
        if (removed) store.changed();
      }
    };
  }
}
