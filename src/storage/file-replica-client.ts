import { open, readdir, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AtomicFileSink, TMP_SUFFIX } from '../io/atomic-file.js';
import { fsyncDir, isErrno } from '../io/durable-fs.js';
import { makeDirs } from '../io/make-dirs.js';
import { formatFilename, parseFilename } from '../ltx/file-name.js';
import { asStorageError, ReplicaFileNotFoundError, ReplicaUrlError, StorageError } from './errors.js';
import { KeyedQueue } from './keyed-queue.js';
import { checkByteRange, checkLevel, checkLtxFileKey } from './ltx-file-key.js';
import { peekLtxHeader, type PeekedLtxStream } from './ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from './replica-client.js';
import { modifiedAtFromNs, RawObjectNotFoundError, type RawObjectInfo, type RawObjectOpenOptions, type RawObjectReader } from './raw-object-reader.js';

export const FILE_REPLICA_TYPE = 'file';

/** Read chunk size: few syscalls for a large snapshot, flat memory whatever the file size. */
export const FILE_READ_CHUNK_SIZE = 256 * 1024;

/** Every file this backend stores lives under `<root>/ltx`; nothing else under the root is touched. */
const LTX_DIR = 'ltx';

/** Levels 0..9, the snapshot level included. */
const MAX_LEVEL = 9;

/** Key for the queue that serialises directory creation across all writers of one client. */
const DIR_QUEUE_KEY = '';

/** `<root>/ltx/<level>`, the level in decimal without padding as Litestream's file backend names it. */
export function ltxLevelDir(root: string, level: number): string {
  return join(root, LTX_DIR, String(level));
}

/** `<root>/ltx/<level>/<min %016x>-<max %016x>.ltx`. */
export function ltxFilePath(root: string, level: number, minTxid: bigint, maxTxid: bigint): string {
  return join(ltxLevelDir(root, level), formatFilename(minTxid, maxTxid));
}

/**
 * A replica in a local directory, laid out exactly like Litestream's file
 * backend. Each file's createdAt is its LTX header timestamp, kept as the
 * file's mtime. Anything else under the root can be listed and read
 * (RawObjectReader), never written: that is how backups a Litestream v0.3
 * left under `<root>/generations` are read (V03Reader).
 */
export class FileReplicaClient implements ReplicaClient, RawObjectReader {
  readonly type = FILE_REPLICA_TYPE;
  /** Absolute path of the replica directory. */
  readonly root: string;
  /**
   * Two uploads of the same file in this process would share `<name>.tmp`;
   * queued per path, the later one simply replaces the earlier one.
   */
  private readonly writes = new KeyedQueue();
  /**
   * Directory creation is queued so that a writer that finds a directory
   * already present never commits a file before the creator has made that
   * directory's own entry durable.
   */
  private readonly dirs = new KeyedQueue();

  constructor(root: string) {
    if (root === '') throw new ReplicaUrlError(root, 'the replica path is empty');
    if (root.includes('\0')) throw new ReplicaUrlError(root, 'the replica path contains a NUL byte');
    this.root = resolve(root);
  }

  /**
   * Checks that the root, if it exists, is a directory (a missing root is
   * created by the first write), and removes the temporary files a writer
   * killed mid-upload left behind. A replica has one writer (see
   * ReplicatorLock); should another process be uploading after all, its
   * rename fails and that upload is retried.
   */
  async init(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    for (const dir of [this.root, join(this.root, LTX_DIR)]) {
      try {
        const st = await stat(dir);
        if (!st.isDirectory()) throw new StorageError(`file replica: ${dir} exists but is not a directory`);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return;
        throw asStorageError(err, `file replica: cannot use ${dir}`);
      }
    }
    for (let level = 0; level <= MAX_LEVEL; level++) await removeStaleTemps(ltxLevelDir(this.root, level));
  }

