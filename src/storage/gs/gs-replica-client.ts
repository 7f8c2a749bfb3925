import type { Readable, Writable } from 'node:stream';
import type { Bucket, File, Storage, StorageOptions } from '@google-cloud/storage';
import { importBackendPackage } from '../backend-package.js';
import { asStorageError, ReplicaFileNotFoundError, StorageError } from '../errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { checkByteRange, checkLevel, checkLtxFileKey } from '../ltx-file-key.js';
import { peekLtxHeader, type PeekedLtxStream } from '../ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from '../replica-client.js';
import { nextChunk, readAtMost, SourceFailure } from '../upload-source.js';
import { AbortFanout } from '../s3/abort-fanout.js';
import { mapConcurrent } from '../s3/map-concurrent.js';
import { parseContentRange, S3IdleTimeoutError } from '../s3/s3-read-stream.js';
import { formatRfc3339Nano, parseRfc3339 } from '../s3/s3-timestamp.js';
import { GsStorageError, isGsObjectNotFound, toGsStorageError } from './gs-errors.js';
import { GS_API_ORIGIN, openGsMedia } from './gs-media-read.js';
import { gsLevelPrefix, gsLtxObjectName, gsRootPrefix, gsSeekOffset, parseGsLtxObjectName } from './gs-key-layout.js';
import { GsAttemptsFailure, gsErrorStatus, gsNetworkCode, GsRetry, type GsRetryOptions } from './gs-retry.js';
import { describeGsReplica, GS_EMULATOR_HOST_ENV, type GsSettings } from './gs-settings.js';

export const GS_REPLICA_TYPE = 'gs';
/** Object metadata key under which Litestream keeps the LTX header timestamp (RFC 3339 with nanoseconds, UTC). */
export const GS_TIMESTAMP_METADATA_KEY = 'litestream-timestamp';
/**
 * What Litestream's objects end up typed as: Go's client sniffs the first
 * bytes when no type is set, and an LTX header sniffs as opaque bytes.
 */
export const GS_CONTENT_TYPE = 'application/octet-stream';
/**
 * A read that moves no byte for this long is given up and resumed. Long
 * enough for a slow link, short enough that a dead connection does not hold
 * a restore for long.
 */
export const DEFAULT_GS_IDLE_TIMEOUT_MS = 120_000;
/** A read that breaks off is reopened at the byte it reached up to this many times in a row without progress. */
export const GS_READ_RESUMES = 3;
/**
 * Files up to this size go up in one multipart request, retried whole;
 * larger ones through a resumable upload session, streamed. It is the chunk
 * size of Google's Go client, below which Litestream's uploads are single
 * requests too.
 */
export const DEFAULT_GS_SINGLE_UPLOAD_LIMIT = 16 * 1024 * 1024;
/** Deletes in flight at once: the JSON API deletes one object per request. */
export const DEFAULT_GS_DELETE_CONCURRENCY = 16;
/** How google-auth-library says the Application Default Credentials chain came up empty. */
const NO_ADC_RE = /Could not load the default credentials/i;
/** Sent with every request, ahead of the SDK's own. */
export const GS_USER_AGENT = 'tidemark';
/** Objects per listing page, at most, whatever is asked for. */
export const GS_MAX_LIST_PAGE_SIZE = 1000;

/** Knobs that are not part of a replica's configuration: timeouts, retries, sizes (tests shorten them). */
export interface GsClientTuning {
  idleTimeoutMs?: number;
  retry?: GsRetryOptions;
  /** Names asked for per listing page, 1 to 1000; unset, the server's page size (1000 on GCS). */
  listPageSize?: number;
  singleUploadLimit?: number;
  deleteConcurrency?: number;
}

type StorageModule = typeof import('@google-cloud/storage');

/** One object as a listing describes it (the JSON API's object resource, in part). */
interface ListedObject {
  name?: string;
  size?: string | number;
  timeCreated?: string;
  metadata?: Record<string, string | null | undefined>;
}

interface ListPage {
  items: ListedObject[];
  nextPageToken: string | undefined;
}

