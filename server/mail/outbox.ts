/**
 * The persistent mail outbox (SQLite). A job is written here before the sender opens any connection
 * and leaves only when the server has accepted it for every recipient (or when the admin deletes it).
 * Pure persistence: what to do with a job is the sender's business (./sender.ts).
 *
 * Attachments are files in `<data dir>/outbox/` (./attachment-files.ts), named by their row: a scan
 * is never held whole in memory or in SQLite. A file is durable before its row commits and removed
 * after its row is deleted; a crash in between leaves a file no row names, swept by recover().
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/database.js';
import type { Reason } from '../oauth/token-state.js';
import { AttachmentFiles, type StoredFile } from './attachment-files.js';

export const JOB_KINDS = ['scan', 'alert', 'test', 'other'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type JobStatus = 'queued' | 'held' | 'failed';

/** What a held job waits for: a usable token, or a change of the SMTP settings. */
export type Hold = 'token' | `settings:${string}`;

export interface OutboxMessage {
  subject: string;
  text?: string | undefined;
  html?: string | undefined;
  /** Header recipients (Bcc is only in the envelope). */
  to: string[];
  cc: string[];
  replyTo?: string | undefined;
  /** Fixed when queued so a retried message keeps its identity. */
  messageId: string;
  date: number;
}

/** An attachment with its bytes (what attachments() reads back; small ones are queued this way too). */
export interface OutboxAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

/** An attachment as queued: its bytes (written to a file by add()), or a file already written with `files.create()`. */
export type OutboxAttachmentInput = OutboxAttachment | { filename: string; contentType: string; file: StoredFile };

/** An attachment as stored: the sender hands the path to nodemailer, which streams it. */
export interface OutboxAttachmentFile {
  filename: string;
  contentType: string;
  path: string;
  size: number;
}

interface AttachmentRow {
  job_id: number;
  idx: number;
  filename: string;
  content_type: string;
  file: string | null;
  size: number | null;
}

export interface RejectedRecipient {
  address: string;
  reply: string;
}

export interface OutboxJob {
  id: number;
  kind: JobKind;
  status: JobStatus;
  createdAt: number;
  updatedAt: number;
  attempts: number;
  nextAttemptAt: number;
  message: OutboxMessage;
  /** Envelope recipients the server has not accepted yet. */
  recipients: string[];
  delivered: number;
  rejected: RejectedRecipient[];
  hold: Hold | null;
  reason: (Reason & { at: number }) | null;
}

interface JobRow {
  id: number;
  kind: JobKind;
  status: JobStatus;
  created_at: number;
  updated_at: number;
  attempts: number;
  next_attempt_at: number;
  message_json: string;
  recipients_json: string;
  delivered_count: number;
  rejected_json: string;
  hold: string | null;
  reason_code: string | null;
  reason_detail: string | null;
  reason_at: number | null;
}

function toJob(row: JobRow): OutboxJob {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    message: JSON.parse(row.message_json) as OutboxMessage,
    recipients: JSON.parse(row.recipients_json) as string[],
    delivered: row.delivered_count,
    rejected: JSON.parse(row.rejected_json) as RejectedRecipient[],
    hold: row.hold as Hold | null,
    reason: row.reason_code ? { code: row.reason_code, detail: row.reason_detail ?? undefined, at: row.reason_at ?? row.updated_at } : null,
  };
}

