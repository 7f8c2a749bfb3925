import { posix } from 'node:path';
import type { FileEntryWithStats, Stats } from 'ssh2';
import { HEADER_SIZE } from '../../ltx/constants.js';
import { formatFilename, parseFilename } from '../../ltx/file-name.js';
import { decodeHeader } from '../../ltx/header.js';
import { ReplicaFileNotFoundError, StorageError } from '../errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { checkByteRange, checkLevel, checkLtxFileKey } from '../ltx-file-key.js';
import { peekLtxHeader, type PeekedLtxStream } from '../ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from '../replica-client.js';
import { RawObjectNotFoundError, type RawObjectInfo, type RawObjectOpenOptions, type RawObjectReader } from '../raw-object-reader.js';
import { mapConcurrent } from '../s3/map-concurrent.js';
import { SftpConnection, type SftpConnectionTuning, type SftpSession } from './sftp-connection.js';
import { isSftpConnectionError, isSftpNotFound, SFTP_STATUS, sftpStatus, toSftpStorageError } from './sftp-errors.js';
import { describeSftpReplica, type SftpSettings } from './sftp-settings.js';

export const SFTP_REPLICA_TYPE = 'sftp';
/** Every file this backend stores lives under `<path>/ltx`, as in Litestream's SFTP client. */
const LTX_DIR = 'ltx';
/** An upload is written as this next to its final name, then renamed over it. */
export const SFTP_TMP_SUFFIX = '.tmp';
/**
 * Bytes per WRITE request. OpenSSH takes up to 255 KiB, but servers without
 * the limits extension are only required to take 32 KiB.
 */
export const SFTP_WRITE_CHUNK_SIZE = 32 * 1024;
/** WRITE requests in flight with concurrent-writes (Litestream's default); without it, one. */
export const SFTP_CONCURRENT_WRITE_REQUESTS = 16;
/** Bytes read from a file before they are handed on, in SFTP_READ_REQUEST_SIZE pieces requested at once. */
export const SFTP_READ_CHUNK_SIZE = 1024 * 1024;
/** Bytes asked for by one READ request: what every server must answer in full (OpenSSH answers up to 255 KiB). */
export const SFTP_READ_REQUEST_SIZE = 32 * 1024;
/** A read that loses its connection is reopened where it stopped up to this many times in a row without progress. */
export const SFTP_READ_RESUMES = 3;
/** Requests in flight for per-file work: deletes, and header reads when listing with metadata. */
export const DEFAULT_SFTP_OPERATION_CONCURRENCY = 8;

export interface SftpClientTuning extends SftpConnectionTuning {
  operationConcurrency?: number;
}

/**
 * A replica in a directory on an SFTP server, laid out as Litestream's SFTP
 * backend lays it out: `<path>/ltx/<level>/<min>-<max>.ltx`, the LTX header
 * timestamp kept as the file's mtime (whole seconds: SFTP v3 has no finer
 * one; listing with useMetadata reads the exact one from each header).
 *
 * Unlike Litestream, an upload goes to `<name>.tmp`, is fsynced where the
 * server offers fsync@openssh.com, gets its mtime, and is renamed over the
 * final name (posix-rename@openssh.com where offered), so a reader never
 * sees a partial file. A stale `.tmp` left by a killed upload is replaced by
 * the next upload of that file and ignored by listings.
 *
 * Anything else under the path can be listed and read (RawObjectReader),
 * never written: that is how backups a Litestream v0.3 left under
 * `<path>/generations` (its SFTP client used the directory replica's layout)
 * are read (V03Reader).
 */
export class SftpReplicaClient implements ReplicaClient, RawObjectReader {
  readonly type = SFTP_REPLICA_TYPE;
  readonly settings: Readonly<SftpSettings>;
  /** `sftp://user@host:port/path`, as the replica is named in messages. */
  readonly name: string;
  readonly connection: SftpConnection;
  readonly operationConcurrency: number;
  /** Uploads of one file from this client go one after another, so they do not share a `.tmp`. */
  readonly #writes = new KeyedQueue();
  /** Level directories known to exist, so a steady stream of uploads costs no mkdir requests. */
  readonly #madeDirs = new Set<string>();

  constructor(settings: SftpSettings, tuning: SftpClientTuning = {}) {
    this.settings = Object.freeze({ ...settings });
    this.name = describeSftpReplica(settings);
    this.connection = new SftpConnection(this.settings, this.name, tuning);
    this.operationConcurrency = Math.max(1, tuning.operationConcurrency ?? DEFAULT_SFTP_OPERATION_CONCURRENCY);
  }