interface RangedBody {
  stream: Readable;
  chunks: AsyncIterator<Uint8Array>;
  /** The chunk read while opening, handed out first. */
  first: Uint8Array;
  /** Object offset of the body's first byte. */
  start: number;
  /** Object offset the read stops at (exclusive). */
  end: number;
  /** The object generation read, so a resumed read does not splice two versions together. */
  generation: string | undefined;
}

/**
 * A replica in a Google Cloud Storage bucket, laid out exactly like
 * Litestream's GCS backend: `<path>/ltx/<level>/<min>-<max>.ltx` objects with
 * the LTX header timestamp in the `litestream-timestamp` metadata.
 *
 * - The SDK (@google-cloud/storage, an optional peer package) loads in init().
 * - Listing pages through the objects with their metadata, so createdAt is
 *   always the stored timestamp (the creation time when there is none) at no
 *   extra cost. A seek is sent as startOffset and applied to the names as
 *   well, for servers that ignore it (the Firebase emulator does).
 * - Reading streams a ranged download (gs-media-read.ts: Node's HTTP client
 *   with the SDK's credentials) and resumes where a broken, stalled or short
 *   response stopped, pinned to the object's generation.
 * - Requests are retried on 408, 429, 5xx, timeouts and dropped connections
 *   (GsRetry), never on other 4xx, which fail with one GsStorageError naming
 *   the bucket and what to check.
 * - The bucket must exist: like Litestream, tidemark does not create it.
 */
export class GsReplicaClient implements ReplicaClient {
  readonly type = GS_REPLICA_TYPE;
  readonly settings: Readonly<GsSettings>;
  /** `gs://bucket/path [at emulator]`, as the replica is named in messages. */
  readonly name: string;
  readonly idleTimeoutMs: number;
  readonly listPageSize: number | undefined;
  readonly singleUploadLimit: number;
  readonly deleteConcurrency: number;
  readonly #retry: GsRetry;
  readonly #fanout = new AbortFanout();
  /** Uploads of the same object from this client go one after another, in call order, so the last call's data is what stays. */
  readonly #writes = new KeyedQueue();
  #bucket: Bucket | undefined;
  #ready: Promise<Bucket> | undefined;
  #storage: Storage | undefined;

  constructor(settings: GsSettings, tuning: GsClientTuning = {}) {
    this.settings = Object.freeze({ ...settings });
    this.name = describeGsReplica(settings);
    this.idleTimeoutMs = positive(tuning.idleTimeoutMs ?? DEFAULT_GS_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
    this.listPageSize = tuning.listPageSize === undefined ? undefined : pageSize(tuning.listPageSize);
    this.singleUploadLimit = positive(tuning.singleUploadLimit ?? DEFAULT_GS_SINGLE_UPLOAD_LIMIT, 'singleUploadLimit');
    this.deleteConcurrency = positive(tuning.deleteConcurrency ?? DEFAULT_GS_DELETE_CONCURRENCY, 'deleteConcurrency');
    this.#retry = new GsRetry(tuning.retry);
  }

  /**
   * Loads the SDK and checks that the bucket exists and the credentials may
   * list it (one listing of a single name: the emulator has no bucket GET),
   * so a wrong bucket or credential fails here rather than in the background
   * later. Idempotent; a failed init is retried by the next call.
   */
  async init(signal?: AbortSignal): Promise<void> {
    await this.#client(signal);
  }

  #client(signal?: AbortSignal): Promise<Bucket> {
    signal?.throwIfAborted();
    if (this.#bucket !== undefined) return Promise.resolve(this.#bucket);
    this.#ready ??= this.#connect(signal).then(
      (b) => {
        this.#bucket = b;
        return b;
      },
      (err: unknown) => {
        this.#ready = undefined;
        throw err;
      },
    );
    return this.#ready;
  }

