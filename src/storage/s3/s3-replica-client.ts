import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { asStorageError, ReplicaFileNotFoundError, StorageError } from '../errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { checkByteRange, checkLevel, checkLtxFileKey } from '../ltx-file-key.js';
import { peekLtxHeader, type PeekedLtxStream } from '../ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from '../replica-client.js';
import { readAtMost, SourceFailure } from '../upload-source.js';
import { RawObjectNotFoundError, type RawObjectInfo, type RawObjectOpenOptions, type RawObjectReader } from '../raw-object-reader.js';
import { AbortFanout } from './abort-fanout.js';
import { mapConcurrent } from './map-concurrent.js';
import { DEFAULT_S3_REGION } from './s3-endpoint.js';
import { isS3NotFound, S3DeleteError, s3ErrorCode, s3ErrorStatus, S3StorageError, toS3StorageError } from './s3-errors.js';
import { parseS3LtxKey, s3LevelPrefix, s3LtxKey, s3RootPrefix, s3SeekStartAfter } from './s3-key-layout.js';
import { parseContentRange, readBodyChunks } from './s3-read-stream.js';
import { s3V03Key, s3V03Prefix, s3V03SkipDirStartAfter } from './s3-v03-key-layout.js';
import { S3RetryStrategy, type S3RetryOptions } from './s3-retry-strategy.js';
import { describeS3Replica, type S3Settings } from './s3-settings.js';
import { formatRfc3339Nano, parseRfc3339, S3_TIMESTAMP_METADATA_KEY } from './s3-timestamp.js';

export const S3_REPLICA_TYPE = 's3';
/**
 * A request or response that moves no byte for this long is given up (and
 * retried, or resumed for reads). Long enough for a slow multipart completion,
 * short enough that a dead connection does not hold a restore for long.
 */
export const DEFAULT_S3_IDLE_TIMEOUT_MS = 120_000;
/** Connecting (TCP and TLS) must succeed within this; Litestream allows 10 s for the TLS handshake. */
export const DEFAULT_S3_CONNECT_TIMEOUT_MS = 10_000;
/** HeadObject calls in flight when listing with useMetadata; Litestream's MetadataConcurrency. */
export const DEFAULT_S3_METADATA_CONCURRENCY = 50;
/** DeleteObjects takes at most 1000 keys. */
export const S3_DELETE_BATCH_SIZE = 1000;
/** A read that breaks off is reopened at the byte it reached up to this many times in a row without progress. */
export const S3_READ_RESUMES = 3;
/** ListObjectsV2 returns at most this many keys per page, whatever MaxKeys asks for. */
export const S3_MAX_LIST_PAGE_SIZE = 1000;
/**
 * Keys per page of the scan that finds directories (listRawDirs: v0.3
 * generations). A page shows every directory among its keys; one with more
 * keys is skipped whole by the next request, so small pages cost little when
 * directories are large.
 */
export const S3_V03_GENERATION_SCAN_PAGE_SIZE = 100;
/** Sockets per client: the metadata lookups plus uploads and reads in flight. */
const MAX_SOCKETS = 64;
/** S3 does not tell the other failures in a DeleteObjects reply apart, so a message shows this many of them. */
const SHOWN_DELETE_FAILURES = 5;

/** Knobs that are not part of a replica's configuration: timeouts and retries (tests shorten them). */
export interface S3ClientTuning {
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  retry?: S3RetryOptions;
  metadataConcurrency?: number;
  /**
   * Keys asked for per ListObjectsV2 page (MaxKeys), 1 to 1000. Unset,
   * listings take the server's page size (1000 on S3) and the directory
   * scan S3_V03_GENERATION_SCAN_PAGE_SIZE; tests set it small to
   * page through a few keys.
   */
  listPageSize?: number;
}

interface RangedBody {
  body: Readable;
  /** Object offset of the body's first byte. */
  start: number;
  /** Object offset the read stops at (exclusive); undefined when the server did not say. */
  end: number | undefined;
}

