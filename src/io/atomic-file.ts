import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ByteSink } from '../ltx/byte-sink.js';
import { fsyncDir } from './durable-fs.js';
import { setFileTimeMs } from './file-time.js';
import { TidemarkError } from '../errors.js';

export const TMP_SUFFIX = '.tmp';

/**
 * A file that appears under its final name only once it is complete and
 * durable: bytes go to `<name>.tmp`, then fsync, rename, and fsync of the
 * directory. `abort` removes the temporary file.
 */
export class AtomicFileSink implements ByteSink {
  private position = 0;
  private done = false;

  private constructor(
    readonly path: string,
    readonly tmpPath: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(path: string): Promise<AtomicFileSink> {
    const tmpPath = join(dirname(path), basename(path) + TMP_SUFFIX);
    const fh = await open(tmpPath, 'w');
    return new AtomicFileSink(path, tmpPath, fh);
  }

  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off, this.position);
      off += bytesWritten;
      this.position += bytesWritten;
    }
  }

  get bytesWritten(): number {
    return this.position;
  }

  /** Makes the file durable under its final name, with `mtime` as its modification time (as exactly as the runtime sets it: see setFileTimeMs). */
  async commit(mtime?: Date): Promise<void> {
    if (this.done) throw new TidemarkError(`${this.path}: atomic file already committed or aborted`);
    this.done = true;
    try {
      // The time is set before the fsync so that it is as durable as the bytes: a replica's listing reads it back.
      if (mtime) {
        await setFileTimeMs(this.fh, mtime.getTime());
      }
      await this.fh.sync();
    } finally {
      await this.fh.close();
    }
    await rename(this.tmpPath, this.path);
    await fsyncDir(dirname(this.path));
  }

  /** Discards the temporary file. Safe to call after a failed commit. */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.tmpPath).catch(() => undefined);
  }
}

/** Runs fn against an atomic file sink, committing on success and removing the temp file on failure. */
export async function writeFileAtomic<T>(path: string, fn: (sink: AtomicFileSink) => Promise<T>, mtime?: Date): Promise<T> {
  const sink = await AtomicFileSink.create(path);
  try {
    const result = await fn(sink);
    await sink.commit(mtime);
    return result;
  } catch (err) {
    await sink.abort();
    throw err;
  }
}