  async #connect(signal: AbortSignal | undefined): Promise<Bucket> {
    const sdk: StorageModule = await importBackendPackage('gs', '@google-cloud/storage', () => import('@google-cloud/storage'));
    const s = this.settings;
    const options: StorageOptions = {
      // Retries are GsRetry's; see there why the SDK's are off.
      retryOptions: { autoRetry: false, maxRetries: 0 },
      timeout: this.#retry.tryTimeoutMs,
      userAgent: GS_USER_AGENT,
      ...(s.emulatorEndpoint === undefined ? {} : { apiEndpoint: s.emulatorEndpoint }),
      ...(s.keyFilename === undefined ? {} : { keyFilename: s.keyFilename }),
    };
    const storage = withoutEmulatorEnv(() => new sdk.Storage(options));
    this.#storage = storage;
    const bucket = storage.bucket(s.bucket);
    await this.#listPage(bucket, gsRootPrefix(s.path), undefined, undefined, 1, 'checking that the bucket can be listed', signal);
    return bucket;
  }

  /**
   * The credentials' headers for a request made outside the SDK; none for an
   * emulator, as the SDK sends none there. With no credentials anywhere in
   * the chain the request goes out anonymous, as the SDK's own do (a public
   * bucket can be read so), and GCS's 401 or 403 says what is wrong.
   */
  async #authHeaders(): Promise<Record<string, string>> {
    const base = { 'user-agent': GS_USER_AGENT };
    if (this.settings.emulatorEndpoint !== undefined || this.#storage === undefined) return base;
    try {
      const h = (await this.#storage.authClient.getRequestHeaders()) as unknown as Record<string, string>;
      return { ...base, ...h };
    } catch (err) {
      if (err instanceof Error && NO_ADC_RE.test(err.message)) return base;
      throw err;
    }
  }

  /** Runs one request with retries and a child of the caller's signal; failures come out as GsStorageError saying what was being done. */
  async #call<T>(doing: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>, short = false): Promise<T> {
    const child = this.#fanout.child(signal);
    try {
      return await this.#retry.run(child.signal, fn, short);
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      throw this.#error(err, doing);
    } finally {
      child.release();
    }
  }

  /** As #call for a request that cannot be repeated (its data is read as it goes), with no deadline but the caller's signal. */
  async #callOnce<T>(doing: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const child = this.#fanout.child(signal);
    try {
      return await fn(child.signal);
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      if (err instanceof SourceFailure) throw err;
      throw this.#error(err, doing);
    } finally {
      child.release();
    }
  }

  #error(err: unknown, doing: string): StorageError {
    return toGsStorageError(err, { replica: this.name, bucket: this.settings.bucket, doing, credentialSource: this.settings.credentialSource });
  }

  /** One page of a listing, as the JSON API returns it (the SDK's File objects would drop nothing we need, but cost more). */
  #listPage(
    bucket: Bucket,
    prefix: string,
    startOffset: string | undefined,
    pageToken: string | undefined,
    maxResults: number | undefined,
    doing: string,
    signal: AbortSignal | undefined,
  ): Promise<ListPage> {
    return this.#call(doing, signal, async () => {
      const [, , response] = await bucket.getFiles({
        prefix,
        autoPaginate: false,
        ...(startOffset === undefined ? {} : { startOffset }),
        ...(pageToken === undefined ? {} : { pageToken }),
        ...(maxResults === undefined ? {} : { maxResults }),
      });
      const r = (response ?? {}) as { items?: ListedObject[]; nextPageToken?: string };
      return { items: r.items ?? [], nextPageToken: r.nextPageToken === undefined || r.nextPageToken === '' ? undefined : r.nextPageToken };
    }, true);
  }

  /** Every object under `prefix` from `startOffset` on, page by page. */
  async *#listAll(bucket: Bucket, prefix: string, startOffset: string | undefined, doing: string, signal: AbortSignal | undefined): AsyncGenerator<ListedObject[]> {
    let token: string | undefined;
    do {
      const page = await this.#listPage(bucket, prefix, startOffset, token, this.listPageSize, doing, signal);
      yield page.items;
      token = page.nextPageToken;
    } while (token !== undefined);
  }

  /**
   * createdAt is the stored header timestamp whether or not useMetadata asks
   * for it: listings carry each object's metadata, as Litestream relies on.
   * Names sort as (MinTXID, MaxTXID): fixed-width lower-case hex.
   */
  async *ltxFiles(level: number, seek = 0n, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    checkLevel(level);
    const { signal } = opts;
    const bucket = await this.#client(signal);
    const prefix = gsLevelPrefix(this.settings.path, level);
    for await (const items of this.#listAll(bucket, prefix, gsSeekOffset(prefix, seek), `listing ${prefix}`, signal)) {
      for (const item of items) {
        const txids = item.name === undefined ? null : parseGsLtxObjectName(prefix, item.name);
        if (txids === null || txids.minTxid < seek) continue;
        yield { level, ...txids, size: Number(item.size ?? 0), createdAt: createdAt(item) };
      }
    }
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    const { signal } = opts;
    // Reads go outside the SDK, but through the credentials it was set up with.
    await this.#client(signal);
    const name = gsLtxObjectName(this.settings.path, level, minTxid, maxTxid);
    const notFound = (cause: unknown): StorageError => new ReplicaFileNotFoundError(level, minTxid, maxTxid, `${this.name}, object ${name}`, { cause });
    const first = await this.#download(name, offset, size, undefined, notFound, signal);
    if (first === null) return emptyStream();
    // The response is open now; if nobody starts reading it, its connection is let go, and a later read reopens it.
    const unread = setTimeout(() => first.stream.destroy(), this.idleTimeoutMs);
    unread.unref();
    return this.#read(name, first, offset, unread, notFound, signal);
  }

  /**
   * A ranged download of [offset, offset+size) (size 0: to the end), opened
   * as far as its first chunk, so that a missing object or a refused request
   * fails here; null when offset is at or past the end.
   */
  async #download(
    name: string,
    offset: number,
    size: number,
    generation: string | undefined,
    notFound: (cause: unknown) => StorageError,
    signal: AbortSignal | undefined,
  ): Promise<RangedBody | null> {
    let out: RangedBody | null;
    try {
      out = await this.#retry.run(signal, (trySignal) => this.#openRange(name, offset, size, generation, trySignal));
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      const e = err instanceof GsAttemptsFailure ? err.error : err;
      if (generation !== undefined && (isGsObjectNotFound(e) || gsErrorStatus(e) === 412)) {
        // Reading a generation that is no longer the live one: the object was replaced.
        throw new GsStorageError(`${this.name}: reading ${name}: the object was replaced while being read`, { code: 'conditionNotMet', status: gsErrorStatus(e), cause: e });
      }
      if (isGsObjectNotFound(e)) throw notFound(e);
      // GCS answers a range starting at the end with 416; the file exists, there is just nothing to read.
      if (gsErrorStatus(e) === 416) return null;
      throw this.#error(err, `reading ${name}`);
    }
    if (out !== null && generation !== undefined && out.generation !== undefined && out.generation !== generation) {
      out.stream.destroy();
      throw new GsStorageError(`${this.name}: reading ${name}: the object was replaced while being read`, { code: 'conditionNotMet' });
    }
    return out;
  }

  /** One try at opening a range: resolves once the first chunk (or the end) has come. */
  async #openRange(name: string, offset: number, size: number, generation: string | undefined, signal: AbortSignal): Promise<RangedBody | null> {
    const res = await openGsMedia({
      origin: this.settings.emulatorEndpoint ?? GS_API_ORIGIN,
      bucket: this.settings.bucket,
      object: name,
      generation,
      start: offset,
      end: size > 0 ? offset + size : undefined,
      headers: await this.#authHeaders(),
      signal,
    });
    const headers = res.headers;
    const status = res.statusCode;
    const stream: Readable = res;
    const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    let r: IteratorResult<Uint8Array>;
    try {
      r = await nextWithin(chunks, this.idleTimeoutMs, signal, stream);
    } catch (err) {
      stream.destroy();
      throw err;
    }
    if (r.done === true) {
      stream.destroy();
      return null;
    }
    const cr = parseContentRange(headers['content-range']);
    // A 200 is the whole object: the Firebase emulator answers so when the range starts at or past the end.
    const start = cr?.start ?? (status === 206 ? offset : 0);
    const total = cr?.total ?? (cr === undefined ? numberHeader(headers['content-length']) : undefined);
    let end = cr !== undefined ? cr.end + 1 : total ?? Number.MAX_SAFE_INTEGER;
    if (size > 0) end = Math.min(end, offset + size);
    if (offset >= end) {
      stream.destroy();
      return null;
    }
    const gen = headers['x-goog-generation'];
    return { stream, chunks, first: r.value, start, end, generation: Array.isArray(gen) ? gen[0] : gen };
  }

  async *#read(
    name: string,
    first: RangedBody,
    offset: number,
    unread: NodeJS.Timeout,
    notFound: (cause: unknown) => StorageError,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array> {
    clearTimeout(unread);
    const child = this.#fanout.child(signal);
    signal = child.signal;
    let cur = first;
    const { end } = first;
    const generation = first.generation;
    /** Object offset of the next byte the caller gets. */
    let delivered = offset;
    let failures = 0;
    try {
      for (;;) {
        let failure: unknown;
        let pos = cur.start;
        try {
          let chunk: Uint8Array | undefined = cur.first;
          while (chunk !== undefined) {
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
            const r = await nextWithin(cur.chunks, this.idleTimeoutMs, signal, cur.stream);
            chunk = r.done === true ? undefined : r.value;
          }
        } catch (err) {
          failure = err;
        }
        if (signal?.aborted === true) throw signal.reason;
        if (failure === undefined) {
          if (delivered >= end || end === Number.MAX_SAFE_INTEGER) return;
          failure = new Error(`the response ended at byte ${delivered}, before byte ${end}`);
        }
        if (++failures > GS_READ_RESUMES) {
          const why = failure instanceof Error ? failure.message : String(failure);
          throw new GsStorageError(`${this.name}: reading ${name}: the download broke off at byte ${delivered} and ${GS_READ_RESUMES} attempts to resume it failed (${why})`, { code: gsNetworkCode(failure), cause: failure });
        }
        cur.stream.destroy();
        const next = await this.#download(name, delivered, end - delivered, generation, notFound, signal);
        if (next === null) {
          throw new GsStorageError(`${this.name}: reading ${name}: the object ends before byte ${delivered}; it changed while being read`);
        }
        cur = next;
      }
    } finally {
      cur.stream.destroy();
      child.release();
    }
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const name = gsLtxObjectName(this.settings.path, level, minTxid, maxTxid);
    return this.#writes.run(name, () => this.#writeOnce(name, level, minTxid, maxTxid, data, signal));
  }

  async #writeOnce(
    name: string,
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    data: AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<LtxFileInfo> {
    let body: PeekedLtxStream | undefined;
    try {
      const bucket = await this.#client(signal);
      const peeked = await peekLtxHeader(data, minTxid, maxTxid, `${this.name}, object ${name}`);
      body = peeked.body;
      const file = bucket.file(name);
      const metadata = { contentType: GS_CONTENT_TYPE, metadata: { [GS_TIMESTAMP_METADATA_KEY]: formatRfc3339Nano(peeked.header.timestamp) } };
      const head = await readAtMost(body, this.singleUploadLimit, signal);
      let size: number;
      if (head.done) {
        const bytes = head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks);
        // crc32c: the SDK compares its own checksum with the stored object's, so a body damaged on the way fails the upload.
        await this.#call(`writing ${name}`, signal, () => file.save(bytes, { resumable: false, validation: 'crc32c', metadata }));
        size = bytes.length;
      } else {
        size = await this.#callOnce(`writing ${name}`, signal, (child) => this.#streamUpload(file, metadata, head.chunks, body!, child));
      }
      return { level, minTxid, maxTxid, size, createdAt: new Date(peeked.header.timestamp) };
    } catch (err) {
      await body?.return().catch(() => undefined);
      if (signal?.aborted === true) throw signal.reason;
      if (err instanceof SourceFailure) throw asStorageError(err.error, `${this.name}: writing ${name}: reading the data to upload`);
      if (err instanceof StorageError) throw err;
      throw this.#error(err, `writing ${name}`);
    }
  }

  /**
   * A large file through a resumable upload session, streamed as it is
   * read: the object appears only when the session is finalised, whole. Its
   * data can be read once, so a failure fails the write (the replication
   * loop writes the file again).
   */
  async #streamUpload(file: File, metadata: object, head: Buffer[], rest: AsyncIterator<Uint8Array>, signal: AbortSignal | undefined): Promise<number> {
    const w: Writable = file.createWriteStream({ resumable: true, validation: 'crc32c', metadata });
    let size = 0;
    const done = new Promise<void>((resolve, reject) => {
      w.once('finish', resolve);
      w.once('error', reject);
    });
    done.catch(() => undefined);
    const onAbort = (): void => {
      w.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const write = async (chunk: Uint8Array): Promise<void> => {
        size += chunk.length;
        if (!w.write(chunk)) await Promise.race([new Promise((resolve) => w.once('drain', resolve)), done]);
      };
      for (const c of head) await write(c);
      for (;;) {
        signal?.throwIfAborted();
        const r = await nextChunk(rest);
        if (r.done === true) break;
        // Copied: a source may reuse its buffer once asked for more.
        await write(Buffer.from(r.value));
      }
      w.end();
      await done;
      return size;
    } catch (err) {
      w.destroy();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    for (const f of files) checkLtxFileKey(f.level, f.minTxid, f.maxTxid);
    const names = [...new Set(files.map((f) => gsLtxObjectName(this.settings.path, f.level, f.minTxid, f.maxTxid)))];
    if (names.length === 0) return;
    const bucket = await this.#client(signal);
    await this.#deleteObjects(bucket, names, signal);
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    const bucket = await this.#client(signal);
    const prefix = gsRootPrefix(this.settings.path);
    for await (const items of this.#listAll(bucket, prefix, undefined, `listing ${prefix} to delete it`, signal)) {
      await this.#deleteObjects(
        bucket,
        items.flatMap((i) => (i.name === undefined ? [] : [i.name])),
        signal,
      );
    }
  }

  /** Deletes objects, deleteConcurrency at a time; one already gone is not an error. */
  async #deleteObjects(bucket: Bucket, names: string[], signal: AbortSignal | undefined): Promise<void> {
    await mapConcurrent(names, this.deleteConcurrency, (name) =>
      this.#call(
        `deleting ${name}`,
        signal,
        async () => {
          await bucket.file(name).delete({ ignoreNotFound: true });
        },
        true,
      ),
    );
  }
}