  /** The replica directory on the server, '.' for the login directory. */
  get root(): string {
    return this.settings.path === '' ? '.' : this.settings.path;
  }

  levelDir(level: number): string {
    return posix.join(this.root, LTX_DIR, String(level));
  }

  filePath(level: number, minTxid: bigint, maxTxid: bigint): string {
    return posix.join(this.levelDir(level), formatFilename(minTxid, maxTxid));
  }

  /**
   * Connects (authenticating and checking the host key), and checks that the
   * replica path, if it exists, is a directory, so a wrong host, key or path
   * fails here rather than at the first upload. A missing path is created by
   * the first upload.
   */
  async init(signal?: AbortSignal): Promise<void> {
    await this.connection.run(
      `opening ${this.root}`,
      async (s) => {
        let st: Stats;
        try {
          st = await this.connection.request<Stats>(s, (cb) => s.sftp.stat(this.root, cb));
        } catch (err) {
          if (isSftpNotFound(err)) return;
          throw err;
        }
        if (!st.isDirectory()) throw new StorageError(`${this.name}: ${this.root} exists on the server but is not a directory`);
      },
      { signal },
    );
  }

  /** Closes the connection; the client must not be used afterwards. */
  destroy(): void {
    this.connection.close();
  }

  async *ltxFiles(level: number, seek = 0n, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    checkLevel(level);
    const dir = this.levelDir(level);
    const entries = await this.#readDirOrEmpty(dir, opts.signal);
    const found: LtxFileInfo[] = [];
    for (const e of entries) {
      if (e.attrs.isDirectory()) continue;
      const txids = parseFilename(e.filename);
      if (txids === null || txids.minTxid < seek) continue;
      found.push({ level, ...txids, size: e.attrs.size, createdAt: new Date(e.attrs.mtime * 1000) });
    }
    found.sort((a, b) => cmp(a.minTxid, b.minTxid) || cmp(a.maxTxid, b.maxTxid));
    if (opts.useMetadata !== true) {
      yield* found;
      return;
    }
    // The mtime has whole seconds only; the header has the milliseconds.
    const exact = await mapConcurrent(found, this.operationConcurrency, (f) => this.#headerTimestamp(f, opts.signal));
    for (let i = 0; i < found.length; i++) {
      const at = exact[i];
      if (at === null) continue;
      yield { ...found[i]!, createdAt: new Date(at!) };
    }
  }

  /** The LTX header timestamp of a listed file, or null when it was deleted since the listing. */
  async #headerTimestamp(f: LtxFileInfo, signal: AbortSignal | undefined): Promise<number | null> {
    const path = this.filePath(f.level, f.minTxid, f.maxTxid);
    return this.connection.run(
      `reading the header of ${path}`,
      async (s) => {
        let handle: Buffer;
        try {
          handle = await this.connection.request<Buffer>(s, (cb) => s.sftp.open(path, 'r', cb));
        } catch (err) {
          if (isSftpNotFound(err)) return null;
          throw err;
        }
        try {
          const buf = Buffer.alloc(HEADER_SIZE);
          const n = await this.#readAt(s, handle, buf, 0);
          return decodeHeader(buf.subarray(0, n)).timestamp;
        } finally {
          await this.#closeHandle(s, handle);
        }
      },
      { signal },
    );
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    const path = this.filePath(level, minTxid, maxTxid);
    const notFound = (cause: unknown): Error => new ReplicaFileNotFoundError(level, minTxid, maxTxid, `${this.name}: ${path}`, { cause });
    return this.#open(path, notFound, offset, size, opts.signal);
  }

