import type { Session } from 'fastify';
import { isStorageFull, type DeviceStorage } from '../../db/storage.js';

type Callback = (err?: unknown) => void;

/** What @fastify/session needs of a store (SqliteSessionStore, or whatever replaces it). */
export interface SessionStore {
  set(sessionId: string, session: Session, callback: Callback): void;
  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void;
  destroy(sessionId: string, callback: Callback): void;
}

/** A handful of admins at most; a full storage must not become a memory leak either. */
const MAX_HELD = 32;

/**
 * Sessions the database cannot take (the storage is full) are held in memory until it can, so the
 * admin can still log in and read on the home page why nothing can be saved.
 */
export class StorageAwareSessionStore implements SessionStore {
  readonly #held = new Map<string, { session: Session; expiresAt: number }>();

  constructor(
    private readonly inner: SessionStore,
    private readonly storage: DeviceStorage,
    private readonly maxAgeMs: number,
  ) {}

  set(sessionId: string, session: Session, callback: Callback): void {
    this.inner.set(sessionId, session, (err) => {
      if (!err) {
        this.#held.delete(sessionId);
        return callback();
      }
      if (this.storage.problemOf(err) !== 'full') return callback(err);
      this.#held.delete(sessionId);
      this.#held.set(sessionId, { session, expiresAt: Date.now() + this.maxAgeMs });
      // Map order is insertion order: the oldest held session goes first.
      if (this.#held.size > MAX_HELD) this.#held.delete(this.#held.keys().next().value!);
      callback();
    });
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    const held = this.#held.get(sessionId);
    if (held && held.expiresAt > Date.now()) return callback(null, held.session);
    this.#held.delete(sessionId);
    this.inner.get(sessionId, callback);
  }

  destroy(sessionId: string, callback: Callback): void {
    this.#held.delete(sessionId);
    this.inner.destroy(sessionId, (err) => callback(err && !isStorageFull(err) ? err : undefined));
  }
}
