import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobItem, BlockBlobClient, ContainerClient, ContainerListBlobFlatSegmentResponse, StoragePipelineOptions } from '@azure/storage-blob';
import { importBackendPackage } from '../backend-package.js';
import { asStorageError, ReplicaFileNotFoundError, StorageError } from '../errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { checkByteRange, checkLevel, checkLtxFileKey } from '../ltx-file-key.js';
import { peekLtxHeader, type PeekedLtxStream } from '../ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from '../replica-client.js';
import { nextChunk, readAtMost, SourceFailure } from '../upload-source.js';
import { AbortFanout } from '../s3/abort-fanout.js';
import { mapConcurrent } from '../s3/map-concurrent.js';
import { parseContentRange, readBodyChunks } from '../s3/s3-read-stream.js';
import { formatRfc3339Nano, parseRfc3339 } from '../s3/s3-timestamp.js';
import { AbsStorageError, isAbsBlobNotFound, toAbsStorageError } from './abs-errors.js';
import { absLevelPrefix, absLtxBlobName, absRootPrefix, parseAbsLtxBlobName } from './abs-key-layout.js';
import { absErrorCode, absErrorStatus, AbsAttemptsFailure, AbsRetry, type AbsRetryOptions } from './abs-retry.js';
import { describeAbsReplica, type AbsSettings } from './abs-settings.js';

export const ABS_REPLICA_TYPE = 'abs';
/**
 * Blob metadata key under which Litestream keeps the LTX header timestamp
 * (RFC 3339 with nanoseconds, UTC). Azure metadata names must be C#
 * identifiers, hence no hyphen, unlike S3's `litestream-timestamp`.
 */
export const ABS_TIMESTAMP_METADATA_KEY = 'litestreamtimestamp';
/** Litestream stores blobs in the Hot tier, typed as opaque bytes. */
export const ABS_ACCESS_TIER = 'Hot';
export const ABS_CONTENT_TYPE = 'application/octet-stream';
/**
 * A read that moves no byte for this long is given up and resumed. Long
 * enough for a slow link, short enough that a dead connection does not hold
 * a restore for long.
 */
export const DEFAULT_ABS_IDLE_TIMEOUT_MS = 120_000;
/** A read that breaks off is reopened at the byte it reached up to this many times in a row without progress. */
export const ABS_READ_RESUMES = 3;
/**
 * Files up to this size go up in one Put Blob; larger ones are staged as
 * blocks of this size and committed with one Put Block List, which is when
 * the blob appears, whole.
 */
export const DEFAULT_ABS_BLOCK_SIZE = 4 * 1024 * 1024;
/** Blocks staged at once for a large file: memory held is this times the block size. */
export const DEFAULT_ABS_UPLOAD_CONCURRENCY = 4;
/** Deletes in flight at once: Azure deletes one blob per request (batches need a permission SAS tokens may lack). */
export const DEFAULT_ABS_DELETE_CONCURRENCY = 16;
/** List Blobs returns at most this many names per page, whatever is asked for. */
export const ABS_MAX_LIST_PAGE_SIZE = 5000;

/** Knobs that are not part of a replica's configuration: timeouts, retries, sizes (tests shorten them). */
export interface AbsClientTuning {
  idleTimeoutMs?: number;
  retry?: AbsRetryOptions;
  /** Names asked for per List Blobs page, 1 to 5000; unset, the server's page size (5000 on Azure). */
  listPageSize?: number;
  blockSize?: number;
  uploadConcurrency?: number;
  deleteConcurrency?: number;
}

type StorageBlobModule = typeof import('@azure/storage-blob');

interface RangedBody {
  body: Readable;
  /** Blob offset of the body's first byte. */
  start: number;
  /** Blob offset the read stops at (exclusive). */
  end: number;
  /** The version read, so a resumed read does not splice two versions together. */
  etag: string | undefined;
}

