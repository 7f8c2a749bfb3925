import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import type { FileStat, WebDAVClient } from 'webdav';
import { HEADER_SIZE } from '../../ltx/constants.js';
import { decodeHeader } from '../../ltx/header.js';
import { importBackendPackage } from '../backend-package.js';
import { asStorageError, ReplicaFileNotFoundError, StorageError } from '../errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { checkByteRange, checkLevel, checkLtxFileKey } from '../ltx-file-key.js';
import { peekLtxHeader, type PeekedLtxStream } from '../ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from '../replica-client.js';
import { AbortFanout } from '../s3/abort-fanout.js';
import { mapConcurrent } from '../s3/map-concurrent.js';
import { parseContentRange, readBodyChunks } from '../s3/s3-read-stream.js';
import { nextChunk, readAtMost, SourceFailure } from '../upload-source.js';
import { isWebdavNotFound, toWebdavStorageError, WebdavStorageError } from './webdav-errors.js';
import { parseWebdavLtxName, webdavAncestors, webdavDeleteAllPath, webdavLevelPath, webdavLtxFilePath, webdavRootPath } from './webdav-key-layout.js';
import { webdavErrorStatus, WebdavRetry, type WebdavRetryOptions } from './webdav-retry.js';
import { describeWebdavReplica, type WebdavSettings } from './webdav-settings.js';

export const WEBDAV_REPLICA_TYPE = 'webdav';
/** An upload is PUT under this suffix next to its final name, then MOVEd over it. */
export const WEBDAV_TMP_SUFFIX = '.tmp';
/** Litestream's WebDAV client sends its files as opaque bytes. */
export const WEBDAV_CONTENT_TYPE = 'application/octet-stream';
/**
 * A read that moves no byte for this long is given up and resumed. Long
 * enough for a slow link, short enough that a dead connection does not hold
 * a restore for long.
 */
export const DEFAULT_WEBDAV_IDLE_TIMEOUT_MS = 120_000;
/** A read that breaks off is reopened at the byte it reached up to this many times in a row without progress. */
export const WEBDAV_READ_RESUMES = 3;
/**
 * Uploads up to this size are held in memory; larger ones are staged in a
 * local temporary file. Either way the size is known before the PUT, which
 * then carries a Content-Length: several WebDAV server set-ups lose or
 * refuse chunked request bodies (Litestream stages every upload for this).
 */
export const DEFAULT_WEBDAV_MEMORY_UPLOAD_LIMIT = 8 * 1024 * 1024;
/** Requests in flight for per-file work: deletes, and header reads when listing with metadata. */
export const DEFAULT_WEBDAV_OPERATION_CONCURRENCY = 8;
/** How long a kept-alive connection may sit unused before it is closed by this side. */
export const DEFAULT_WEBDAV_KEEP_ALIVE_MS = 30_000;

/** Knobs that are not part of a replica's configuration (tests shorten them). */
export interface WebdavClientTuning {
  idleTimeoutMs?: number;
  retry?: WebdavRetryOptions;
  memoryUploadLimit?: number;
  operationConcurrency?: number;
  /** PEM certificates trusted for webdavs:// besides Node's own (and NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
  /** Where large uploads are staged; the OS temporary directory by default. */
  stagingDir?: string;
}

type WebdavModule = typeof import('webdav');

/** The data of one upload, replayable for each try. */
interface UploadPayload {
  size: number;
  body(): Buffer | Readable;
  dispose(): Promise<void>;
}

interface RangedBody {
  body: Readable;
  /** File offset of the body's first byte. */
  start: number;
  /** File offset the read stops at (exclusive). */
  end: number;
  etag: string | undefined;
}