/** An object a read is aimed at, and what a missing key is reported as. */
interface ReadTarget {
  key: string;
  notFound(cause: unknown): StorageError;
}

interface ListedKey {
  key: string;
  minTxid: bigint;
  maxTxid: bigint;
  size: number;
  lastModified: Date;
}

/**
 * A replica in an S3 bucket (AWS or S3-compatible), laid out exactly like
 * Litestream's S3 backend: `<path>/<level %04x>/<min>-<max>.ltx`, with the LTX
 * header timestamp in the `litestream-timestamp` user metadata.
 *
 * - Listing streams ListObjectsV2 pages, seeking with StartAfter; createdAt is
 *   LastModified, or with useMetadata the stored timestamp (HeadObject per key).
 * - Reading streams the body with a Range for offset/size, and resumes with a
 *   new Range request where a broken or short response stopped.
 * - Writing puts files up to the part size in one PutObject and larger ones as
 *   a multipart upload, holding at most concurrency × part size in memory.
 * - Requests are retried on 5xx, throttling, timeouts and dropped connections
 *   (S3RetryStrategy), never on other 4xx, which fail with one S3StorageError
 *   naming the bucket, the endpoint and what to check.
 * - Other keys under the path can be listed and read (RawObjectReader),
 *   never written: that is how backups a Litestream v0.3 left under
 *   `<path>/generations/` are read (V03Reader); see s3-v03-key-layout.ts.
 */
export class S3ReplicaClient implements ReplicaClient, RawObjectReader {
  /** 's3', or 'oss' for Alibaba Cloud OSS through its S3-compatible API. */
  readonly type: string;
  readonly settings: Readonly<S3Settings>;
  /** `s3://bucket/path [at endpoint]`, as the replica is named in messages. */
  readonly name: string;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly metadataConcurrency: number;
  readonly listPageSize: number | undefined;
  readonly #retry: S3RetryStrategy;
  readonly #fanout = new AbortFanout();
  /**
   * Uploads of the same key from this client go one after another, in call
   * order, so the last call's data is what stays. S3 itself keeps one whole
   * object per PUT, but not every S3-compatible server does when two PUTs of
   * a key overlap (s3rver interleaves them).
   */
  readonly #writes = new KeyedQueue();
  #s3: S3Client | undefined;
  #ready: Promise<S3Client> | undefined;
  #region: string | undefined;

  constructor(settings: S3Settings, tuning: S3ClientTuning = {}) {
    this.settings = Object.freeze({ ...settings });
    this.type = settings.scheme ?? S3_REPLICA_TYPE;
    this.name = describeS3Replica(settings);
    this.idleTimeoutMs = positive(tuning.idleTimeoutMs ?? DEFAULT_S3_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
    this.connectTimeoutMs = positive(tuning.connectTimeoutMs ?? DEFAULT_S3_CONNECT_TIMEOUT_MS, 'connectTimeoutMs');
    this.metadataConcurrency = positive(tuning.metadataConcurrency ?? DEFAULT_S3_METADATA_CONCURRENCY, 'metadataConcurrency');
    this.listPageSize = tuning.listPageSize === undefined ? undefined : pageSize(tuning.listPageSize);
    this.#retry = new S3RetryStrategy(tuning.retry);
  }

  /** The region in use once init() has run (given, looked up, or us-east-1 for custom endpoints). */
  get region(): string | undefined {
    return this.#region;
  }

  /**
   * Resolves the region (GetBucketLocation, as Litestream, when none is given
   * and there is no custom endpoint), then checks that the bucket exists and
   * the credentials may list it, so a wrong bucket, endpoint or key fails here
   * rather than in the background later. Idempotent; a failed init is retried
   * by the next call.
   */
  async init(signal?: AbortSignal): Promise<void> {
    await this.#client(signal);
  }

  /** Closes the client's connections; the client must not be used afterwards. */
  destroy(): void {
    this.#s3?.destroy();
    this.#s3 = undefined;
    this.#ready = undefined;
  }

  #client(signal?: AbortSignal): Promise<S3Client> {
    signal?.throwIfAborted();
    if (this.#s3 !== undefined) return Promise.resolve(this.#s3);
    this.#ready ??= this.#connect().then(
      (s3) => {
        this.#s3 = s3;
        return s3;
      },
      (err: unknown) => {
        this.#ready = undefined;
        throw err;
      },
    );
    return this.#ready;
  }