/**
 * A replica in an Azure Blob Storage container, laid out exactly like
 * Litestream's Azure backend: `<path>/ltx/<level>/<min>-<max>.ltx` block
 * blobs with the LTX header timestamp in the `litestreamtimestamp` metadata.
 *
 * - The SDK (@azure/storage-blob, an optional peer package) loads in init().
 * - Listing pages through List Blobs with metadata included, so createdAt is
 *   always the stored timestamp (the blob's creation time when there is
 *   none) at no extra cost. Azure has no start-after, so seek filters names.
 * - Reading streams a ranged download and resumes where a broken, stalled or
 *   short response stopped, pinned to the blob's ETag.
 * - Writing puts small files in one request and stages large ones as blocks;
 *   either way the blob appears only once complete.
 * - Requests are retried on 408, 429, 5xx, timeouts and dropped connections
 *   (AbsRetry), never on other 4xx, which fail with one AbsStorageError
 *   naming the container, the endpoint and what to check.
 * - The container must exist: like Litestream, tidemark does not create it.
 */
export class AbsReplicaClient implements ReplicaClient {
  readonly type = ABS_REPLICA_TYPE;
  readonly settings: Readonly<AbsSettings>;
  /** `abs://account@container/path [at endpoint]`, as the replica is named in messages. */
  readonly name: string;
  readonly idleTimeoutMs: number;
  readonly listPageSize: number | undefined;
  readonly blockSize: number;
  readonly uploadConcurrency: number;
  readonly deleteConcurrency: number;
  readonly #retry: AbsRetry;
  readonly #fanout = new AbortFanout();
  /**
   * Uploads of the same blob from this client go one after another, in call
   * order, so the last call's data is what stays; two block lists committed
   * over each other's uncommitted blocks could otherwise fail both.
   */
  readonly #writes = new KeyedQueue();
  #container: ContainerClient | undefined;
  #ready: Promise<ContainerClient> | undefined;

  constructor(settings: AbsSettings, tuning: AbsClientTuning = {}) {
    this.settings = Object.freeze({ ...settings });
    this.name = describeAbsReplica(settings);
    this.idleTimeoutMs = positive(tuning.idleTimeoutMs ?? DEFAULT_ABS_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
    this.listPageSize = tuning.listPageSize === undefined ? undefined : pageSize(tuning.listPageSize);
    this.blockSize = positive(tuning.blockSize ?? DEFAULT_ABS_BLOCK_SIZE, 'blockSize');
    this.uploadConcurrency = positive(tuning.uploadConcurrency ?? DEFAULT_ABS_UPLOAD_CONCURRENCY, 'uploadConcurrency');
    this.deleteConcurrency = positive(tuning.deleteConcurrency ?? DEFAULT_ABS_DELETE_CONCURRENCY, 'deleteConcurrency');
    this.#retry = new AbsRetry(tuning.retry);
  }

  /**
   * Loads the SDK and checks that the container exists and the credential
   * may list it (one List Blobs of a single name), so a wrong container,
   * endpoint or key fails here rather than in the background later.
   * Idempotent; a failed init is retried by the next call.
   */
  async init(signal?: AbortSignal): Promise<void> {
    await this.#client(signal);
  }

  #client(signal?: AbortSignal): Promise<ContainerClient> {
    signal?.throwIfAborted();
    if (this.#container !== undefined) return Promise.resolve(this.#container);
    this.#ready ??= this.#connect(signal).then(
      (c) => {
        this.#container = c;
        return c;
      },
      (err: unknown) => {
        this.#ready = undefined;
        throw err;
      },
    );
    return this.#ready;
  }

