import type { Session } from 'fastify';
import type { Db } from '../../db/database.js';

type Callback = (err?: unknown) => void;
type SessionData = Session;

export interface SessionStoreLogger {
  warn(obj: object, msg?: string): void;
}

export interface SessionStoreOptions {
  maxAgeMs: number;
  /** Rows kept at most; a new session beyond it ends the least recently used ones. */
  maxSessions?: number;
  /** How often expired rows are deleted. */
  sweepEveryMs?: number;
  log: SessionStoreLogger;
  /** The time, in ms (tests move it on). */
  now?: () => number;
}

/**
 * A page that changes nothing in its session moves the row's expiry on only once it would move by this
 * much: the idle expiry (and the least-recently-used order, read from the same column) is then late by
 * at most a minute, and a page costs no database write.
 */
export const TOUCH_AFTER_MS = 60_000;

/**
 * Keeps admin sessions in the device database, so a restart does not log the admin out and a pending
 * authorization stays bound to the session that started it. Only the session id travels in the cookie.
 * Only logged-in sessions get here (anonymous pages keep nothing: the login form's CSRF secret is a
 * signed cookie), and the table is bounded: expired rows are swept on a timer, and past `maxSessions`
 * the least recently used sessions are ended, so no visitor can fill the data partition.
 *
 * The idle expiry is kept here, not in the cookie: @fastify/session saves a session only when it
 * changed (not `rolling`), and reading one moves its expiry on. This process is the only writer of the
 * table, so the rows it read or wrote are kept in memory too and a page reads its session without SQL.
 */
export class SqliteSessionStore {
  readonly #db: Db;
  readonly #maxAgeMs: number;
  readonly #maxSessions: number;
  readonly #log: SessionStoreLogger;
  readonly #sweeper: NodeJS.Timeout;
  /**
   * Sessions ended here (logout, a password change), so that a request of one still under way cannot
   * write it back when it finishes. Only ids; the newest few hundred.
   */
  readonly #ended = new Set<string>();
  /** The rows as they are in the table (data as stored, less the cookie), for the sessions used since the start. */
  readonly #rows = new Map<string, { data: string; expiresAt: number }>();
  readonly #now: () => number;

  constructor(db: Db, options: SessionStoreOptions) {
    this.#db = db;
    this.#maxAgeMs = options.maxAgeMs;
    this.#maxSessions = options.maxSessions ?? 100;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#sweeper = setInterval(() => this.sweep(), options.sweepEveryMs ?? 10 * 60 * 1000);
    this.#sweeper.unref();
  }

  set(sessionId: string, session: SessionData, callback: Callback): void {
    try {
      const expiresAt = this.#now() + this.#maxAgeMs;
      // The cookie carries no expiry of its own (the row's is the one that counts): not stored.
      const data = JSON.stringify({ ...session, cookie: undefined });
      // A request of a known session is one UPDATE; only a new session counts rows.
      const updated = this.#db.prepare('UPDATE sessions SET data = ?, expires_at = ? WHERE id = ?').run(data, expiresAt, sessionId).changes;
      if (!updated && !this.#ended.has(sessionId)) {
        this.#db.prepare('INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?)').run(sessionId, data, expiresAt);
        this.#enforceCap();
      }
      if (updated || !this.#ended.has(sessionId)) this.#rows.set(sessionId, { data, expiresAt });
      callback();
    } catch (err) {
      callback(err);
    }
  }

  get(sessionId: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    try {
      let row = this.#rows.get(sessionId);
      if (!row) {
        const stored = this.#db.prepare('SELECT data, expires_at FROM sessions WHERE id = ?').get(sessionId) as { data: string; expires_at: number } | undefined;
        if (stored) this.#rows.set(sessionId, (row = { data: stored.data, expiresAt: stored.expires_at }));
      }
      const now = this.#now();
      if (!row || row.expiresAt < now) {
        this.#rows.delete(sessionId);
        return callback(null, null);
      }
      if (now + this.#maxAgeMs - row.expiresAt >= TOUCH_AFTER_MS) this.#touch(sessionId, row, now + this.#maxAgeMs);
      callback(null, JSON.parse(row.data) as SessionData);
    } catch (err) {
      callback(err);
    }
  }

  destroy(sessionId: string, callback: Callback): void {
    try {
      this.#db.prepare('DELETE FROM sessions WHERE id = ?').run(sessionId);
      this.#remember([sessionId]);
      callback();
    } catch (err) {
      callback(err);
    }
  }

  /** Ends every session but `keepSessionId` (the admin's password changed); returns how many ended. */
  destroyOthers(keepSessionId: string): number {
    const others = (this.#db.prepare('DELETE FROM sessions WHERE id != ? RETURNING id').all(keepSessionId) as { id: string }[]).map((row) => row.id);
    this.#remember(others);
    return others.length;
  }

  /** Deletes expired sessions; returns how many. */
  sweep(): number {
    const now = this.#now();
    for (const [id, row] of this.#rows) if (row.expiresAt < now) this.#rows.delete(id);
    return this.#db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(now).changes;
  }

  count(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n;
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  /** Moves the idle expiry on. A storage that cannot take it (full, gone) leaves the session as it is: the next page tries again. */
  #touch(sessionId: string, row: { expiresAt: number }, expiresAt: number): void {
    try {
      this.#db.prepare('UPDATE sessions SET expires_at = ? WHERE id = ?').run(expiresAt, sessionId);
      row.expiresAt = expiresAt;
    } catch {
      // The read succeeded; the expiry stays where it was.
    }
  }

  #remember(ids: string[]): void {
    for (const id of ids) {
      this.#ended.add(id);
      this.#rows.delete(id);
    }
    for (const id of this.#ended) {
      if (this.#ended.size <= 4 * this.#maxSessions) break;
      this.#ended.delete(id);
    }
  }

  #enforceCap(): void {
    const over = this.count() - this.#maxSessions;
    if (over <= 0) return;
    this.sweep();
    const stillOver = this.count() - this.#maxSessions;
    if (stillOver <= 0) return;
    // expires_at moves with use (to within TOUCH_AFTER_MS), so the smallest is the session unused the longest.
    const ended = this.#db.prepare('DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY expires_at LIMIT ?) RETURNING id').pluck().all(stillOver) as string[];
    for (const id of ended) this.#rows.delete(id);
    this.#log.warn({ ended: stillOver, maxSessions: this.#maxSessions }, 'session table full: the least recently used sessions were ended');
  }
}