const sameAddress = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export class Outbox {
  readonly files: AttachmentFiles;

  /** `attachmentDir` defaults to `outbox/` next to the database file, i.e. in the data directory. */
  constructor(
    private readonly db: Db,
    attachmentDir = path.join(path.dirname(db.name), 'outbox'),
  ) {
    this.files = new AttachmentFiles(attachmentDir);
  }

  /**
   * Writes a job and its attachments' rows in one transaction; returns its id. Content given as bytes
   * is written to a file first. Files given as `file` become the job's once this returns (until then
   * they stay the caller's, to discard if this throws).
   */
  add(kind: JobKind, message: OutboxMessage, recipients: string[], attachments: OutboxAttachmentInput[], now = Date.now()): number {
    const written: StoredFile[] = [];
    let stored: StoredFile[];
    let id: number;
    try {
      stored = attachments.map((attachment) => {
        if ('file' in attachment) return attachment.file;
        const file = this.files.writeSync(attachment.content);
        written.push(file);
        return file;
      });
      id = this.db.transaction(() => {
        const { lastInsertRowid } = this.db
          .prepare(
            `INSERT INTO outbox (kind, status, created_at, updated_at, attempts, next_attempt_at, message_json, recipients_json)
             VALUES (?, 'queued', ?, ?, 0, ?, ?, ?)`,
          )
          .run(kind, now, now, now, JSON.stringify(message), JSON.stringify(recipients));
        const jobId = Number(lastInsertRowid);
        const insert = this.db.prepare('INSERT INTO outbox_attachments (job_id, idx, filename, content_type, file, size) VALUES (?, ?, ?, ?, ?, ?)');
        attachments.forEach((attachment, idx) => insert.run(jobId, idx, attachment.filename, attachment.contentType, stored[idx]!.name, stored[idx]!.size));
        return jobId;
      }).immediate();
    } catch (err) {
      for (const file of written) this.files.remove(file.name);
      throw err;
    }
    for (const file of stored) this.files.claimed(file.name);
    return id;
  }

  get(id: number): OutboxJob | undefined {
    const row = this.db.prepare('SELECT * FROM outbox WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toJob(row) : undefined;
  }

  /** The job's attachments as files, in order: what the sender gives nodemailer. */
  attachmentFiles(id: number): OutboxAttachmentFile[] {
    return this.#attachmentRows(id).map((row) => {
      const { name, size } = row.file !== null ? { name: row.file, size: row.size ?? 0 } : this.#moveToFile(row);
      return { filename: row.filename, contentType: row.content_type, path: this.files.pathOf(name), size };
    });
  }

  /** The job's attachments read into memory: for tests and tools, never for a scan on the device. */
  attachments(id: number): OutboxAttachment[] {
    return this.attachmentFiles(id).map(({ filename, contentType, path: file }) => ({ filename, contentType, content: fs.readFileSync(file) }));
  }

  #attachmentRows(id: number): AttachmentRow[] {
    return this.db.prepare('SELECT job_id, idx, filename, content_type, file, size FROM outbox_attachments WHERE job_id = ? ORDER BY idx').all(id) as AttachmentRow[];
  }

  /** A row queued before attachments moved to files still has its bytes in SQLite: move them out. */
  #moveToFile(row: AttachmentRow): StoredFile {
    const { content } = this.db.prepare('SELECT content FROM outbox_attachments WHERE job_id = ? AND idx = ?').get(row.job_id, row.idx) as { content: Buffer };
    const file = this.files.writeSync(content);
    try {
      this.db.prepare('UPDATE outbox_attachments SET file = ?, size = ?, content = NULL WHERE job_id = ? AND idx = ?').run(file.name, file.size, row.job_id, row.idx);
    } catch (err) {
      this.files.remove(file.name);
      throw err;
    }
    this.files.claimed(file.name);
    return file;
  }

  /**
   * At start: attachments still in SQLite (queued before the upgrade) move to files, and files no
   * row names (a crash between writing a file and queuing or deleting its job) are removed, unless
   * `sweep` is false: a database found damaged names none of them, and they are what is left.
   */
  recover(options: { sweep?: boolean } = {}): { moved: number; swept: number } {
    const inline = this.db.prepare('SELECT job_id, idx, filename, content_type, file, size FROM outbox_attachments WHERE file IS NULL').all() as AttachmentRow[];
    for (const row of inline) this.#moveToFile(row);
    if (options.sweep === false) return { moved: inline.length, swept: 0 };
    const referenced = new Set((this.db.prepare('SELECT file FROM outbox_attachments WHERE file IS NOT NULL').pluck().all() as string[]));
    return { moved: inline.length, swept: this.files.sweep(referenced) };
  }

  /** The queued job that is due first, if any is due at `now`. */
  nextDue(now = Date.now()): OutboxJob | undefined {
    const row = this.db.prepare("SELECT * FROM outbox WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1").get(now) as JobRow | undefined;
    return row ? toJob(row) : undefined;
  }

  /** When the next queued job becomes due (undefined: nothing queued). */
  nextWakeAt(): number | undefined {
    const row = this.db.prepare("SELECT MIN(next_attempt_at) AS at FROM outbox WHERE status = 'queued'").get() as { at: number | null };
    return row.at ?? undefined;
  }

  counts(): Record<JobStatus, number> {
    const counts: Record<JobStatus, number> = { queued: 0, held: 0, failed: 0 };
    for (const row of this.db.prepare('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status').all() as { status: JobStatus; n: number }[]) counts[row.status] = row.n;
    return counts;
  }

  list(limit = 100): OutboxJob[] {
    const rows = this.db.prepare("SELECT * FROM outbox ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'held' THEN 1 ELSE 2 END, id LIMIT ?").all(limit) as JobRow[];
    return rows.map(toJob);
  }

  /**
   * One batch went through: `accepted` and `rejected` (refused for good) leave the job's recipient
   * list; recipients the server deferred (4xx) stay for the next attempt.
   */
  recordBatch(id: number, accepted: string[], rejected: RejectedRecipient[], now = Date.now()): void {
    this.db.transaction(() => {
      const job = this.get(id);
      if (!job) return;
      const done = [...accepted, ...rejected.map((r) => r.address)];
      const remaining = job.recipients.filter((address) => !done.some((d) => sameAddress(d, address)));
      this.db
        .prepare('UPDATE outbox SET recipients_json = ?, delivered_count = delivered_count + ?, rejected_json = ?, updated_at = ? WHERE id = ?')
        .run(JSON.stringify(remaining), accepted.length, JSON.stringify([...job.rejected, ...rejected]), now, id);
    }).immediate();
  }

  /** Deletes the job (its attachment rows cascade), then its files: a crash in between leaves only orphans. */
  remove(id: number): boolean {
    const files = this.db.prepare('SELECT file FROM outbox_attachments WHERE job_id = ? AND file IS NOT NULL').pluck().all(id) as string[];
    const removed = this.db.prepare('DELETE FROM outbox WHERE id = ?').run(id).changes > 0;
    if (removed) for (const file of files) this.files.remove(file);
    return removed;
  }

  scheduleRetry(id: number, at: number, reason: Reason, now = Date.now()): void {
    this.db
      .prepare("UPDATE outbox SET status = 'queued', attempts = attempts + 1, next_attempt_at = ?, hold = NULL, reason_code = ?, reason_detail = ?, reason_at = ?, updated_at = ? WHERE id = ?")
      .run(at, reason.code, reason.detail ?? null, now, now, id);
  }

  hold(id: number, hold: Hold, reason: Reason, now = Date.now()): void {
    this.db
      .prepare("UPDATE outbox SET status = 'held', hold = ?, reason_code = ?, reason_detail = ?, reason_at = ?, updated_at = ? WHERE id = ?")
      .run(hold, reason.code, reason.detail ?? null, now, now, id);
  }

  fail(id: number, reason: Reason, now = Date.now()): void {
    this.db
      .prepare("UPDATE outbox SET status = 'failed', hold = NULL, reason_code = ?, reason_detail = ?, reason_at = ?, updated_at = ? WHERE id = ?")
      .run(reason.code, reason.detail ?? null, now, now, id);
  }

  /** After a restart every queued job is due at once: the cause of its last failure may be gone. */
  makeAllDue(now = Date.now()): number {
    return this.db.prepare("UPDATE outbox SET next_attempt_at = ? WHERE status = 'queued' AND next_attempt_at > ?").run(now, now).changes;
  }

  /** Held jobs whose cause is gone go back to the queue, due now; returns how many. */
  releaseHeld(which: { token: boolean; settingsFingerprint: string }, now = Date.now()): number {
    const { changes } = this.db
      .prepare(
        `UPDATE outbox SET status = 'queued', hold = NULL, next_attempt_at = ?, updated_at = ?
         WHERE status = 'held' AND ((hold = 'token' AND ?) OR (hold LIKE 'settings:%' AND hold <> ?))`,
      )
      .run(now, now, which.token ? 1 : 0, `settings:${which.settingsFingerprint}`);
    return changes;
  }

  /**
   * The admin's Retry: back to the queue, due now, with a fresh attempt count. Recipients refused
   * for good are tried again (the admin may have fixed the mailbox); those already delivered are not.
   */
  retry(id: number, now = Date.now()): boolean {
    return this.db.transaction(() => {
      const job = this.get(id);
      if (!job) return false;
      const recipients = [...job.recipients, ...job.rejected.map((r) => r.address).filter((a) => !job.recipients.some((r) => sameAddress(r, a)))];
      this.db
        .prepare(
          `UPDATE outbox SET status = 'queued', hold = NULL, attempts = 0, next_attempt_at = ?, recipients_json = ?, rejected_json = '[]',
           reason_code = NULL, reason_detail = NULL, reason_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(now, JSON.stringify(recipients), now, id);
      return true;
    }).immediate();
  }
}
