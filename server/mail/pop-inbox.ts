/**
 * What the POP checker keeps in SQLite: the UIDs it has fetched per mailbox (so a check fetches only
 * new mail), the e-mail print inbox (what it fetched), and the outcome of the last check.
 */
import type { Db } from '../db/database.js';

/** One message the checker fetched, as the inbox page lists it. */
export interface InboxEntry {
  id: number;
  mailbox: string;
  uid: string;
  from: string | null;
  subject: string | null;
  date: string | null;
  size: number;
  receivedAt: number;
  /** Whether the raw message was kept (it is not when larger than the cap). */
  rawKept: boolean;
}

export interface PopInboxOptions {
  /** Raw messages larger than this are listed but not kept. */
  rawCapBytes?: number;
  /** The inbox keeps this many newest entries (seen UIDs are kept apart and never trimmed). */
  keepEntries?: number;
}

export const DEFAULT_RAW_CAP_BYTES = 256 * 1024;
export const DEFAULT_KEEP_ENTRIES = 200;

/** A mailbox is a server and the user signed in there; the port and TLS mode do not change it. */
export function mailboxKey(host: string, user: string): string {
  return `${host.trim().toLowerCase()}/${user.trim().toLowerCase()}`;
}

export class PopInbox {
  readonly rawCapBytes: number;
  readonly keepEntries: number;

  constructor(
    private readonly db: Db,
    options: PopInboxOptions = {},
  ) {
    this.rawCapBytes = options.rawCapBytes ?? DEFAULT_RAW_CAP_BYTES;
    this.keepEntries = options.keepEntries ?? DEFAULT_KEEP_ENTRIES;
  }

  /**
   * Compares the server's UIDL with what was fetched before: returns the messages not seen yet (in
   * server order) and forgets UIDs no longer on the server, so the table tracks the mailbox's size.
   */
  reconcile(mailbox: string, onServer: ReadonlyMap<string, number>): { fresh: { uid: string; number: number }[]; forgotten: number } {
    return this.db.transaction(() => {
      const seen = this.db.prepare('SELECT uid FROM pop_seen WHERE mailbox = ?').pluck().all(mailbox) as string[];
      const seenSet = new Set(seen);
      const gone = seen.filter((uid) => !onServer.has(uid));
      if (gone.length) {
        const forget = this.db.prepare('DELETE FROM pop_seen WHERE mailbox = ? AND uid = ?');
        for (const uid of gone) forget.run(mailbox, uid);
      }
      const fresh = [...onServer].filter(([uid]) => !seenSet.has(uid)).map(([uid, number]) => ({ uid, number }));
      fresh.sort((a, b) => a.number - b.number);
      return { fresh, forgotten: gone.length };
    }).immediate();
  }

  /**
   * IMAP: what was fetched from a folder is remembered under `<folderKey>;UIDVALIDITY=<n>` (the
   * RFC 5092 form); the highest UID there is the cursor. Only that row is kept, and the rows of a
   * UIDVALIDITY the server no longer has are forgotten: the folder was renumbered.
   */
  imapCursor(folderKey: string, uidValidity: string): { mailbox: string; lastUid: number; forgotten: number } {
    const mailbox = `${folderKey};UIDVALIDITY=${uidValidity}`;
    return this.db.transaction(() => {
      const lastUid = (this.db.prepare('SELECT MAX(CAST(uid AS INTEGER)) FROM pop_seen WHERE mailbox = ?').pluck().get(mailbox) as number | null) ?? 0;
      this.db.prepare('DELETE FROM pop_seen WHERE mailbox = ? AND CAST(uid AS INTEGER) < ?').run(mailbox, lastUid);
      const stale = this.db.prepare("DELETE FROM pop_seen WHERE substr(mailbox, 1, ?) = ? AND mailbox <> ?").run(folderKey.length + 13, `${folderKey};UIDVALIDITY=`, mailbox);
      return { mailbox, lastUid, forgotten: stale.changes };
    }).immediate();
  }