  async *ltxFiles(level: number, seek = 0n, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    checkLevel(level);
    opts.signal?.throwIfAborted();
    const dir = ltxLevelDir(this.root, level);
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw asStorageError(err, `listing ${dir}`);
    }
    const found: { name: string; minTxid: bigint; maxTxid: bigint }[] = [];
    for (const e of entries) {
      if (e.isDirectory()) continue;
      const txids = parseFilename(e.name);
      if (txids !== null && txids.minTxid >= seek) found.push({ name: e.name, ...txids });
    }
    // libuv happens to return names sorted, but the order is part of the contract, so it is not left to that.
    found.sort((a, b) => cmp(a.minTxid, b.minTxid) || cmp(a.maxTxid, b.maxTxid));
    for (const f of found) {
      opts.signal?.throwIfAborted();
      const path = join(dir, f.name);
      let st;
      try {
        st = await stat(path, { bigint: true });
      } catch (err) {
        // Removed (retention, compaction) between the directory read and now.
        if (isErrno(err, 'ENOENT')) continue;
        throw asStorageError(err, `listing ${dir}`);
      }
      yield {
        level,
        minTxid: f.minTxid,
        maxTxid: f.maxTxid,
        size: Number(st.size),
        createdAt: ltxCreatedAtFromNs(st.mtimeNs),
      };
    }
  }

  async openLtxFile(
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    opts: OpenOptions = {},
  ): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    opts.signal?.throwIfAborted();
    const path = ltxFilePath(this.root, level, minTxid, maxTxid);
    // The file is opened by the first read, so a stream that is never read holds no descriptor.
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new StorageError(`reading ${path}: not a regular file`);
    } catch (err) {
      throw this.openError(err, level, minTxid, maxTxid, path);
    }
    return this.readRange(path, level, minTxid, maxTxid, offset, size, opts.signal);
  }

  private async *readRange(
    path: string,
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    offset: number,
    size: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw this.openError(err, level, minTxid, maxTxid, path);
    }
    yield* readFileChunks(fh, path, offset, size, signal);
  }

  async listRawDirs(dir: string, signal?: AbortSignal): Promise<string[]> {
    signal?.throwIfAborted();
    const entries = await readDirOrEmpty(join(this.root, dir));
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  async listRawObjects(dir: string, signal?: AbortSignal): Promise<RawObjectInfo[]> {
    signal?.throwIfAborted();
    const path = join(this.root, dir);
    const found: RawObjectInfo[] = [];
    for (const e of await readDirOrEmpty(path)) {
      if (e.isDirectory()) continue;
      const st = await statOrNull(join(path, e.name), signal);
      if (st) found.push({ name: e.name, ...st });
    }
    return found;
  }

  async openRawObject(key: string, opts: RawObjectOpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const { signal } = opts;
    signal?.throwIfAborted();
    const path = join(this.root, key);
    // As for LTX files, the descriptor is opened by the first read, so a stream that is never read holds none.
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new StorageError(`reading ${path}: not a regular file`);
    } catch (err) {
      throw rawOpenError(err, key, path);
    }
    return readRawFile(key, path, opts.offset ?? 0, opts.size ?? 0, signal);
  }

  private openError(err: unknown, level: number, minTxid: bigint, maxTxid: bigint, path: string): Error {
    if (isErrno(err, 'ENOENT')) return new ReplicaFileNotFoundError(level, minTxid, maxTxid, path, { cause: err });
    return asStorageError(err, `opening ${path}`);
  }

  async writeLtxFile(
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    data: AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const path = ltxFilePath(this.root, level, minTxid, maxTxid);
    return this.writes.run(path, () => this.writeOnce(path, level, minTxid, maxTxid, data, signal));
  }

  private async writeOnce(
    path: string,
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    data: AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<LtxFileInfo> {
    signal?.throwIfAborted();
    let body: PeekedLtxStream | undefined;
    let sink: AtomicFileSink | undefined;
    try {
      const peeked = await peekLtxHeader(data, minTxid, maxTxid, path);
      body = peeked.body;
      const createdAt = new Date(peeked.header.timestamp);
      await this.ensureDir(dirname(path));
      sink = await AtomicFileSink.create(path);
      for await (const chunk of body) {
        signal?.throwIfAborted();
        await sink.write(chunk);
      }
      // Litestream keeps the header timestamp as the mtime; it is set before the rename, so the file never shows another.
      await sink.commit(createdAt);
      return { level, minTxid, maxTxid, size: sink.bytesWritten, createdAt };
    } catch (err) {
      await body?.return().catch(() => undefined);
      await sink?.abort();
      if (signal?.aborted === true && err === signal.reason) throw err;
      throw asStorageError(err, `writing ${path}`);
    }
  }

  /** mkdir -p, then makes every directory it created durable in its parent. */
  private ensureDir(dir: string): Promise<void> {
    return this.dirs.run(DIR_QUEUE_KEY, async () => {
      await makeDirs(dir);
    });
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    for (const f of files) checkLtxFileKey(f.level, f.minTxid, f.maxTxid);
    const touched = new Set<string>();
    let failure: unknown;
    for (const f of files) {
      if (signal?.aborted === true) {
        failure = signal.reason;
        break;
      }
      const path = ltxFilePath(this.root, f.level, f.minTxid, f.maxTxid);
      try {
        await unlink(path);
        touched.add(dirname(path));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        failure = asStorageError(err, `deleting ${path}`);
        break;
      }
    }
    // The deletions that did happen are made durable even when a later one failed.
    for (const dir of touched) {
      try {
        await fsyncDir(dir);
      } catch (err) {
        failure ??= asStorageError(err, `syncing ${dir} after deletes`);
      }
    }
    if (failure !== undefined) throw failure;
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const dir = join(this.root, LTX_DIR);
    try {
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      throw asStorageError(err, `deleting ${dir}`);
    }
    try {
      await fsyncDir(this.root);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw asStorageError(err, `syncing ${this.root} after deleting ${dir}`);
    }
  }
}