/**
 * A replica in a collection on a WebDAV server, laid out exactly like
 * Litestream's WebDAV backend: `<path>/ltx/<level>/<min>-<max>.ltx`.
 *
 * - The client package (webdav, an optional peer package) loads in init().
 * - WebDAV keeps no metadata Litestream writes, so a plain listing's
 *   createdAt is the server's getlastmodified (whole seconds, upload time);
 *   with useMetadata each file's LTX header is read (a 100-byte ranged GET)
 *   for the exact timestamp, which is what a restore to a point in time asks for.
 * - Listing is one PROPFIND (Depth 1) per level: WebDAV has no paging.
 * - Reading is a ranged GET that resumes where a broken, stalled or short
 *   response stopped, pinned to the file's ETag when the server gives one.
 * - Writing PUTs the whole file with a Content-Length to `<name>.tmp` and
 *   MOVEs it over the final name, so a reader never sees a partial file
 *   (Litestream PUTs the final name directly). Missing parent collections
 *   are made with MKCOL when the server says they are missing.
 * - Requests are retried on 408, 429, 5xx, timeouts and dropped connections
 *   (WebdavRetry), never on other 4xx, which fail with one WebdavStorageError.
 */
export class WebdavReplicaClient implements ReplicaClient {
  readonly type = WEBDAV_REPLICA_TYPE;
  readonly settings: Readonly<WebdavSettings>;
  /** `webdav[s]://host[:port]/path`, as the replica is named in messages. */
  readonly name: string;
  readonly idleTimeoutMs: number;
  readonly memoryUploadLimit: number;
  readonly operationConcurrency: number;
  readonly #retry: WebdavRetry;
  readonly #fanout = new AbortFanout();
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #stagingDir: string;
  /** Uploads of one file from this client go one after another, so they do not share a `.tmp`. */
  readonly #writes = new KeyedQueue();
  /** MKCOLs in flight, by collection path. */
  readonly #making = new Map<string, Promise<void>>();
  #dav: WebDAVClient | undefined;
  #ready: Promise<WebDAVClient> | undefined;

  constructor(settings: WebdavSettings, tuning: WebdavClientTuning = {}) {
    this.settings = Object.freeze({ ...settings });
    this.name = describeWebdavReplica(settings);
    this.idleTimeoutMs = positive(tuning.idleTimeoutMs ?? DEFAULT_WEBDAV_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
    this.memoryUploadLimit = positive(tuning.memoryUploadLimit ?? DEFAULT_WEBDAV_MEMORY_UPLOAD_LIMIT, 'memoryUploadLimit');
    this.operationConcurrency = positive(tuning.operationConcurrency ?? DEFAULT_WEBDAV_OPERATION_CONCURRENCY, 'operationConcurrency');
    this.#retry = new WebdavRetry(tuning.retry);
    this.#stagingDir = tuning.stagingDir ?? tmpdir();
    const agentOptions = { keepAlive: true, timeout: DEFAULT_WEBDAV_KEEP_ALIVE_MS };
    this.#agent = settings.origin.startsWith('https:')
      ? new HttpsAgent({ ...agentOptions, ...(tuning.ca === undefined ? {} : { ca: [...rootCertificates, tuning.ca.toString()] }) })
      : new HttpAgent(agentOptions);
  }

  /**
   * Loads the webdav package and asks the server about the replica's
   * collection (PROPFIND, Depth 0), so a wrong host, port or password fails
   * here rather than in the background later. A collection that does not
   * exist yet is fine: the first upload makes it. Idempotent; a failed init
   * is retried by the next call.
   */
  async init(signal?: AbortSignal): Promise<void> {
    await this.#client(signal);
  }

  /** Closes kept-alive connections; the client may still be used (new ones are opened). */
  destroy(): void {
    this.#agent.destroy();
  }

  #client(signal?: AbortSignal): Promise<WebDAVClient> {
    signal?.throwIfAborted();
    if (this.#dav !== undefined) return Promise.resolve(this.#dav);
    this.#ready ??= this.#connect(signal).then(
      (c) => {
        this.#dav = c;
        return c;
      },
      (err: unknown) => {
        this.#ready = undefined;
        throw err;
      },
    );
    return this.#ready;
  }

