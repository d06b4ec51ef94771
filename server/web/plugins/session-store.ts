import type { Session } from 'fastify';
import type { Db } from '../../db/database.js';

type Callback = (err?: unknown) => void;
type SessionData = Session;

/**
 * Keeps admin sessions in the device database, so a restart does not log the admin out and a pending
 * authorization stays bound to the session that started it. Only the session id travels in the cookie.
 */
export class SqliteSessionStore {
  constructor(
    private readonly db: Db,
    private readonly maxAgeMs: number,
  ) {}

  set(sessionId: string, session: SessionData, callback: Callback): void {
    try {
      this.db
        .prepare('INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at')
        .run(sessionId, JSON.stringify(session), Date.now() + this.maxAgeMs);
      callback();
    } catch (err) {
      callback(err);
    }
  }

  get(sessionId: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    try {
      const row = this.db.prepare('SELECT data, expires_at FROM sessions WHERE id = ?').get(sessionId) as { data: string; expires_at: number } | undefined;
      if (!row || row.expires_at < Date.now()) return callback(null, null);
      callback(null, JSON.parse(row.data) as SessionData);
    } catch (err) {
      callback(err);
    }
  }

  destroy(sessionId: string, callback: Callback): void {
    try {
      this.db.prepare('DELETE FROM sessions WHERE id = ? OR expires_at < ?').run(sessionId, Date.now());
      callback();
    } catch (err) {
      callback(err);
    }
  }
}
