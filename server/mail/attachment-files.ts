/**
 * The outbox's attachment files: `<data dir>/outbox/`, mode 0700, one file per attachment, mode 0600.
 * A 20 MB scan lives here, not in memory nor in SQLite: the bridge streams it in, nodemailer streams
 * it out once per batch.
 *
 * A file is written under a temporary name, fsynced, renamed and its directory fsynced before the
 * job row that names it commits; so a job in the outbox always has its bytes on disk, and a crash
 * leaves at worst a file no row names, which sweep() removes at the next start.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface StoredFile {
  /** The file's name in the outbox directory. */
  name: string;
  size: number;
}

const TEMP = '.part';

/** fsync of the directory makes a rename durable; some platforms cannot open a directory for it. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not supported here (e.g. Windows): the rename is as durable as the platform makes it */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function openTemp(file: string): number {
  const fd = fs.openSync(file, 'wx', 0o600);
  // The umask may only have taken bits away; make it exactly owner read/write.
  fs.fchmodSync(fd, 0o600);
  return fd;
}

export class AttachmentFiles {
  /** Names this process is writing or has written whose job row has not committed: sweep() keeps them. */
  readonly #unclaimed = new Set<string>();

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode goes through the umask and does nothing to a directory that already exists.
    fs.chmodSync(dir, 0o700);
  }

  pathOf(name: string): string {
    // Names come from our own rows; refuse anything that would leave the directory all the same.
    if (name !== path.basename(name) || name.startsWith('.')) throw new Error(`not an outbox file name: ${JSON.stringify(name)}`);
    return path.join(this.dir, name);
  }

  #newName(): string {
    const name = `${randomUUID()}.bin`;
    this.#unclaimed.add(name);
    return name;
  }

  /** Writes small content in one go (enqueue with a Buffer); durable when this returns. */
  writeSync(content: Buffer): StoredFile {
    const name = this.#newName();
    const temp = this.pathOf(name) + TEMP;
    try {
      const fd = openTemp(temp);
      try {
        for (let at = 0; at < content.length; ) at += fs.writeSync(fd, content, at, content.length - at);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, this.pathOf(name));
      syncDirectory(this.dir);
      return { name, size: content.length };
    } catch (err) {
      fs.rmSync(temp, { force: true });
      this.#unclaimed.delete(name);
      throw err;
    }
  }

  /** A file written piece by piece as the bytes arrive (the bridge's scans). */
  create(): AttachmentWriter {
    return new AttachmentWriter(this, this.#newName());
  }

  /** The job row naming the file has committed: from now on the row keeps it. */
  claimed(name: string): void {
    this.#unclaimed.delete(name);
  }

  /** Removes a file (job sent or deleted, or a file never queued); a file already gone is fine. */
  remove(name: string): void {
    this.#unclaimed.delete(name);
    try {
      fs.rmSync(this.pathOf(name), { force: true });
      fs.rmSync(this.pathOf(name) + TEMP, { force: true });
    } catch {
      /* left for the sweep at the next start */
    }
  }

  /** Removes every file no row names (left by a crash between writing a file and queuing its job). */
  sweep(referenced: ReadonlySet<string>): number {
    let swept = 0;
    for (const entry of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const name = entry.name.endsWith(TEMP) ? entry.name.slice(0, -TEMP.length) : entry.name;
      if (this.#unclaimed.has(name) || (name === entry.name && referenced.has(name))) continue;
      try {
        fs.rmSync(path.join(this.dir, entry.name), { force: true });
        swept++;
      } catch {
        /* tried again at the next start */
      }
    }
    return swept;
  }
}

/**
 * One attachment being written as it arrives. write() queues bytes (never blocks); ready() says when
 * to wait (the file is behind), which the bridge turns into back-pressure on the socket, so only a
 * stream buffer of the scan is in memory at a time. finish() makes it durable; discard() removes it.
 */
export class AttachmentWriter {
  readonly #files: AttachmentFiles;
  readonly #temp: string;
  readonly #stream: fs.WriteStream;
  #error: Error | undefined;
  #state: 'writing' | 'finishing' | 'done' | 'discarded' = 'writing';
  size = 0;

  constructor(
    files: AttachmentFiles,
    readonly name: string,
  ) {
    this.#files = files;
    this.#temp = files.pathOf(name) + TEMP;
    let fd: number;
    try {
      fd = openTemp(this.#temp); // synchronous: a directory we cannot write to fails the request at once
    } catch (err) {
      files.remove(name);
      throw err;
    }
    // flush: fsync before the stream closes the fd (it waits for writes still under way first).
    this.#stream = fs.createWriteStream(this.#temp, { fd, flush: true });
    this.#stream.on('error', (err) => (this.#error ??= err));
  }

  write(bytes: Buffer): void {
    if (this.#error) throw this.#error;
    if (this.#state !== 'writing') throw new Error('the attachment file is closed');
    this.size += bytes.length;
    this.#stream.write(bytes);
  }

  /** Resolves once the file has caught up (or failed: the next write throws); undefined when it has. */
  ready(): Promise<void> | undefined {
    if (!this.#stream.writableNeedDrain || this.#error) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        this.#stream.off('drain', done).off('close', done);
        resolve();
      };
      this.#stream.on('drain', done).on('close', done);
    });
  }

  /** Flushes, fsyncs and renames the file into place; the caller then queues the job that names it. */
  async finish(): Promise<StoredFile> {
    if (this.#state !== 'writing') throw new Error('the attachment file is closed');
    this.#state = 'finishing';
    await new Promise<void>((resolve, reject) => {
      if (this.#stream.closed) return this.#error ? reject(this.#error) : resolve();
      this.#stream.once('close', () => (this.#error ? reject(this.#error) : resolve()));
      this.#stream.end();
    });
    await fs.promises.rename(this.#temp, this.#files.pathOf(this.name));
    syncDirectory(this.#files.dir);
    this.#state = 'done';
    return { name: this.name, size: this.size };
  }

  /** Gives the file up (request refused, client gone, job not queued), whatever state it is in. */
  discard(): void {
    if (this.#state === 'discarded') return;
    this.#state = 'discarded';
    // The stream closes its fd once writes under way are done; the name can go now (POSIX).
    this.#stream.destroy();
    this.#files.remove(this.name);
  }
}