async function readDirOrEmpty(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw asStorageError(err, `listing ${dir}`);
  }
}

const NS_PER_MS = 1_000_000n;

/**
 * An LTX file's createdAt from its mtime in nanoseconds, rounded down to the
 * millisecond. Litestream restores to a timestamp from the files whose mtime
 * is strictly before it; for a millisecond target T, "mtime < T" and
 * "floor(mtime) < T" agree. Written here the mtime is the header's
 * millisecond, or at most a microsecond after it (see setFileTimeMs); another
 * tool may have set finer digits.
 */
export function ltxCreatedAtFromNs(mtimeNs: bigint): Date {
  return new Date(Number(mtimeNs / NS_PER_MS));
}

/** Size and mtime of a listed file, or null if it has gone since. */
async function statOrNull(path: string, signal: AbortSignal | undefined): Promise<{ size: number; modifiedAt: Date } | null> {
  signal?.throwIfAborted();
  try {
    const st = await stat(path, { bigint: true });
    return { size: Number(st.size), modifiedAt: modifiedAtFromNs(st.mtimeNs) };
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw asStorageError(err, `listing ${dirname(path)}`);
  }
}

function rawOpenError(err: unknown, key: string, path: string): Error {
  if (isErrno(err, 'ENOENT')) return new RawObjectNotFoundError(key, path, { cause: err });
  return asStorageError(err, `opening ${path}`);
}

/** A file (or [offset, offset + size) of it) in fresh chunks; the descriptor is closed when the stream ends, fails or is abandoned. */
async function* readRawFile(key: string, path: string, offset: number, size: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw rawOpenError(err, key, path);
  }
  yield* readFileChunks(fh, path, offset, size, signal);
}

/**
 * Reads [offset, offset + size) of an open file (size 0: to the end) in fresh
 * chunks, which the consumer may keep, and closes the file however the
 * stream ends. Replica files are never modified in place, so the size at
 * open is the size, and a file that ends sooner was changed by something else.
 */
async function* readFileChunks(fh: FileHandle, path: string, offset: number, size: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  try {
    const fileSize = (await fh.stat()).size;
    const end = size > 0 ? Math.min(fileSize, offset + size) : fileSize;
    let pos = offset;
    while (pos < end) {
      signal?.throwIfAborted();
      const want = Math.min(FILE_READ_CHUNK_SIZE, end - pos);
      const buf = new Uint8Array(want);
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, 0, want, pos));
      } catch (err) {
        throw asStorageError(err, `reading ${path} at offset ${pos}`);
      }
      if (bytesRead === 0) throw new StorageError(`reading ${path}: file ended at ${pos} bytes, expected ${end}`);
      pos += bytesRead;
      yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Keeps a StorageError as it is; wraps anything else with what was being done. */
/** Deletes upload temporaries in a level directory; failures are left for the next start. */
async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.endsWith(TMP_SUFFIX)) await unlink(join(dir, name)).catch(() => undefined);
}