  /**
   * Stats the file first, so a missing one fails here; the handle is opened
   * by the first read, so a stream that is never read holds none.
   */
  async #open(path: string, notFound: (cause: unknown) => Error, offset: number, size: number, signal: AbortSignal | undefined): Promise<AsyncIterable<Uint8Array>> {
    const st = await this.connection.run(
      `opening ${path}`,
      async (s) => {
        try {
          return await this.connection.request<Stats>(s, (cb) => s.sftp.stat(path, cb));
        } catch (err) {
          if (isSftpNotFound(err)) throw notFound(err);
          throw err;
        }
      },
      { signal },
    );
    if (!st.isFile()) throw new StorageError(`${this.name}: reading ${path}: not a regular file`);
    // Replica files are replaced, never changed in place, so the size now is the size to read up to.
    const end = size > 0 ? Math.min(offset + size, st.size) : st.size;
    return this.#readRange(path, notFound, offset, end, signal);
  }

  async *#readRange(path: string, notFound: (cause: unknown) => Error, start: number, end: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    let pos = start;
    let session: SftpSession | undefined;
    let handle: Buffer | undefined;
    let resumes = 0;
    // The next chunk is read while the caller handles this one, so the link is never idle between chunks.
    let ahead: { pos: number; read: Promise<{ buf: Buffer; n: number }> } | undefined;
    const readChunk = (s: SftpSession, h: Buffer, at: number): { pos: number; read: Promise<{ buf: Buffer; n: number }> } => {
      const buf = Buffer.allocUnsafe(Math.min(SFTP_READ_CHUNK_SIZE, end - at));
      const read = this.#readAt(s, h, buf, at).then((n) => ({ buf, n }));
      // Awaited later (or dropped with the connection); never an unhandled rejection meanwhile.
      read.catch(() => undefined);
      return { pos: at, read };
    };
    try {
      while (pos < end) {
        signal?.throwIfAborted();
        try {
          if (session === undefined || handle === undefined || session.closed) {
            ahead = undefined;
            [session, handle] = await this.connection.run(
              `reading ${path}`,
              async (s) => {
                try {
                  return [s, await this.connection.request<Buffer>(s, (cb) => s.sftp.open(path, 'r', cb))] as const;
                } catch (err) {
                  if (isSftpNotFound(err)) throw notFound(err);
                  throw err;
                }
              },
              { signal },
            );
          }
          const current = ahead !== undefined && ahead.pos === pos ? ahead : readChunk(session, handle, pos);
          ahead = undefined;
          const { buf, n } = await current.read;
          if (n === 0) throw new StorageError(`${this.name}: reading ${path}: the file ended at byte ${pos}, before byte ${end}; it was changed while being read`);
          pos += n;
          resumes = 0;
          if (pos < end) ahead = readChunk(session, handle, pos);
          yield n === buf.length ? buf : buf.subarray(0, n);
        } catch (err) {
          if (!isSftpConnectionError(err) || resumes >= SFTP_READ_RESUMES) throw toSftpStorageError(err, this.name, `reading ${path}`);
          // The next pass reconnects and reopens the file at `pos`.
          resumes++;
          session = undefined;
          handle = undefined;
        }
      }
    } finally {
      // A read still in flight must be done with the handle before it is closed.
      await ahead?.read.catch(() => undefined);
      if (session !== undefined && handle !== undefined && !session.closed) await this.#closeHandle(session, handle);
    }
  }

  /**
   * Reads into `buf` from `position` until it is full or the file ends;
   * returns the bytes read. The buffer is asked for in SFTP_READ_REQUEST_SIZE
   * pieces, all in flight at once: one READ at a time waits a round trip per
   * 32 KiB, which held restores to a few MB/s.
   */
  async #readAt(s: SftpSession, handle: Buffer, buf: Buffer, position: number): Promise<number> {
    const pieces: { at: number; len: number }[] = [];
    for (let at = 0; at < buf.length; at += SFTP_READ_REQUEST_SIZE) pieces.push({ at, len: Math.min(SFTP_READ_REQUEST_SIZE, buf.length - at) });
    const got = await Promise.all(pieces.map((p) => this.#readPiece(s, handle, buf, p.at, p.len, position)));
    let total = 0;
    for (const [i, n] of got.entries()) {
      total += n;
      // A short piece is the end of the file: nothing after it counts.
      if (n < pieces[i]!.len) break;
    }
    return total;
  }

  /** Fills buf[at, at+len) from the file at position+at, with as many READs as the server needs; stops at the end of the file. */
  async #readPiece(s: SftpSession, handle: Buffer, buf: Buffer, at: number, len: number, position: number): Promise<number> {
    let got = 0;
    while (got < len) {
      let n: number;
      try {
        n = await this.connection.request<number>(s, (cb) => s.sftp.read(handle, buf, at + got, len - got, position + at + got, cb));
      } catch (err) {
        if (sftpStatus(err) === SFTP_STATUS.EOF) break;
        throw err;
      }
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  async #closeHandle(s: SftpSession, handle: Buffer): Promise<void> {
    if (s.closed) return;
    await this.connection.request<void>(s, (cb) => s.sftp.close(handle, cb)).catch(() => undefined);
  }

  async listRawDirs(dir: string, signal?: AbortSignal): Promise<string[]> {
    const entries = await this.#readDirOrEmpty(posix.join(this.root, dir), signal);
    return entries.filter((e) => e.attrs.isDirectory()).map((e) => e.filename);
  }

  async listRawObjects(dir: string, signal?: AbortSignal): Promise<RawObjectInfo[]> {
    const found: RawObjectInfo[] = [];
    for (const e of await this.#readDirOrEmpty(posix.join(this.root, dir), signal)) {
      // SFTP v3 keeps no finer time than whole seconds.
      if (!e.attrs.isDirectory()) found.push({ name: e.filename, size: e.attrs.size, modifiedAt: new Date(e.attrs.mtime * 1000) });
    }
    return found;
  }

  openRawObject(key: string, opts: RawObjectOpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const path = posix.join(this.root, key);
    return this.#open(path, (cause) => new RawObjectNotFoundError(key, `${this.name}: ${path}`, { cause }), opts.offset ?? 0, opts.size ?? 0, opts.signal);
  }

  async #readDirOrEmpty(dir: string, signal: AbortSignal | undefined): Promise<FileEntryWithStats[]> {
    return this.connection.run(
      `listing ${dir}`,
      async (s) => {
        try {
          return await this.connection.request<FileEntryWithStats[]>(s, (cb) => s.sftp.readdir(dir, cb));
        } catch (err) {
          if (isSftpNotFound(err)) return [];
          throw err;
        }
      },
      { signal },
    );
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const path = this.filePath(level, minTxid, maxTxid);
    return this.#writes.run(path, () => this.#writeOnce(path, level, minTxid, maxTxid, data, signal));
  }

  async #writeOnce(
    path: string,
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    data: AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<LtxFileInfo> {
    signal?.throwIfAborted();
    let body: PeekedLtxStream | undefined;
    try {
      const peeked = await peekLtxHeader(data, minTxid, maxTxid, `${this.name}: ${path}`);
      body = peeked.body;
      const timestamp = peeked.header.timestamp;
      const dir = this.levelDir(level);
      if (!this.#madeDirs.has(dir)) {
        await this.connection.run(`creating ${dir}`, (s) => this.#makeDirs(s, dir), { signal });
        this.#madeDirs.add(dir);
      }
      // The data cannot be replayed, so a connection lost during the upload fails it; the caller uploads again.
      const size = await this.connection.run(`writing ${path}`, (s) => this.#upload(s, path, body!, timestamp, signal), { signal, retry: false });
      return { level, minTxid, maxTxid, size, createdAt: new Date(timestamp) };
    } catch (err) {
      await body?.return().catch(() => undefined);
      if (signal?.aborted === true && err === signal.reason) throw err;
      // A directory removed behind the client's back is made again next time.
      this.#madeDirs.clear();
      throw toSftpStorageError(err, this.name, `writing ${path}`);
    }
  }

  async #upload(s: SftpSession, path: string, body: PeekedLtxStream, timestamp: number, signal: AbortSignal | undefined): Promise<number> {
    const tmp = path + SFTP_TMP_SUFFIX;
    // 'w' truncates, so a .tmp left by an upload that was killed is simply overwritten.
    const handle = await this.connection.request<Buffer>(s, (cb) => s.sftp.open(tmp, 'w', cb));
    let committed = false;
    try {
      const depth = this.settings.concurrentWrites ? SFTP_CONCURRENT_WRITE_REQUESTS : 1;
      const inflight = new Set<Promise<void>>();
      let failure: unknown;
      let offset = 0;
      for await (const chunk of body) {
        signal?.throwIfAborted();
        // Copied: the source may reuse its buffer once asked for the next chunk, while requests are still in flight.
        const copy = Buffer.from(chunk);
        for (let at = 0; at < copy.length; at += SFTP_WRITE_CHUNK_SIZE) {
          const len = Math.min(SFTP_WRITE_CHUNK_SIZE, copy.length - at);
          const position = offset + at;
          const p: Promise<void> = this.connection
            .request<void>(s, (cb) => s.sftp.write(handle, copy, at, len, position, (err) => cb(err)))
            .catch((err: unknown) => {
              failure ??= err;
            })
            .finally(() => inflight.delete(p));
          inflight.add(p);
          if (inflight.size >= depth) await Promise.race(inflight);
          if (failure !== undefined) throw failure;
        }
        offset += copy.length;
      }
      await Promise.all(inflight);
      if (failure !== undefined) throw failure;
      signal?.throwIfAborted();
      const seconds = Math.floor(timestamp / 1000);
      await this.connection.request<void>(s, (cb) => s.sftp.futimes(handle, seconds, seconds, cb));
      if (s.extensions.has('fsync@openssh.com')) await this.connection.request<void>(s, (cb) => s.sftp.ext_openssh_fsync(handle, cb));
      await this.connection.request<void>(s, (cb) => s.sftp.close(handle, cb));
      committed = true;
      await this.#rename(s, tmp, path);
      return offset;
    } catch (err) {
      if (!committed) await this.#closeHandle(s, handle);
      if (!s.closed) await this.connection.request<void>(s, (cb) => s.sftp.unlink(tmp, cb)).catch(() => undefined);
      throw err;
    }
  }

  async #rename(s: SftpSession, from: string, to: string): Promise<void> {
    if (s.extensions.has('posix-rename@openssh.com')) {
      await this.connection.request<void>(s, (cb) => s.sftp.ext_openssh_rename(from, to, cb));
      return;
    }
    // Plain SFTP rename refuses an existing target; without posix-rename the old file must go first.
    await this.connection.request<void>(s, (cb) => s.sftp.unlink(to, cb)).catch((err: unknown) => {
      if (!isSftpNotFound(err)) throw err;
    });
    await this.connection.request<void>(s, (cb) => s.sftp.rename(from, to, cb));
  }

  /** mkdir -p: creates what is missing of `dir`, from the deepest existing ancestor down. */
  async #makeDirs(s: SftpSession, dir: string): Promise<void> {
    const missing: string[] = [];
    for (let d = dir; d !== '.' && d !== '/' && d !== ''; d = posix.dirname(d)) {
      try {
        const st = await this.connection.request<Stats>(s, (cb) => s.sftp.stat(d, cb));
        if (!st.isDirectory()) throw new StorageError(`${this.name}: ${d} exists on the server but is not a directory`);
        break;
      } catch (err) {
        if (!isSftpNotFound(err)) throw err;
        missing.push(d);
      }
    }
    for (const d of missing.reverse()) {
      try {
        await this.connection.request<void>(s, (cb) => s.sftp.mkdir(d, cb));
      } catch (err) {
        // Made meanwhile by another writer: OpenSSH says only "failure" for EEXIST.
        const st = await this.connection.request<Stats>(s, (cb) => s.sftp.stat(d, cb)).catch(() => undefined);
        if (st?.isDirectory() !== true) throw err;
      }
    }
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    for (const f of files) checkLtxFileKey(f.level, f.minTxid, f.maxTxid);
    await mapConcurrent(files, this.operationConcurrency, async (f) => {
      const path = this.filePath(f.level, f.minTxid, f.maxTxid);
      await this.connection.run(
        `deleting ${path}`,
        async (s) => {
          try {
            await this.connection.request<void>(s, (cb) => s.sftp.unlink(path, cb));
          } catch (err) {
            if (!isSftpNotFound(err)) throw err;
          }
        },
        { signal },
      );
    });
  }

  /** Removes `<path>/ltx` and everything in it; nothing else under the path is touched. */
  async deleteAll(signal?: AbortSignal): Promise<void> {
    const top = posix.join(this.root, LTX_DIR);
    this.#madeDirs.clear();
    await this.connection.run(`deleting ${top}`, (s) => this.#removeTree(s, top, signal), { signal });
  }

  async #removeTree(s: SftpSession, dir: string, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    let entries: FileEntryWithStats[];
    try {
      entries = await this.connection.request<FileEntryWithStats[]>(s, (cb) => s.sftp.readdir(dir, cb));
    } catch (err) {
      if (isSftpNotFound(err)) return;
      throw err;
    }
    const files = entries.filter((e) => e.filename !== '.' && e.filename !== '..');
    for (const e of files.filter((x) => x.attrs.isDirectory())) await this.#removeTree(s, posix.join(dir, e.filename), signal);
    await mapConcurrent(
      files.filter((x) => !x.attrs.isDirectory()),
      this.operationConcurrency,
      async (e) => {
        await this.connection.request<void>(s, (cb) => s.sftp.unlink(posix.join(dir, e.filename), cb)).catch((err: unknown) => {
          if (!isSftpNotFound(err)) throw err;
        });
      },
    );
    await this.connection.request<void>(s, (cb) => s.sftp.rmdir(dir, cb)).catch((err: unknown) => {
      if (!isSftpNotFound(err)) throw err;
    });
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