  /** Records one fetched message and marks its UID seen, in one transaction. */
  record(mailbox: string, uid: string, raw: Buffer, receivedAt = Date.now()): void {
    const headers = parseHeaders(raw);
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO pop_inbox (mailbox, uid, from_text, subject, date_header, size, received_at, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(mailbox, uid, headers.from, headers.subject, headers.date, raw.length, receivedAt, raw.length <= this.rawCapBytes ? raw : null);
      this.db.prepare('INSERT OR IGNORE INTO pop_seen (mailbox, uid, seen_at) VALUES (?, ?, ?)').run(mailbox, uid, receivedAt);
      this.db.prepare('DELETE FROM pop_inbox WHERE id <= (SELECT MAX(id) FROM pop_inbox) - ?').run(this.keepEntries);
    }).immediate();
  }

  seenCount(mailbox: string): number {
    return this.db.prepare('SELECT COUNT(*) FROM pop_seen WHERE mailbox = ?').pluck().get(mailbox) as number;
  }

  list(limit = 50): InboxEntry[] {
    const rows = this.db
      .prepare('SELECT id, mailbox, uid, from_text, subject, date_header, size, received_at, raw IS NOT NULL AS kept FROM pop_inbox ORDER BY id DESC LIMIT ?')
      .all(limit) as { id: number; mailbox: string; uid: string; from_text: string | null; subject: string | null; date_header: string | null; size: number; received_at: number; kept: number }[];
    return rows.map((r) => ({ id: r.id, mailbox: r.mailbox, uid: r.uid, from: r.from_text, subject: r.subject, date: r.date_header, size: r.size, receivedAt: r.received_at, rawKept: r.kept === 1 }));
  }

  raw(id: number): Buffer | undefined {
    return (this.db.prepare('SELECT raw FROM pop_inbox WHERE id = ?').pluck().get(id) as Buffer | null | undefined) ?? undefined;
  }

  lastStatus(): { lastCheckAt: number; outcomeJson: string } | undefined {
    const row = this.db.prepare('SELECT last_check_at, outcome_json FROM pop_status WHERE id = 1').get() as { last_check_at: number; outcome_json: string } | undefined;
    return row ? { lastCheckAt: row.last_check_at, outcomeJson: row.outcome_json } : undefined;
  }

  saveStatus(lastCheckAt: number, outcomeJson: string): void {
    this.db
      .prepare('INSERT INTO pop_status (id, last_check_at, outcome_json) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET last_check_at = excluded.last_check_at, outcome_json = excluded.outcome_json')
      .run(lastCheckAt, outcomeJson);
  }
}

// ---- headers -------------------------------------------------------------------------------------

const HEADER_SCAN_BYTES = 64 * 1024;
const FIELD_MAX = 300;

/** From, Subject and Date of a message (RFC 5322 unfolding, RFC 2047 encoded words), for listing. */
export function parseHeaders(raw: Buffer): { from: string | null; subject: string | null; date: string | null } {
  const head = raw.subarray(0, HEADER_SCAN_BYTES).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n[ \t]+/g, ' ');
  const fields = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(colon + 1).trim());
  }
  const field = (name: string): string | null => {
    const value = fields.get(name);
    if (value === undefined) return null;
    // Header bytes are usually ASCII; raw UTF-8 (RFC 6532) is decoded as such.
    const text = decodeWords(Buffer.from(value, 'latin1').toString('utf8'));
    const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
    return flat.length > FIELD_MAX ? `${flat.slice(0, FIELD_MAX - 1)}…` : flat;
  };
  return { from: field('from'), subject: field('subject'), date: field('date') };
}

function decodeWords(text: string): string {
  // Whitespace between two encoded words is not shown (RFC 2047 §6.2).
  return text
    .replace(/(=\?[^?\s]+\?[bq]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[bq]\?[^?\s]*\?=)/gi, '$1')
    .replace(/=\?([^?\s]+)\?([bq])\?([^?\s]*)\?=/gi, (whole, charset: string, enc: string, data: string) => {
      try {
        const bytes = enc.toLowerCase() === 'b'
          ? Buffer.from(data, 'base64')
          : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
        return new TextDecoder(charset.split('*')[0]!.toLowerCase()).decode(bytes);
      } catch {
        return whole; // unknown charset: show it as it came
      }
    });
}
