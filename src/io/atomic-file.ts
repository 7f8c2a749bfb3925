import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ByteSink } from '../ltx/byte-sink.js';
import { fsyncDir } from './durable-fs.js';
import { TidemarkError } from '../errors.js';

export const TMP_SUFFIX = '.tmp';

/**
 * Half a microsecond, in seconds. libuv turns utimes' double seconds into a
 * timespec by truncation and then drops the sub-microsecond digits; a double
 * near today's epoch seconds is only good to about ±120 ns, so a time exactly
 * on a millisecond often lands just under it and loses a whole microsecond.
 * Aimed half a microsecond late, both truncations land on the millisecond.
 */
const UTIMES_ROUNDING_SECONDS = 5e-7;
const MS_PER_SECOND = 1000;

/**
 * The seconds to hand utimes so the file's time is exactly `ms` (a whole,
 * non-negative number of milliseconds) at nanosecond resolution, as
 * Litestream reads it. The whole seconds and the fraction are added in one
 * rounding, whose error stays under half a microsecond up to 2^33 s (the
 * year 2242).
 */
export function utimesSecondsFor(ms: number): number {
  const subSecondMs = ms % MS_PER_SECOND;
  return (ms - subSecondMs) / MS_PER_SECOND + (subSecondMs / MS_PER_SECOND + UTIMES_ROUNDING_SECONDS);
}

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

  /** Makes the file durable under its final name, with `mtime` (to the nanosecond) as its modification time. */
  async commit(mtime?: Date): Promise<void> {
    if (this.done) throw new TidemarkError(`${this.path}: atomic file already committed or aborted`);
    this.done = true;
    try {
      // The time is set before the fsync so that it is as durable as the bytes: a replica's listing reads it back.
      if (mtime) {
        const seconds = utimesSecondsFor(mtime.getTime());
        await this.fh.utimes(seconds, seconds);
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