/**
 * Runs `make` with STORAGE_EMULATOR_HOST hidden from the SDK: the settings
 * already hold it (read from the environment they were given, with Go's
 * reading of a bare `host:port` as http), and the SDK would otherwise send
 * requests to the raw value in place of the endpoint it is handed.
 */
function withoutEmulatorEnv<T>(make: () => T): T {
  const saved = process.env[GS_EMULATOR_HOST_ENV];
  if (saved === undefined) return make();
  delete process.env[GS_EMULATOR_HOST_ENV];
  try {
    return make();
  } finally {
    process.env[GS_EMULATOR_HOST_ENV] = saved;
  }
}

/** The next chunk, or a failure once `idleMs` pass without one or `signal` aborts (the stream is destroyed then). */
async function nextWithin(it: AsyncIterator<Uint8Array>, idleMs: number, signal: AbortSignal | undefined, stream: Readable): Promise<IteratorResult<Uint8Array>> {
  signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new S3IdleTimeoutError(idleMs)), idleMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function numberHeader(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  const n = s === undefined ? NaN : Number(s);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function createdAt(item: ListedObject): Date {
  const stamp = item.metadata?.[GS_TIMESTAMP_METADATA_KEY];
  const ms = typeof stamp === 'string' ? parseRfc3339(stamp) : null;
  if (ms !== null) return new Date(ms);
  const created = item.timeCreated === undefined ? NaN : Date.parse(item.timeCreated);
  return new Date(Number.isNaN(created) ? 0 : created);
}

function pageSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > GS_MAX_LIST_PAGE_SIZE) throw new RangeError(`listPageSize must be an integer from 1 to ${GS_MAX_LIST_PAGE_SIZE}, got ${n}`);
  return n;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number, got ${n}`);
  return n;
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}
