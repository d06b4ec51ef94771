import type { Db } from '../db/database.js';

export const EVENT_KINDS = ['requested', 'obtained', 'refreshed', 'denied', 'expired', 'failed', 'invalidated', 'deleted', 'unreachable', 'resumed', 'challenged'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface LoggedEvent {
  id: number;
  at: number;
  kind: EventKind;
  providerName: string | null;
  account: string | null;
  detail: string | null;
}

/** The technician's record of token lifecycle events. Details never contain token values. */
export class EventLog {
  /** Old entries are dropped so a printer's storage does not fill up. */
  static readonly KEEP = 1000;

  constructor(
    private readonly db: Db,
    /** The device's clock (the simulator moves it). */
    private readonly clock: () => number = Date.now,
  ) {}

  record(kind: EventKind, providerName: string | null, account: string | null, detail?: string): void {
    this.db.prepare('INSERT INTO events (at, kind, provider_name, account, detail) VALUES (?, ?, ?, ?, ?)').run(this.clock(), kind, providerName, account, detail ?? null);
    this.db.prepare('DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?').run(EventLog.KEEP);
  }

  list(limit = 200): LoggedEvent[] {
    const rows = this.db.prepare('SELECT id, at, kind, provider_name, account, detail FROM events ORDER BY id DESC LIMIT ?').all(limit) as {
      id: number; at: number; kind: EventKind; provider_name: string | null; account: string | null; detail: string | null;
    }[];
    return rows.map((row) => ({ id: row.id, at: row.at, kind: row.kind, providerName: row.provider_name, account: row.account, detail: row.detail }));
  }
}
