import type { ReadStream } from 'node:fs';
import { open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AtomicFileSink, TMP_SUFFIX, writeFileAtomic } from '../io/atomic-file.js';
import { explainFsError, fsyncDir, isErrno } from '../io/durable-fs.js';
import { makeDirs } from '../io/make-dirs.js';
import { formatFilename, parseFilename } from '../ltx/file-name.js';
import { LocalStateError, LocalWriteError } from './errors.js';

/** Suffix of the meta directory next to the database: `<dir>/.<name>-tidemark`. */
export const META_DIR_SUFFIX = '-tidemark';
/** Bytes per chunk when streaming a local L0 file to a replica. */
export const LOCAL_READ_CHUNK_BYTES = 256 * 1024;

/** The default meta directory of a database file. */
export function defaultMetaDir(dbPath: string): string {
  return join(dirname(dbPath), `.${basename(dbPath)}${META_DIR_SUFFIX}`);
}

/**
 * The local L0 files of one database, `<meta>/ltx/0/%016x-%016x.ltx`: the
 * shadow copy every sync writes before anything is uploaded. Files appear
 * under their final names only once durable.
 */
export class LocalMeta {
  readonly l0Dir: string;

  constructor(readonly dir: string) {
    this.l0Dir = join(dir, 'ltx', '0');
  }

  pathOf(txid: bigint): string {
    return join(this.l0Dir, formatFilename(txid, txid));
  }

  /** Creates the L0 directory if needed and makes every directory it created durable. */
  async ensureDir(): Promise<void> {
    await makeDirs(this.l0Dir);
  }

  /** Deletes `*.tmp` files left by a write that never finished. */
  async removeStaleTemps(): Promise<void> {
    for (const name of await this.#names()) {
      if (name.endsWith(TMP_SUFFIX)) await unlink(join(this.l0Dir, name)).catch(() => undefined);
    }
  }

  /** TXIDs of the L0 files present, ascending. */
  async txids(): Promise<bigint[]> {
    const out: bigint[] = [];
    for (const name of await this.#names()) {
      const parsed = parseFilename(name);
      if (parsed !== null && parsed.minTxid === parsed.maxTxid) out.push(parsed.maxTxid);
    }
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async maxTxid(): Promise<bigint> {
    const all = await this.txids();
    return all.length === 0 ? 0n : all[all.length - 1]!;
  }

  /**
   * Writes an L0 file durably: `<name>.tmp`, fsync, rename, directory fsync.
   * A file system failure (a full disk, say) becomes a LocalWriteError naming
   * the file; nothing is half-written, and the WAL still holds every frame.
   */
  async write<T>(txid: bigint, fn: (sink: AtomicFileSink) => Promise<T>): Promise<T> {
    const path = this.pathOf(txid);
    try {
      await this.ensureDir();
      return await writeFileAtomic(path, fn);
    } catch (err) {
      if (!isFsError(err)) throw err;
      throw new LocalWriteError(
        `cannot write local L0 file ${path}: ${explainFsError(err)}; the WAL keeps every frame until it is copied, so nothing is lost and the sync is retried`,
        { cause: err },
      );
    }
  }

  /** Streams one L0 file's bytes; rejects with ENOENT when it is gone. Destroy the stream when done with it. */
  async openStream(txid: bigint): Promise<ReadStream> {
    const path = this.pathOf(txid);
    // Open first, so a missing file fails here rather than inside the consumer.
    const fh = await open(path, 'r');
    return fh.createReadStream({ highWaterMark: LOCAL_READ_CHUNK_BYTES });
  }

  /**
   * Deletes the L0 files with a TXID below `txid` last written before
   * `olderThan` (ms since the epoch). The newest file is never among them:
   * the caller passes a TXID at or below it. Returns how many went.
   */
  async removeBelow(txid: bigint, olderThan: number): Promise<number> {
    let removed = 0;
    for (const t of await this.txids()) {
      if (t >= txid) break;
      const path = this.pathOf(t);
      const st = await stat(path).catch(() => undefined);
      if (st === undefined || st.mtimeMs >= olderThan) continue;
      await rm(path, { force: true });
      removed++;
    }
    if (removed > 0) await fsyncDir(this.l0Dir);
    return removed;
  }

  /** Deletes the L0 files of these TXIDs, durably; one already gone is not an error. Returns how many were there. */
  async remove(txids: readonly bigint[]): Promise<number> {
    const present = new Set(await this.txids());
    let removed = 0;
    for (const t of txids) {
      if (!present.delete(t)) continue;
      await rm(this.pathOf(t), { force: true });
      removed++;
    }
    if (removed > 0) await fsyncDir(this.l0Dir);
    return removed;
  }

  /** Deletes the L0 files with a TXID above `txid`, durably. */
  async removeAbove(txid: bigint): Promise<void> {
    let removed = false;
    for (const t of await this.txids()) {
      if (t > txid) {
        await rm(this.pathOf(t), { force: true });
        removed = true;
      }
    }
    if (removed) await fsyncDir(this.l0Dir);
  }

  /** Deletes every local L0 file. */
  async clear(): Promise<void> {
    await this.removeAbove(-1n);
  }

  async #names(): Promise<string[]> {
    try {
      return await readdir(this.l0Dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw new LocalStateError(`cannot list local L0 directory ${this.l0Dir}`, { cause: err });
    }
  }
}

/** A Node.js system error (it carries an errno code), as opposed to an error of tidemark's own. */
function isFsError(err: unknown): boolean {
  return typeof (err as { code?: unknown } | null)?.code === 'string' && typeof (err as { syscall?: unknown }).syscall === 'string';
}