  async #connect(signal: AbortSignal | undefined): Promise<ContainerClient> {
    const sdk: StorageBlobModule = await importBackendPackage('abs', '@azure/storage-blob', () => import('@azure/storage-blob'));
    const s = this.settings;
    const options: StoragePipelineOptions = {
      // Retries are AbsRetry's; see there why the SDK's are off.
      retryOptions: { maxTries: 1 },
      userAgentOptions: { userAgentPrefix: 'tidemark' },
      keepAliveOptions: { enable: true },
    };
    let service: InstanceType<StorageBlobModule['BlobServiceClient']>;
    if (s.credential.kind === 'sas') service = new sdk.BlobServiceClient(`${s.endpoint}?${s.credential.token}`, new sdk.AnonymousCredential(), options);
    else if (s.credential.kind === 'shared-key') {
      service = new sdk.BlobServiceClient(s.endpoint, new sdk.StorageSharedKeyCredential(s.credential.accountName, s.credential.accountKey), options);
    } else {
      const identity = await importBackendPackage('abs', '@azure/identity', () => import('@azure/identity'));
      service = new sdk.BlobServiceClient(s.endpoint, new identity.DefaultAzureCredential(), options);
    }
    const container = service.getContainerClient(s.container);
    await this.#listPage(container, absRootPrefix(s.path), undefined, 1, 'checking that the container can be listed', signal);
    return container;
  }

  /** Runs one request with retries and a child of the caller's signal; failures come out as AbsStorageError saying what was being done. */
  async #call<T>(doing: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
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
    return toAbsStorageError(err, { replica: this.name, container: this.settings.container, doing, credentialSource: this.settings.credentialSource });
  }

  /** One List Blobs page, with metadata. */
  #listPage(
    container: ContainerClient,
    prefix: string,
    marker: string | undefined,
    maxPageSize: number | undefined,
    doing: string,
    signal: AbortSignal | undefined,
  ): Promise<ContainerListBlobFlatSegmentResponse> {
    return this.#call(doing, signal, async (abortSignal) => {
      const pages = container
        .listBlobsFlat({ prefix, includeMetadata: true, abortSignal })
        .byPage({ ...(marker === undefined ? {} : { continuationToken: marker }), ...(maxPageSize === undefined ? {} : { maxPageSize }) });
      const r = await pages.next();
      if (r.done === true) throw new AbsStorageError(`${this.name}: ${doing}: the listing returned no page`);
      return r.value;
    });
  }

  /** Every blob under `prefix`, page by page. */
  async *#listAll(container: ContainerClient, prefix: string, doing: string, signal: AbortSignal | undefined): AsyncGenerator<BlobItem[]> {
    let marker: string | undefined;
    do {
      const page = await this.#listPage(container, prefix, marker, this.listPageSize, doing, signal);
      yield page.segment.blobItems;
      marker = page.continuationToken === undefined || page.continuationToken === '' ? undefined : page.continuationToken;
    } while (marker !== undefined);
  }

  /**
   * createdAt is the stored header timestamp whether or not useMetadata asks
   * for it: List Blobs returns metadata with the names, as Litestream relies on.
   * Names sort as (MinTXID, MaxTXID): fixed-width lower-case hex.
   */
  async *ltxFiles(level: number, seek = 0n, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    checkLevel(level);
    const { signal } = opts;
    const container = await this.#client(signal);
    const prefix = absLevelPrefix(this.settings.path, level);
    for await (const items of this.#listAll(container, prefix, `listing ${prefix}`, signal)) {
      for (const item of items) {
        const txids = parseAbsLtxBlobName(prefix, item.name);
        if (txids === null || txids.minTxid < seek) continue;
        yield { level, ...txids, size: item.properties.contentLength ?? 0, createdAt: createdAt(item) };
      }
    }
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    const { signal } = opts;
    const container = await this.#client(signal);
    const name = absLtxBlobName(this.settings.path, level, minTxid, maxTxid);
    const blob = container.getBlockBlobClient(name);
    const notFound = (cause: unknown): StorageError => new ReplicaFileNotFoundError(level, minTxid, maxTxid, `${this.name}, blob ${name}`, { cause });
    const first = await this.#download(blob, offset, size, undefined, notFound, signal);
    if (first === null) return emptyStream();
    // The response is open now; if nobody starts reading it, its connection is let go, and a later read reopens it.
    const unread = setTimeout(() => first.body.destroy(), this.idleTimeoutMs);
    unread.unref();
    return this.#read(blob, first, offset, unread, notFound, signal);
  }

  /** A ranged download of [offset, offset+size) (size 0: to the end); null when offset is at or past the end. */
  async #download(
    blob: BlockBlobClient,
    offset: number,
    size: number,
    etag: string | undefined,
    notFound: (cause: unknown) => StorageError,
    signal: AbortSignal | undefined,
  ): Promise<RangedBody | null> {
    let out;
    try {
      out = await this.#retry.run(signal, (abortSignal) =>
        blob.download(offset, size > 0 ? size : undefined, {
          abortSignal,
          // Resuming is done here, with an idle timeout and the ETag pinned; the SDK's own would do neither.
          maxRetryRequests: 0,
          ...(etag === undefined ? {} : { conditions: { ifMatch: etag } }),
        }),
      );
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      if (isAbsBlobNotFound(err)) throw notFound(err);
      const inner = err instanceof AbsAttemptsFailure ? err.error : err;
      // Azure answers a range starting at the end with 416; the file exists, there is just nothing to read.
      if (absErrorCode(inner) === 'InvalidRange' || absErrorStatus(inner) === 416) return null;
      if (absErrorStatus(inner) === 412) {
        throw new AbsStorageError(`${this.name}: reading ${blob.name}: the blob was replaced while being read`, { code: 'ConditionNotMet', cause: inner });
      }
      throw this.#error(err, `reading ${blob.name}`);
    }
    const body = out.readableStreamBody as Readable | undefined;
    if (body === undefined) throw new AbsStorageError(`${this.name}: reading ${blob.name}: the response has no body`);
    const length = out.contentLength ?? 0;
    // Azurite answers a range starting at the end with an empty 206 rather than 416.
    if (length === 0) {
      body.destroy();
      return null;
    }
    const cr = parseContentRange(out.contentRange);
    const start = cr?.start ?? 0;
    let end = start + length;
    if (size > 0) end = Math.min(end, offset + size);
    return { body, start, end, etag: out.etag };
  }

  async *#read(
    blob: BlockBlobClient,
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
    const { end, etag } = first;
    /** Blob offset of the next byte the caller gets. */
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
            const to = Math.min(chunk.length, end - chunkStart);
            if (to > from) {
              delivered = chunkStart + to;
              failures = 0;
              yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
            }
            if (delivered >= end) break;
          }
        } catch (err) {
          failure = err;
        }
        if (signal?.aborted === true) throw signal.reason;
        if (failure === undefined) {
          if (delivered >= end) return;
          failure = new Error(`the response ended at byte ${delivered}, before byte ${end}`);
        }
        if (++failures > ABS_READ_RESUMES) {
          const why = failure instanceof Error ? failure.message : String(failure);
          throw new AbsStorageError(`${this.name}: reading ${blob.name}: the download broke off at byte ${delivered} and ${ABS_READ_RESUMES} attempts to resume it failed (${why})`, { code: absErrorCode(failure), cause: failure });
        }
        cur.body.destroy();
        const next = await this.#download(blob, delivered, end - delivered, etag, notFound, signal);
        if (next === null) {
          throw new AbsStorageError(`${this.name}: reading ${blob.name}: the blob ends before byte ${delivered}; it changed while being read`);
        }
        cur = next;
      }
    } finally {
      cur.body.destroy();
      child.release();
    }
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const name = absLtxBlobName(this.settings.path, level, minTxid, maxTxid);
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
      const container = await this.#client(signal);
      const peeked = await peekLtxHeader(data, minTxid, maxTxid, `${this.name}, blob ${name}`);
      body = peeked.body;
      const blob = container.getBlockBlobClient(name);
      const common = {
        metadata: { [ABS_TIMESTAMP_METADATA_KEY]: formatRfc3339Nano(peeked.header.timestamp) },
        blobHTTPHeaders: { blobContentType: ABS_CONTENT_TYPE },
        tier: ABS_ACCESS_TIER,
      };
      const head = await readAtMost(body, this.blockSize, signal);
      let size: number;
      if (head.done) {
        const bytes = head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks);
        await this.#call(`writing ${name}`, signal, (abortSignal) => blob.upload(bytes, bytes.length, { ...common, abortSignal }));
        size = bytes.length;
      } else {
        const staged = await this.#putBlocks(blob, head.chunks, body, signal);
        await this.#call(`writing ${name}: committing its blocks`, signal, (abortSignal) => blob.commitBlockList(staged.ids, { ...common, abortSignal }));
        size = staged.size;
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
   * Stages the data as blocks of blockSize, uploadConcurrency at a time;
   * nothing is visible until the block list is committed, and uncommitted
   * blocks of an upload that fails are dropped by Azure.
   */
  async #putBlocks(
    blob: BlockBlobClient,
    head: Buffer[],
    rest: AsyncIterator<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<{ ids: string[]; size: number }> {
    // Every block ID of a blob must have the same length; a fresh prefix keeps this upload's blocks apart from any other's.
    const nonce = randomBytes(8).toString('hex');
    const ids: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let size = 0;
    const stage = (block: Buffer): void => {
      const id = Buffer.from(`${nonce}-${String(ids.length).padStart(6, '0')}`).toString('base64');
      ids.push(id);
      const p = this.#call(`writing ${blob.name}: staging block ${ids.length}`, signal, (abortSignal) =>
        blob.stageBlock(id, block, block.length, { abortSignal }),
      ).then(
        () => undefined,
        (err: unknown) => {
          failure ??= err;
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    try {
      for await (const block of blocks(head, rest, this.blockSize, signal)) {
        size += block.length;
        stage(block);
        while (inFlight.size >= this.uploadConcurrency && failure === undefined) await Promise.race(inFlight);
        if (failure !== undefined) throw failure;
      }
    } finally {
      await Promise.all(inFlight);
    }
    if (failure !== undefined) throw failure;
    return { ids, size };
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    for (const f of files) checkLtxFileKey(f.level, f.minTxid, f.maxTxid);
    const names = [...new Set(files.map((f) => absLtxBlobName(this.settings.path, f.level, f.minTxid, f.maxTxid)))];
    if (names.length === 0) return;
    const container = await this.#client(signal);
    await this.#deleteBlobs(container, names, signal);
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    const container = await this.#client(signal);
    const prefix = absRootPrefix(this.settings.path);
    for await (const items of this.#listAll(container, prefix, `listing ${prefix} to delete it`, signal)) {
      await this.#deleteBlobs(
        container,
        items.map((i) => i.name),
        signal,
      );
    }
  }

  /** Deletes blobs, deleteConcurrency at a time; one already gone is not an error. */
  async #deleteBlobs(container: ContainerClient, names: string[], signal: AbortSignal | undefined): Promise<void> {
    await mapConcurrent(names, this.deleteConcurrency, (name) =>
      this.#call(`deleting ${name}`, signal, (abortSignal) => container.getBlobClient(name).deleteIfExists({ abortSignal })),
    );
  }
}

