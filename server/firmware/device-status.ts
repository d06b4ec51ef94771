/**
 * The printer's device status as the firmware reports it (toner low, paper jam, service call), kept in
 * SQLite so the home page and the firmware's GET /status agree, also after a restart.
 *
 * A condition is active until the firmware reports `cleared` (which clears every active condition and
 * is recorded itself) or reports the same kind again (the newer report replaces the older one).
 */
import type { Db } from '../db/database.js';

export const DEVICE_EVENT_KINDS = ['toner_low', 'paper_jam', 'service_call', 'cleared'] as const;
export type DeviceEventKind = (typeof DEVICE_EVENT_KINDS)[number];
export type DeviceCondition = Exclude<DeviceEventKind, 'cleared'>;

export interface DeviceEvent {
  id: number;
  kind: DeviceEventKind;
  detail: string | null;
  at: number;
}

export function isDeviceEventKind(value: unknown): value is DeviceEventKind {
  return typeof value === 'string' && (DEVICE_EVENT_KINDS as readonly string[]).includes(value);
}

interface Row {
  id: number;
  kind: DeviceEventKind;
  detail: string | null;
  at: number;
}

export class DeviceStatus {
  /** Old rows are dropped so a printer's storage does not fill up (active ones are always kept). */
  static readonly KEEP = 1000;

  constructor(private readonly db: Db) {}

  /** Records an event and applies it to the active conditions; returns its id. */
  record(kind: DeviceEventKind, detail: string | null, at = Date.now()): number {
    return this.db.transaction(() => {
      if (kind === 'cleared') this.db.prepare('UPDATE device_events SET cleared_at = ? WHERE cleared_at IS NULL').run(at);
      else this.db.prepare('UPDATE device_events SET cleared_at = ? WHERE cleared_at IS NULL AND kind = ?').run(at, kind);
      const { lastInsertRowid } = this.db
        .prepare('INSERT INTO device_events (kind, detail, at, cleared_at) VALUES (?, ?, ?, ?)')
        .run(kind, detail, at, kind === 'cleared' ? at : null);
      const id = Number(lastInsertRowid);
      this.db.prepare('DELETE FROM device_events WHERE id <= ? AND cleared_at IS NOT NULL').run(id - DeviceStatus.KEEP);
      return id;
    }).immediate();
  }

  setAlertJob(id: number, jobId: number): void {
    this.db.prepare('UPDATE device_events SET alert_job_id = ? WHERE id = ?').run(jobId, id);
  }

  /** The active conditions, oldest first. */
  active(): DeviceEvent[] {
    const rows = this.db.prepare('SELECT id, kind, detail, at FROM device_events WHERE cleared_at IS NULL ORDER BY id').all() as Row[];
    return rows.map((row) => ({ id: row.id, kind: row.kind, detail: row.detail, at: row.at }));
  }
}