  async #connect(): Promise<S3Client> {
    const region = this.settings.region ?? (await this.#lookupRegion());
    const s3 = this.#makeS3(region);
    try {
      await s3.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: s3RootPrefix(this.settings.path), MaxKeys: 1 }));
    } catch (err) {
      s3.destroy();
      throw this.#error(err, 'checking that the bucket can be listed');
    }
    this.#region = region;
    return s3;
  }

  /** The bucket's region from GetBucketLocation, or from the region header of a HeadBucket when that is not allowed. */
  async #lookupRegion(): Promise<string> {
    const probe = this.#makeS3(DEFAULT_S3_REGION);
    try {
      try {
        const out = await probe.send(new GetBucketLocationCommand({ Bucket: this.settings.bucket }));
        const loc = out.LocationConstraint as string | undefined;
        // S3 reports us-east-1 as no constraint and eu-west-1 by its legacy name.
        return loc === undefined || loc === '' ? DEFAULT_S3_REGION : loc === 'EU' ? 'eu-west-1' : loc;
      } catch (err) {
        const hinted = bucketRegionHeader(err);
        if (hinted !== undefined) return hinted;
        try {
          const head = await probe.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
          if (head.BucketRegion !== undefined && head.BucketRegion !== '') return head.BucketRegion;
        } catch (headErr) {
          const fromHead = bucketRegionHeader(headErr);
          if (fromHead !== undefined) return fromHead;
        }
        throw this.#error(err, 'looking up the bucket region (set the region option or ?region= to skip this)');
      }
    } finally {
      probe.destroy();
    }
  }

  #makeS3(region: string): S3Client {
    const s = this.settings;
    // The SDK warns on every process that it will drop Node 20 in 2027; tidemark supports Node 20, so the CLI would print it on every run.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const agent = { keepAlive: true, maxSockets: MAX_SOCKETS };
    const config: S3ClientConfig = {
      region,
      forcePathStyle: s.forcePathStyle,
      useArnRegion: true,
      followRegionRedirects: s.endpoint === undefined,
      maxAttempts: this.#retry.maxAttempts,
      retryStrategy: this.#retry,
      customUserAgent: 'tidemark',
      requestHandler: {
        connectionTimeout: this.connectTimeoutMs,
        socketTimeout: this.idleTimeoutMs,
        httpAgent: new HttpAgent(agent),
        httpsAgent: new HttpsAgent({ ...agent, rejectUnauthorized: !s.skipVerify }),
      },
    };
    if (s.endpoint !== undefined) {
      config.endpoint = s.endpoint;
      // Most S3-compatible services reject the SDK's default aws-chunked checksum trailers (Litestream #918, #947).
      config.requestChecksumCalculation = 'WHEN_REQUIRED';
      config.responseChecksumValidation = 'WHEN_REQUIRED';
    }
    if (s.credentials !== undefined) config.credentials = { ...s.credentials };
    const s3 = new S3Client(config);
    const { provider, signPayload, requireContentMd5 } = s;
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const req = args.request as { headers?: Record<string, string>; body?: unknown } | undefined;
        if (req?.headers !== undefined) {
          // Tigris serves reads from the nearest region unless asked for consistency.
          if (provider === 'tigris') req.headers['x-tigris-consistent'] = 'true';
          // The signer takes an existing payload hash as given; UNSIGNED-PAYLOAD is what sign-payload=false asks for.
          if (!signPayload) req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
          // The SDK now sends a CRC32 where DeleteObjects needs a checksum; several S3-compatible services insist on Content-MD5.
          if (requireContentMd5 && context.commandName === 'DeleteObjectsCommand') {
            const body = req.body;
            if (typeof body === 'string' || body instanceof Uint8Array) {
              req.headers['content-md5'] = createHash('md5').update(body).digest('base64');
            }
          }
        }
        return next(args);
      },
      { step: 'build', name: 'tidemarkS3Headers' },
    );
    return s3;
  }

  /** Runs one request with a child of the caller's signal (see AbortFanout). */
  async #withSignal<T>(signal: AbortSignal | undefined, fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const child = this.#fanout.child(signal);
    try {
      return await fn(child.signal);
    } finally {
      child.release();
    }
  }

  #error(err: unknown, doing: string): StorageError {
    return toS3StorageError(err, {
      replica: this.name,
      bucket: this.settings.bucket,
      doing,
      credentialSource: this.settings.credentialSource,
    });
  }

  #sseCustomer(): { SSECustomerAlgorithm?: string; SSECustomerKey?: string } {
    const e = this.settings.encryption;
    return e?.kind === 'customer' ? { SSECustomerAlgorithm: e.algorithm, SSECustomerKey: e.key } : {};
  }

  async *ltxFiles(level: number, seek = 0n, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    checkLevel(level);
    const { signal } = opts;
    const s3 = await this.#client(signal);
    const prefix = s3LevelPrefix(this.settings.path, level);
    const startAfter = s3SeekStartAfter(prefix, seek);
    let token: string | undefined;
    do {
      const input = {
        Bucket: this.settings.bucket,
        Prefix: prefix,
        ...this.#maxKeys(),
        ...(token === undefined ? (startAfter === undefined ? {} : { StartAfter: startAfter }) : { ContinuationToken: token }),
      };
      const out = await this.#list(s3, input, `listing ${prefix}`, signal);
      const listed: ListedKey[] = [];
      for (const o of out.Contents ?? []) {
        const txids = o.Key === undefined ? null : parseS3LtxKey(prefix, o.Key);
        if (txids === null || txids.minTxid < seek) continue;
        listed.push({ key: o.Key!, ...txids, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
      }
      const infos = opts.useMetadata === true ? await this.#withStoredTimestamps(s3, level, listed, signal) : listed.map((f) => info(level, f, f.lastModified));
      for (const f of infos) {
        if (f !== null) yield f;
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /**
   * HeadObject for each key, `metadataConcurrency` at a time. A key gone since
   * the listing is dropped; one without a readable timestamp (written by another
   * tool) keeps LastModified, as Litestream does.
   */
  #withStoredTimestamps(s3: S3Client, level: number, listed: ListedKey[], signal: AbortSignal | undefined): Promise<(LtxFileInfo | null)[]> {
    return mapConcurrent(listed, this.metadataConcurrency, async (f) => {
      let meta: Record<string, string> | undefined;
      try {
        const input = { Bucket: this.settings.bucket, Key: f.key, ...this.#sseCustomer() };
        meta = (await this.#withSignal(signal, (abortSignal) => s3.send(new HeadObjectCommand(input), { abortSignal }))).Metadata;
      } catch (err) {
        if (signal?.aborted === true) throw signal.reason;
        if (isS3NotFound(err)) return null;
        throw this.#error(err, `reading the metadata of ${f.key}`);
      }
      const stamp = meta?.[S3_TIMESTAMP_METADATA_KEY];
      const ms = stamp === undefined ? null : parseRfc3339(stamp);
      return info(level, f, ms === null ? f.lastModified : new Date(ms));
    });
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    const { signal } = opts;
    const key = s3LtxKey(this.settings.path, level, minTxid, maxTxid);
    const target: ReadTarget = {
      key,
      notFound: (cause) => new ReplicaFileNotFoundError(level, minTxid, maxTxid, `${this.name}, key ${key}`, { cause }),
    };
    return this.#open(target, offset, size, signal);
  }

  /** Opens a (resumable) read of [offset, offset+size) of an object; size 0 reads to the end. */
  async #open(target: ReadTarget, offset: number, size: number, signal: AbortSignal | undefined): Promise<AsyncIterable<Uint8Array>> {
    const s3 = await this.#client(signal);
    const first = await this.#withSignal(signal, (child) => this.#getRange(s3, target, offset, size, child));
    if (first === null) return emptyStream();
    // The response is open now; if nobody starts reading it, its connection is let go, and a later read reopens it.
    const unread = setTimeout(() => first.body.destroy(), this.idleTimeoutMs);
    unread.unref();
    return this.#read(s3, target, first, offset, unread, signal);
  }

  /** GetObject with a Range for [offset, offset+size) (size 0: to the end); null when offset is at or past the end. */
  async #getRange(s3: S3Client, file: ReadTarget, offset: number, size: number, signal: AbortSignal | undefined): Promise<RangedBody | null> {
    const range = offset === 0 && size === 0 ? undefined : `bytes=${offset}-${size > 0 ? offset + size - 1 : ''}`;
    let out;
    try {
      out = await s3.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: file.key, ...(range === undefined ? {} : { Range: range }), ...this.#sseCustomer() }),
        { abortSignal: signal },
      );
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      if (isS3NotFound(err)) throw file.notFound(err);
      // S3 answers a range starting at or past the end with 416; the file exists, there is just nothing to read.
      if (s3ErrorCode(err) === 'InvalidRange' || s3ErrorStatus(err) === 416) return null;
      throw this.#error(err, `reading ${file.key}`);
    }
    const body = out.Body;
    if (!(body instanceof Readable)) throw new S3StorageError(`${this.name}: reading ${file.key}: the response has no readable body`);
    const cr = parseContentRange(out.ContentRange);
    // A server that ignores Range sends the whole object from byte 0; the reader skips to `offset`.
    const start = cr?.start ?? 0;
    let end = cr !== undefined ? cr.end + 1 : out.ContentLength === undefined ? undefined : start + out.ContentLength;
    if (size > 0) end = Math.min(end ?? offset + size, offset + size);
    return { body, start, end };
  }

  async *#read(
    s3: S3Client,
    file: ReadTarget,
    first: RangedBody,
    offset: number,
    unread: NodeJS.Timeout,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array> {
    clearTimeout(unread);
    const child = this.#fanout.child(signal);
    signal = child.signal;
    let cur = first;
    const end = first.end;
    /** Object offset of the next byte the caller gets. */
    let delivered = offset;
    let failures = 0;
    try {
      for (;;) {
        let failure: unknown;
        let pos = cur.start;
        try {
          for await (const chunk of readBodyChunks(cur.body, this.idleTimeoutMs, signal)) {
            const chunkStart = pos;
            pos += chunk.length;
            const from = Math.max(0, delivered - chunkStart);
            const to = end === undefined ? chunk.length : Math.min(chunk.length, end - chunkStart);
            if (to > from) {
              delivered = chunkStart + to;
              failures = 0;
              yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
            }
            if (end !== undefined && delivered >= end) break;
          }
        } catch (err) {
          failure = err;
        }
        if (signal?.aborted === true) throw signal.reason;
        if (failure === undefined) {
          if (end === undefined || delivered >= end) return;
          failure = new Error(`the response ended at byte ${delivered}, before byte ${end}`);
        }
        if (++failures > S3_READ_RESUMES) {
          const why = failure instanceof Error ? failure.message : String(failure);
          throw new S3StorageError(`${this.name}: reading ${file.key}: the download broke off at byte ${delivered} and ${S3_READ_RESUMES} attempts to resume it failed (${why})`, { code: s3ErrorCode(failure), cause: failure });
        }
        cur.body.destroy();
        const next = await this.#getRange(s3, file, delivered, end === undefined ? 0 : end - delivered, signal);
        if (next === null) {
          throw new S3StorageError(`${this.name}: reading ${file.key}: the object ends before byte ${delivered}; it changed while being read`, { status: 416 });
        }
        cur = next;
      }
    } finally {
      cur.body.destroy();
      child.release();
    }
  }

  /**
   * Directories are found by a scan of the keys under `<path>/<dir>/`
   * without a delimiter: each page names the directories its keys are in,
   * and the next page starts after the last of them (StartAfter), so one
   * request is made per directory at most, plus one. Litestream v0.3 asked
   * for CommonPrefixes with Delimiter '/' to find its generations, which some
   * S3-compatible servers (s3rver among them) leave empty for keys nested two
   * levels deeper, as every v0.3 object is; a scan finds them on every
   * server and, for a replica without any, costs the same single request.
   */
  async listRawDirs(dir: string, signal?: AbortSignal): Promise<string[]> {
    const s3 = await this.#client(signal);
    const prefix = s3V03Prefix(this.settings.path, dir);
    const found = new Set<string>();
    let startAfter: string | undefined;
    for (;;) {
      const input = {
        Bucket: this.settings.bucket,
        Prefix: prefix,
        MaxKeys: this.listPageSize ?? S3_V03_GENERATION_SCAN_PAGE_SIZE,
        ...(startAfter === undefined ? {} : { StartAfter: startAfter }),
      };
      const out = await this.#list(s3, input, `listing ${prefix}`, signal);
      let next: string | undefined;
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(prefix)) continue;
        const rest = o.Key.slice(prefix.length);
        const slash = rest.indexOf('/');
        // An object right under the directory is no directory; only that key is passed.
        if (slash === -1) {
          next = o.Key;
          continue;
        }
        const name = rest.slice(0, slash);
        found.add(name);
        next = s3V03SkipDirStartAfter(prefix, name);
      }
      if (out.IsTruncated !== true) break;
      // A truncated page without a key would leave nowhere to go on from; stopping there would hide directories.
      if (next === undefined) throw new S3StorageError(`${this.name}: listing ${prefix}: a truncated listing page held no key`);
      startAfter = next;
    }
    return [...found];
  }

  /**
   * The objects directly under `dir`, one ListObjectsV2 page at a time. The
   * delimiter keeps deeper keys (the unreleased v0.4 layout kept a directory
   * per WAL index) out of the pages.
   */
  async listRawObjects(dir: string, signal?: AbortSignal): Promise<RawObjectInfo[]> {
    const s3 = await this.#client(signal);
    const prefix = s3V03Prefix(this.settings.path, dir);
    const found: RawObjectInfo[] = [];
    let token: string | undefined;
    do {
      const input = {
        Bucket: this.settings.bucket,
        Prefix: prefix,
        Delimiter: '/',
        ...this.#maxKeys(),
        ...(token === undefined ? {} : { ContinuationToken: token }),
      };
      const out = await this.#list(s3, input, `listing ${prefix}`, signal);
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(prefix)) continue;
        const name = o.Key.slice(prefix.length);
        if (name.includes('/')) continue;
        found.push({ name, size: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) });
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
    return found;
  }

  /** The object (or a byte range of it), read and resumed as LTX files are. */
  openRawObject(relKey: string, opts: RawObjectOpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const key = s3V03Key(this.settings.path, relKey);
    const target = { key, notFound: (cause: unknown) => new RawObjectNotFoundError(relKey, `${this.name}, key ${key}`, { cause }) };
    return this.#open(target, opts.offset ?? 0, opts.size ?? 0, opts.signal);
  }

  /** One ListObjectsV2 request; failures come out as S3StorageError saying what was being listed. */
  async #list(s3: S3Client, input: ListObjectsV2CommandInput, doing: string, signal: AbortSignal | undefined): Promise<ListObjectsV2CommandOutput> {
    try {
      return await this.#withSignal(signal, (abortSignal) => s3.send(new ListObjectsV2Command(input), { abortSignal }));
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      throw this.#error(err, doing);
    }
  }

  #maxKeys(): { MaxKeys?: number } {
    return this.listPageSize === undefined ? {} : { MaxKeys: this.listPageSize };
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const key = s3LtxKey(this.settings.path, level, minTxid, maxTxid);
    return this.#writes.run(key, () => this.#writeOnce(key, level, minTxid, maxTxid, data, signal));
  }

  async #writeOnce(
    key: string,
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    data: AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<LtxFileInfo> {
    let body: PeekedLtxStream | undefined;
    const child = this.#fanout.child(signal);
    try {
      const s3 = await this.#client(signal);
      const peeked = await peekLtxHeader(data, minTxid, maxTxid, `${this.name}, key ${key}`);
      body = peeked.body;
      const params: PutObjectCommandInput = {
        Bucket: this.settings.bucket,
        Key: key,
        Metadata: { [S3_TIMESTAMP_METADATA_KEY]: formatRfc3339Nano(peeked.header.timestamp) },
        ...this.#encryptionParams(),
      };
      const head = await readAtMost(body, this.settings.partSize, signal);
      const size = head.done
        ? await this.#putOnce(s3, params, head.chunks, child.signal)
        : await this.#putMultipart(s3, params, head.chunks, body, child.signal);
      return { level, minTxid, maxTxid, size, createdAt: new Date(peeked.header.timestamp) };
    } catch (err) {
      await body?.return().catch(() => undefined);
      if (signal?.aborted === true) throw signal.reason;
      if (err instanceof SourceFailure) throw asStorageError(err.error, `${this.name}: writing ${key}: reading the data to upload`);
      if (err instanceof StorageError) throw err;
      throw this.#error(err, `writing ${key}`);
    } finally {
      child.release();
    }
  }

  #encryptionParams(): Partial<PutObjectCommandInput> {
    const e = this.settings.encryption;
    if (e?.kind === 'kms') return { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: e.keyId };
    return this.#sseCustomer();
  }

  async #putOnce(s3: S3Client, params: PutObjectCommandInput, chunks: Buffer[], signal: AbortSignal | undefined): Promise<number> {
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const out = await s3.send(new PutObjectCommand({ ...params, Body: bytes, ContentLength: bytes.length }), { abortSignal: signal });
    if (out.ETag === undefined) throw new S3StorageError(`${this.name}: writing ${params.Key}: the upload returned no ETag`);
    return bytes.length;
  }

  /** Multipart upload through lib-storage: `concurrency` parts of `partSize` in flight, incomplete uploads aborted. */
  async #putMultipart(
    s3: S3Client,
    params: PutObjectCommandInput,
    head: Buffer[],
    rest: AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    let size = 0;
    let sourceFailure: SourceFailure | undefined;
    async function* feed(): AsyncGenerator<Buffer> {
      for (const c of head) {
        size += c.length;
        yield c;
      }
      try {
        for await (const c of rest) {
          signal?.throwIfAborted();
          size += c.length;
          // Copied: the upload holds chunks until a part is full, and a source may reuse its buffers.
          yield Buffer.from(c);
        }
      } catch (err) {
        sourceFailure = new SourceFailure(err);
        throw err;
      }
    }
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const upload = new Upload({
      client: s3,
      params: { ...params, Body: Readable.from(feed()) },
      partSize: this.settings.partSize,
      queueSize: this.settings.concurrency,
      leavePartsOnError: false,
      abortController: abort,
    });
    try {
      const out = await upload.done();
      if (out.ETag === undefined) throw new S3StorageError(`${this.name}: writing ${params.Key}: the upload returned no ETag`);
      return size;
    } catch (err) {
      // The source's own error explains the failure better than the upload's (or its clean-up's) reaction to it.
      throw sourceFailure ?? err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    for (const f of files) checkLtxFileKey(f.level, f.minTxid, f.maxTxid);
    const keys = [...new Set(files.map((f) => s3LtxKey(this.settings.path, f.level, f.minTxid, f.maxTxid)))];
    if (keys.length === 0) return;
    const s3 = await this.#client(signal);
    const failures: { key: string; code: string; message: string }[] = [];
    for (let i = 0; i < keys.length; i += S3_DELETE_BATCH_SIZE) {
      failures.push(...(await this.#deleteBatch(s3, keys.slice(i, i + S3_DELETE_BATCH_SIZE), signal)));
    }
    this.#throwDeleteFailures(failures, keys.length);
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    const s3 = await this.#client(signal);
    const prefix = s3RootPrefix(this.settings.path);
    const failures: { key: string; code: string; message: string }[] = [];
    let total = 0;
    let token: string | undefined;
    do {
      const input = { Bucket: this.settings.bucket, Prefix: prefix, ...this.#maxKeys(), ...(token === undefined ? {} : { ContinuationToken: token }) };
      const out = await this.#list(s3, input, `listing ${prefix} to delete it`, signal);
      const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      total += keys.length;
      // One listing page is at most 1000 keys, one DeleteObjects batch.
      if (keys.length > 0) failures.push(...(await this.#deleteBatch(s3, keys, signal)));
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
    this.#throwDeleteFailures(failures, total);
  }

  async #deleteBatch(s3: S3Client, keys: string[], signal: AbortSignal | undefined): Promise<{ key: string; code: string; message: string }[]> {
    let out;
    try {
      const input = { Bucket: this.settings.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } };
      out = await this.#withSignal(signal, (abortSignal) => s3.send(new DeleteObjectsCommand(input), { abortSignal }));
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      throw this.#error(err, `deleting ${keys.length} object${keys.length === 1 ? '' : 's'}`);
    }
    return (out.Errors ?? [])
      .filter((e) => e.Code !== 'NoSuchKey')
      .map((e) => ({ key: e.Key ?? '?', code: e.Code ?? 'UnknownError', message: (e.Message ?? '').replace(/\s+/g, ' ') }));
  }

  #throwDeleteFailures(failures: { key: string; code: string; message: string }[], total: number): void {
    if (failures.length === 0) return;
    const shown = failures
      .slice(0, SHOWN_DELETE_FAILURES)
      .map((f) => `${f.key}: ${f.code}${f.message === '' ? '' : ` (${f.message})`}`)
      .join('; ');
    const more = failures.length > SHOWN_DELETE_FAILURES ? `; and ${failures.length - SHOWN_DELETE_FAILURES} more` : '';
    throw new S3DeleteError(`${this.name}: could not delete ${failures.length} of ${total} objects: ${shown}${more}`, failures);
  }
}

function info(level: number, f: ListedKey, createdAt: Date): LtxFileInfo {
  return { level, minTxid: f.minTxid, maxTxid: f.maxTxid, size: f.size, createdAt };
}

function pageSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > S3_MAX_LIST_PAGE_SIZE) throw new RangeError(`listPageSize must be an integer from 1 to ${S3_MAX_LIST_PAGE_SIZE}, got ${n}`);
  return n;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number, got ${n}`);
  return n;
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}

function bucketRegionHeader(err: unknown): string | undefined {
  const headers = (err as { $response?: { headers?: Record<string, string> } } | null)?.$response?.headers;
  const region = headers?.['x-amz-bucket-region'];
  return region === undefined || region === '' ? undefined : region;
}
