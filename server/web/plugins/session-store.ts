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
 * A request that changes nothing in its session rewrites the row only once its expiry has moved on
 * by this much: the idle expiry (and the least-recently-used order, read from the same column) is
 * then late by at most a minute, and a page costs no database write.
 */
export const TOUCH_AFTER_MS = 60_000;

/**
 * Keeps admin sessions in the device database, so a restart does not log the admin out and a pending
 * authorization stays bound to the session that started it. Only the session id travels in the cookie.
 * Only logged-in sessions get here (anonymous pages keep nothing: the login form's CSRF secret is a
 * signed cookie), and the table is bounded: expired rows are swept on a timer, and past `maxSessions`
 * the least recently used sessions are ended, so no visitor can fill the data partition.
 */
export class SqliteSessionStore {
  readonly #db: Db;
  readonly #maxAgeMs: number;
  readonly #maxSessions: number;
  readonly #log: SessionStoreLogger;
  readonly #sweeper: NodeJS.Timeout;
  /**
   * Sessions ended here (logout, a password change), so that a request of one still under way cannot
   * write it back when it finishes (every request saves its session). Only ids; the newest few hundred.
   */
  readonly #ended = new Set<string>();
  /** What this store last wrote of each session: its data less the cookie (whose expiry moves on every request), and the row's expiry. */
  readonly #written = new Map<string, { content: string; expiresAt: number }>();
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
      const content = JSON.stringify({ ...session, cookie: undefined });
      const written = this.#written.get(sessionId);
      if (written && written.content === content && expiresAt - written.expiresAt < TOUCH_AFTER_MS) return callback();
      const data = JSON.stringify(session);
      // A request of a known session is one UPDATE; only a new session counts rows.
      const updated = this.#db.prepare('UPDATE sessions SET data = ?, expires_at = ? WHERE id = ?').run(data, expiresAt, sessionId).changes;
      if (!updated && !this.#ended.has(sessionId)) {
        this.#db.prepare('INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?)').run(sessionId, data, expiresAt);
        this.#enforceCap();
      }
      if (updated || !this.#ended.has(sessionId)) this.#written.set(sessionId, { content, expiresAt });
      callback();
    } catch (err) {
      callback(err);
    }
  }

  get(sessionId: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    try {
      const row = this.#db.prepare('SELECT data, expires_at FROM sessions WHERE id = ?').get(sessionId) as { data: string; expires_at: number } | undefined;
      if (!row || row.expires_at < this.#now()) {
        this.#written.delete(sessionId);
        return callback(null, null);
      }
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
    for (const [id, written] of this.#written) if (written.expiresAt < now) this.#written.delete(id);
    return this.#db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(now).changes;
  }

  count(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n;
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  #remember(ids: string[]): void {
    for (const id of ids) {
      this.#ended.add(id);
      this.#written.delete(id);
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
    for (const id of ended) this.#written.delete(id);
    this.#log.warn({ ended: stillOver, maxSessions: this.#maxSessions }, 'session table full: the least recently used sessions were ended');
  }
}