function createdAt(item: BlobItem): Date {
  const meta = item.metadata ?? {};
  // Azure keeps metadata names as written, but they compare without regard to case.
  const stamp = meta[ABS_TIMESTAMP_METADATA_KEY] ?? Object.entries(meta).find(([k]) => k.toLowerCase() === ABS_TIMESTAMP_METADATA_KEY)?.[1];
  const ms = stamp === undefined ? null : parseRfc3339(stamp);
  return ms !== null ? new Date(ms) : (item.properties.createdOn ?? item.properties.lastModified);
}

function pageSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > ABS_MAX_LIST_PAGE_SIZE) throw new RangeError(`listPageSize must be an integer from 1 to ${ABS_MAX_LIST_PAGE_SIZE}, got ${n}`);
  return n;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number, got ${n}`);
  return n;
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}

/** The data cut into blocks of exactly `size` bytes (the last one shorter), each a buffer of its own. */
async function* blocks(head: Buffer[], rest: AsyncIterator<Uint8Array>, size: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let have = 0;
  const take = function* (chunk: Buffer): Generator<Buffer> {
    let c = chunk;
    while (have + c.length >= size) {
      const n = size - have;
      pending.push(c.subarray(0, n));
      yield Buffer.concat(pending);
      pending = [];
      have = 0;
      c = c.subarray(n);
    }
    if (c.length > 0) {
      pending.push(c);
      have += c.length;
    }
  };
  for (const c of head) yield* take(c);
  for (;;) {
    signal?.throwIfAborted();
    const r = await nextChunk(rest);
    if (r.done === true) break;
    // Copied: a source may reuse its buffer once asked for more.
    yield* take(Buffer.from(r.value));
  }
  if (have > 0) yield Buffer.concat(pending);
}