  async #connect(signal: AbortSignal | undefined): Promise<WebDAVClient> {
    const sdk: WebdavModule = await importBackendPackage('webdav', 'webdav', () => import('webdav'));
    const s = this.settings;
    const dav = sdk.createClient(s.origin, {
      // Auto sends Basic credentials and switches to Digest when the server asks for it.
      ...(s.username === undefined ? {} : { username: s.username, password: s.password ?? '', authType: sdk.AuthType.Auto }),
      httpAgent: this.#agent,
      httpsAgent: this.#agent,
      headers: { 'User-Agent': 'tidemark' },
    });
    const root = webdavRootPath(s.path);
    let stat: FileStat | undefined;
    try {
      stat = await this.#call(`opening ${root}`, signal, (abortSignal) => dav.stat(root, { signal: abortSignal }) as Promise<FileStat>);
    } catch (err) {
      if (!isWebdavNotFound(err)) throw err;
    }
    if (stat !== undefined && stat.type !== 'directory') {
      throw new WebdavStorageError(`${this.name}: ${root} exists on the server but is a file, not a collection; check the path`);
    }
    return dav;
  }

  /** Runs one request with retries and a child of the caller's signal; failures come out as WebdavStorageError saying what was being done. */
  async #call<T>(doing: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal, tries: number) => Promise<T>): Promise<T> {
    const child = this.#fanout.child(signal);
    try {
      return await this.#retry.run(child.signal, fn);
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      throw this.#error(err, doing);
    } finally {
      child.release();
    }
  }

  #error(err: unknown, doing: string): StorageError {
    return toWebdavStorageError(err, { replica: this.name, doing, credentialSource: this.settings.credentialSource });
  }

  async *ltxFiles(level: number, seek = 0n, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    checkLevel(level);
    const { signal } = opts;
    const dav = await this.#client(signal);
    const dir = webdavLevelPath(this.settings.path, level);
    let entries: FileStat[];
    try {
      entries = await this.#call(`listing ${dir}`, signal, (abortSignal) => dav.getDirectoryContents(dir, { signal: abortSignal }) as Promise<FileStat[]>);
    } catch (err) {
      if (isWebdavNotFound(err)) return;
      throw err;
    }
    const found: LtxFileInfo[] = [];
    for (const e of entries) {
      if (e.type !== 'file') continue;
      const txids = parseWebdavLtxName(e.basename);
      if (txids === null || txids.minTxid < seek) continue;
      const modified = Date.parse(e.lastmod);
      found.push({ level, ...txids, size: e.size, createdAt: new Date(Number.isNaN(modified) ? 0 : modified) });
    }
    found.sort((a, b) => cmp(a.minTxid, b.minTxid) || cmp(a.maxTxid, b.maxTxid));
    if (opts.useMetadata !== true) {
      yield* found;
      return;
    }
    // The server's modification time is the upload's, in whole seconds; the header has the LTX timestamp.
    const stamps = await mapConcurrent(found, this.operationConcurrency, (f) => this.#headerTimestamp(dav, f, signal));
    for (let i = 0; i < found.length; i++) {
      const at = stamps[i];
      if (at === null || at === undefined) continue;
      yield { ...found[i]!, createdAt: new Date(at) };
    }
  }

  /** The LTX header timestamp of a listed file, or null when it was deleted since the listing. */
  async #headerTimestamp(dav: WebDAVClient, f: LtxFileInfo, signal: AbortSignal | undefined): Promise<number | null> {
    const path = webdavLtxFilePath(this.settings.path, f.level, f.minTxid, f.maxTxid);
    const doing = `reading the header of ${path}`;
    let got: RangedBody | null;
    try {
      got = await this.#get(dav, path, 0, HEADER_SIZE, undefined, doing, signal);
    } catch (err) {
      if (isWebdavNotFound(err)) return null;
      throw err;
    }
    if (got === null) throw new WebdavStorageError(`${this.name}: ${doing}: the file is empty`);
    const parts: Uint8Array[] = [];
    let have = 0;
    try {
      for await (const chunk of readBodyChunks(got.body, this.idleTimeoutMs, signal)) {
        parts.push(chunk);
        have += chunk.length;
        if (have >= got.end - got.start) break;
      }
    } catch (err) {
      throw this.#error(err, doing);
    }
    const head = Buffer.concat(parts).subarray(0, HEADER_SIZE);
    try {
      return decodeHeader(head).timestamp;
    } catch (err) {
      throw asStorageError(err, `${this.name}: ${doing}`);
    }
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    const { signal } = opts;
    const dav = await this.#client(signal);
    const path = webdavLtxFilePath(this.settings.path, level, minTxid, maxTxid);
    let first: RangedBody | null;
    try {
      first = await this.#get(dav, path, offset, size, undefined, `reading ${path}`, signal);
    } catch (err) {
      if (isWebdavNotFound(err)) throw new ReplicaFileNotFoundError(level, minTxid, maxTxid, `${this.name}: ${path}`, { cause: err });
      throw err;
    }
    if (first === null) return emptyStream();
    // The response is open now; if nobody starts reading it, its connection is let go, and a later read reopens it.
    const unread = setTimeout(() => first.body.destroy(), this.idleTimeoutMs);
    unread.unref();
    return this.#read(dav, path, first, offset, unread, signal);
  }

  /**
   * A GET of [offset, offset+size) (size 0: to the end), with retries; null
   * when offset is at or past the end. A server that ignores Range (200 for
   * the whole file) is handled by skipping to `offset` while reading.
   */
  async #get(
    dav: WebDAVClient,
    path: string,
    offset: number,
    size: number,
    etag: string | undefined,
    doing: string,
    signal: AbortSignal | undefined,
  ): Promise<RangedBody | null> {
    const headers: Record<string, string> = {};
    if (offset > 0 || size > 0) headers['Range'] = `bytes=${offset}-${size > 0 ? offset + size - 1 : ''}`;
    if (etag !== undefined) headers['If-Match'] = etag;
    let res: Awaited<ReturnType<WebDAVClient['customRequest']>>;
    try {
      res = await this.#call(doing, signal, (abortSignal) => dav.customRequest(path, { method: 'GET', headers, signal: abortSignal }));
    } catch (err) {
      const status = webdavErrorStatus(err);
      // A range that starts at the end: the file exists, there is just nothing to read.
      if (status === 416) return null;
      if (status === 412) throw new WebdavStorageError(`${this.name}: ${doing}: the file was replaced while being read`, { status: 412, cause: err });
      throw err;
    }
    const body = (res as unknown as { body: Readable | null }).body;
    if (body === null) throw new WebdavStorageError(`${this.name}: ${doing}: the response has no body`, { status: res.status });
    const length = Number(res.headers.get('content-length') ?? NaN);
    let start = 0;
    let total: number | undefined;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range') ?? undefined);
      if (cr === undefined) {
        body.destroy();
        throw new WebdavStorageError(`${this.name}: ${doing}: a partial response without a usable Content-Range`, { status: 206 });
      }
      start = cr.start;
      total = cr.total;
      if (start > offset) {
        body.destroy();
        throw new WebdavStorageError(`${this.name}: ${doing}: the server sent bytes from ${start}, not ${offset}`, { status: 206 });
      }
    } else {
      total = Number.isFinite(length) ? length : undefined;
    }
    let end = total ?? (Number.isFinite(length) ? start + length : Number.MAX_SAFE_INTEGER);
    if (size > 0) end = Math.min(end, offset + size);
    if (end <= offset) {
      body.destroy();
      return null;
    }
    const tag = res.headers.get('etag');
    return { body, start, end, etag: etag ?? (tag === null || tag.startsWith('W/') ? undefined : tag) };
  }

  async *#read(dav: WebDAVClient, path: string, first: RangedBody, offset: number, unread: NodeJS.Timeout, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    clearTimeout(unread);
    const child = this.#fanout.child(signal);
    signal = child.signal;
    let cur = first;
    let end = first.end;
    const { etag } = first;
    /** File offset of the next byte the caller gets. */
    let delivered = offset;
    let failures = 0;
    try {
      for (;;) {
        let failure: unknown;
        let pos = cur.start;
        let ended = false;
        try {
          for await (const chunk of readBodyChunks(cur.body, this.idleTimeoutMs, signal)) {
            const chunkStart = pos;
            pos += chunk.length;
            const from = Math.max(0, delivered - chunkStart);
            const to = Math.min(chunk.length, end - chunkStart);
            if (to > from) {
              delivered = chunkStart + to;
              failures = 0;
              yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
            }
            if (delivered >= end) break;
          }
          ended = true;
        } catch (err) {
          failure = err;
        }
        if (signal?.aborted === true) throw signal.reason;
        if (delivered >= end) return;
        // A body of unknown length that ended cleanly is the whole file.
        if (failure === undefined && ended && end === Number.MAX_SAFE_INTEGER) return;
        failure ??= new Error(`the response ended at byte ${delivered}, before byte ${end}`);
        if (++failures > WEBDAV_READ_RESUMES) {
          const why = failure instanceof Error ? failure.message : String(failure);
          throw new WebdavStorageError(`${this.name}: reading ${path}: the download broke off at byte ${delivered} and ${WEBDAV_READ_RESUMES} attempts to resume it failed (${why})`, { cause: failure });
        }
        cur.body.destroy();
        const rest = end === Number.MAX_SAFE_INTEGER ? 0 : end - delivered;
        const next = await this.#get(dav, path, delivered, rest, etag, `reading ${path}`, signal);
        if (next === null) {
          throw new WebdavStorageError(`${this.name}: reading ${path}: the file ends before byte ${delivered}; it changed while being read`);
        }
        cur = next;
        end = Math.min(end, next.end);
      }
    } finally {
      cur.body.destroy();
      child.release();
    }
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const path = webdavLtxFilePath(this.settings.path, level, minTxid, maxTxid);
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
    let body: PeekedLtxStream | undefined;
    let payload: UploadPayload | undefined;
    try {
      const dav = await this.#client(signal);
      const peeked = await peekLtxHeader(data, minTxid, maxTxid, `${this.name}: ${path}`);
      body = peeked.body;
      payload = await this.#payload(body, signal);
      const tmp = `${path}${WEBDAV_TMP_SUFFIX}`;
      await this.#put(dav, tmp, payload, `writing ${path}`, signal);
      await this.#call(`writing ${path}: moving ${tmp} into place`, signal, async (abortSignal, tries) => {
        try {
          await dav.moveFile(tmp, path, { overwrite: true, signal: abortSignal });
        } catch (err) {
          // An earlier try may have moved it and lost only the answer.
          if (tries > 1 && isWebdavNotFound(err)) return;
          throw err;
        }
      });
      return { level, minTxid, maxTxid, size: payload.size, createdAt: new Date(peeked.header.timestamp) };
    } catch (err) {
      await body?.return().catch(() => undefined);
      if (signal?.aborted === true) throw signal.reason;
      if (err instanceof SourceFailure) throw asStorageError(err.error, `${this.name}: writing ${path}: reading the data to upload`);
      if (err instanceof StorageError) throw err;
      throw this.#error(err, `writing ${path}`);
    } finally {
      await payload?.dispose();
    }
  }

  /** The whole upload, in memory when small, else in a local temporary file, so its size is known and every try can resend it. */
  async #payload(body: PeekedLtxStream, signal: AbortSignal | undefined): Promise<UploadPayload> {
    const head = await readAtMost(body, this.memoryUploadLimit, signal);
    if (head.done) {
      const bytes = head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks);
      return { size: bytes.length, body: () => bytes, dispose: async () => undefined };
    }
    const dir = await mkdtemp(join(this.#stagingDir, 'tidemark-webdav-'));
    const file = join(dir, 'upload.ltx');
    const dispose = (): Promise<void> => rm(dir, { recursive: true, force: true });
    try {
      const fh = await open(file, 'wx', 0o600);
      let size = 0;
      try {
        for (const c of head.chunks) {
          await fh.write(c);
          size += c.length;
        }
        for (;;) {
          signal?.throwIfAborted();
          const r = await nextChunk(body);
          if (r.done === true) break;
          await fh.write(r.value);
          size += r.value.length;
        }
      } finally {
        await fh.close();
      }
      return { size, body: () => createReadStream(file), dispose };
    } catch (err) {
      await dispose();
      if (err instanceof SourceFailure) throw err;
      throw asStorageError(err, `${this.name}: staging an upload in ${this.#stagingDir}`);
    }
  }

  /** PUTs the payload; when the server says a parent collection is missing, makes it and tries once more. */
  async #put(dav: WebDAVClient, path: string, payload: UploadPayload, doing: string, signal: AbortSignal | undefined): Promise<void> {
    const once = (): Promise<unknown> =>
      this.#call(doing, signal, (abortSignal) =>
        dav.customRequest(path, {
          method: 'PUT',
          headers: { 'Content-Type': WEBDAV_CONTENT_TYPE, 'Content-Length': String(payload.size) },
          data: payload.body() as unknown as Uint8Array,
          signal: abortSignal,
        }),
      );
    try {
      await once();
    } catch (err) {
      const status = webdavErrorStatus(err);
      // RFC 4918 answers 409 for a missing parent; some servers (rclone among them) answer 404.
      if (status !== 409 && status !== 404) throw err;
      await this.#makeCollections(dav, path.slice(0, path.lastIndexOf('/')), signal);
      await once();
    }
  }

  /**
   * MKCOL from the outermost collection down to `dir`; one that exists
   * already (405) is fine. Uploads into the same new collection share one
   * MKCOL per collection rather than racing each other.
   */
  async #makeCollections(dav: WebDAVClient, dir: string, signal: AbortSignal | undefined): Promise<void> {
    for (const c of webdavAncestors(dir)) {
      let made = this.#making.get(c);
      if (made === undefined) {
        made = this.#call(`creating the collection ${c}`, signal, async (abortSignal) => {
          try {
            await dav.customRequest(c, { method: 'MKCOL', signal: abortSignal });
          } catch (err) {
            if (webdavErrorStatus(err) === 405) return;
            throw err;
          }
        });
        this.#making.set(c, made);
        void made.then(
          () => this.#making.delete(c),
          () => this.#making.delete(c),
        );
      }
      await made;
    }
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    for (const f of files) checkLtxFileKey(f.level, f.minTxid, f.maxTxid);
    const paths = [...new Set(files.map((f) => webdavLtxFilePath(this.settings.path, f.level, f.minTxid, f.maxTxid)))];
    if (paths.length === 0) return;
    const dav = await this.#client(signal);
    await mapConcurrent(paths, this.operationConcurrency, (p) => this.#delete(dav, p, signal));
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    const dav = await this.#client(signal);
    await this.#delete(dav, webdavDeleteAllPath(this.settings.path), signal);
  }

  /** DELETE of a file or a whole collection; one already gone is not an error. */
  async #delete(dav: WebDAVClient, path: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#call(`deleting ${path}`, signal, (abortSignal) => dav.deleteFile(path, { signal: abortSignal }));
    } catch (err) {
      if (!isWebdavNotFound(err)) throw err;
    }
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number, got ${n}`);
  return n;
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}
