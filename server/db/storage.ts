/**
 * The condition of the device's storage, as the home page tells it: the database was found damaged
 * and moved aside (recovery mode), device.key was replaced (secrets to enter again), the storage is
 * full (saves refused until space returns), or the database file was deleted or replaced while the
 * device ran (saves refused until a restart). Routes and the firmware bridge ask `assertWritable()`
 * before a change; anything that meets SQLITE_FULL or ENOSPC reports it with `noteError()`.
 */
import fs from 'node:fs';
import type { Db, Recovery } from './database.js';
import { readState, writeState } from './device-state.js';
import { secretsToReenter, type SecretToReenter } from '../security/device-key-check.js';

export type StorageProblem = 'full' | 'gone';

/** Why a change cannot be saved now. `problem` maps to the message catalog (storage.<problem>.*). */
export class StorageUnavailableError extends Error {
  constructor(readonly problem: StorageProblem) {
    super(problem === 'full' ? 'the device storage is full' : 'the device database was deleted or replaced while running');
  }
}

const RECOVERY = 'recovery';
/** How often a full storage is tried again while nothing else writes. */
const FULL_PROBE_MS = 5_000;
/** How old the look at the database file may be for what a page shows (a stat on every page was 2 % of its CPU). */
const SHOWN_STAT_MS = 1_000;

/** SQLITE_FULL from SQLite, ENOSPC / EDQUOT / EFBIG from the file system. */
export function isStorageFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

export interface StorageOptions {
  db: Db;
  /** the database file as opened, and its identity then */
  file: string;
  identity: { dev: number; ino: number };
  log: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
  probeMs?: number;
}

export class DeviceStorage {
  readonly #db: Db;
  readonly #file: string;
  readonly #identity: { dev: number; ino: number };
  readonly #log: StorageOptions['log'];
  readonly #probeMs: number;
  #full = false;
  #gone = false;
  /** When #stillThere last found the file (performance.now()); -Infinity: not yet. */
  #foundAt = -Infinity;
  #probe: NodeJS.Timeout | null = null;

  constructor(options: StorageOptions) {
    this.#db = options.db;
    this.#file = options.file;
    this.#identity = options.identity;
    this.#log = options.log;
    this.#probeMs = options.probeMs ?? FULL_PROBE_MS;
  }

  /** The file under the path is still the one the device writes to (not deleted, not replaced), as found at most `maxAgeMs` ago. */
  #stillThere(maxAgeMs: number): boolean {
    if (this.#gone) return false;
    const now = performance.now();
    if (now - this.#foundAt < maxAgeMs) return true;
    try {
      const stat = fs.statSync(this.#file);
      if (stat.dev === this.#identity.dev && stat.ino === this.#identity.ino) {
        this.#foundAt = now;
        return true;
      }
    } catch {
      /* deleted, or its directory */
    }
    this.#gone = true;
    this.#log.warn({ storage: 'gone', file: this.#file }, 'the database file was deleted or replaced while the device was running: changes are refused until a restart');
    return false;
  }

  /** Tries a small write: whether the storage takes writes again. */
  #tryWrite(): boolean {
    try {
      writeState(this.#db, 'write_probe', String(Date.now()));
      return true;
    } catch (err) {
      if (!isStorageFull(err)) throw err;
      return false;
    }
  }

  /** Something met a full storage: say so until a write works again. */
  noteError(err: unknown): void {
    if (!isStorageFull(err) || this.#full) return;
    this.#full = true;
    this.#log.warn({ storage: 'full' }, 'the device storage is full: changes are refused until space is freed');
    this.#probe = setInterval(() => this.#recheck(), this.#probeMs);
    this.#probe.unref();
  }

  #recheck(): boolean {
    if (!this.#full) return true;
    if (!this.#tryWrite()) return false;
    this.#full = false;
    if (this.#probe) clearInterval(this.#probe);
    this.#probe = null;
    this.#log.info({ storage: 'ok' }, 'the device storage takes writes again');
    return true;
  }

  /** The storage problem an error shows (refused here, SQLITE_FULL, ENOSPC), noted; undefined for any other error. */
  problemOf(err: unknown): StorageProblem | undefined {
    if (err instanceof StorageUnavailableError) return err.problem;
    if (!isStorageFull(err)) return undefined;
    this.noteError(err);
    return 'full';
  }

  /** At start: find out whether the storage is full before the first change is tried. */
  checkAtStart(): void {
    if (!this.#tryWrite()) this.noteError({ code: 'SQLITE_FULL' });
  }

  /** The storage problem now, if any (a full storage is tried again first: space may have returned); what a change asks. */
  problem(): StorageProblem | undefined {
    return this.#problem(0);
  }

  /** The storage problem as a page shows it: a database file deleted or replaced may be told up to a second late. */
  problemToShow(): StorageProblem | undefined {
    return this.#problem(SHOWN_STAT_MS);
  }

  #problem(statMaxAgeMs: number): StorageProblem | undefined {
    if (!this.#stillThere(statMaxAgeMs)) return 'gone';
    if (this.#full && !this.#recheck()) return 'full';
    return undefined;
  }

  /** Before a change: throws StorageUnavailableError when it could not be saved. */
  assertWritable(): void {
    const problem = this.problem();
    if (problem) throw new StorageUnavailableError(problem);
  }

  // ---- recovery mode ---------------------------------------------------------------------------

  recordRecovery(recovery: Recovery): void {
    writeState(this.#db, RECOVERY, JSON.stringify(recovery), recovery.at);
  }

  /** Set from the start that found the database damaged until the admin dismisses it. */
  recovery(): Recovery | undefined {
    const value = readState(this.#db, RECOVERY);
    return value ? (JSON.parse(value) as Recovery) : undefined;
  }

  dismissRecovery(): void {
    writeState(this.#db, RECOVERY, null);
  }

  /** Secrets sealed under a lost device key that have not been entered again. */
  secretsToReenter(): SecretToReenter[] {
    return secretsToReenter(this.#db);
  }

  close(): void {
    if (this.#probe) clearInterval(this.#probe);
    this.#probe = null;
  }
}
