import type { MsgHdrs } from '@nats-io/transport-node';
import type { ObjectInfo, ObjectStore } from '@nats-io/obj';
import { asStorageError, ReplicaFileNotFoundError, StorageError } from '../errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { checkByteRange, checkLevel, checkLtxFileKey } from '../ltx-file-key.js';
import { peekLtxHeader, type PeekedLtxStream } from '../ltx-header-peek.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from '../replica-client.js';
import { nextChunk, readAtMost, SourceFailure } from '../upload-source.js';
import { mapConcurrent } from '../s3/map-concurrent.js';
import { formatRfc3339Nano, parseRfc3339 } from '../s3/s3-timestamp.js';
import { NatsConnectionHolder } from './nats-connection.js';
import { isRetryableNatsError, NatsIdleTimeoutError, NatsStorageError, toNatsStorageError } from './nats-errors.js';
import { natsLevelPrefix, natsObjectName, parseNatsObjectName } from './nats-key-layout.js';
import { NatsAttemptsFailure, NatsRetry, type NatsRetryOptions } from './nats-retry.js';
import { describeNatsReplica, type NatsSettings } from './nats-settings.js';

export const NATS_REPLICA_TYPE = 'nats';
/** Object header under which Litestream keeps the LTX header timestamp (Go's RFC 3339 with nanoseconds, UTC). */
export const NATS_TIMESTAMP_HEADER = 'Litestream-Timestamp';
/**
 * A read that moves no byte for this long is given up and resumed. Long
 * enough for a slow link, short enough that a dead connection does not hold
 * a restore for long.
 */
export const DEFAULT_NATS_IDLE_TIMEOUT_MS = 60_000;
/** A read that breaks off is reopened at the byte it reached up to this many times in a row without progress. */
export const NATS_READ_RESUMES = 3;
/**
 * Files up to this size are held in memory while they go up, so an upload
 * cut off midway is sent again whole; larger ones stream once, and a failure
 * is left to the replication loop, which uploads the file again.
 */
export const DEFAULT_NATS_RETRY_BUFFER_BYTES = 8 * 1024 * 1024;
/** Deletes in flight at once: the object store deletes one object per request. */
export const DEFAULT_NATS_DELETE_CONCURRENCY = 8;

/** Knobs that are not part of a replica's configuration: timeouts, retries, sizes (tests shorten them). */
export interface NatsClientTuning {
  idleTimeoutMs?: number;
  idleCloseMs?: number;
  retry?: NatsRetryOptions;
  retryBufferBytes?: number;
  deleteConcurrency?: number;
}

/**
 * A replica in a NATS JetStream object store bucket, laid out exactly like
 * Litestream's NATS backend: objects `ltx/<level>/<min>-<max>.ltx` at the
 * bucket's root with the LTX header timestamp in a `Litestream-Timestamp`
 * header.
 *
 * - The client packages (@nats-io/transport-node, @nats-io/obj, optional
 *   peers) load on first use; the connection is opened on demand and closed
 *   after an idle spell (NatsConnectionHolder).
 * - Listing reads the bucket's whole object list, as the object store keeps
 *   it (one message per object, delivered in a single stream; there are no
 *   pages to ask for), and filters it by level and seek.
 * - The object store has no byte ranges: a read streams the object's
 *   chunks, skips to the offset and stops at the end asked for. A read that
 *   breaks off or stalls is opened again and skips what was already handed
 *   out, pinned to the object version (its nuid) first read.
 * - An object appears only once all its chunks are stored (the client
 *   publishes the object's metadata last, and purges the chunks of an upload
 *   that fails).
 * - The bucket must exist: like Litestream, tidemark does not create it.
 */
export class NatsReplicaClient implements ReplicaClient {
  readonly type = NATS_REPLICA_TYPE;
  readonly settings: Readonly<NatsSettings>;
  /** `nats://host:port/bucket`, as the replica is named in messages. */
  readonly name: string;
  readonly idleTimeoutMs: number;
  readonly retryBufferBytes: number;
  readonly deleteConcurrency: number;
  readonly connection: NatsConnectionHolder;
  readonly #retry: NatsRetry;
  /**
   * Uploads of the same object from this client go one after another, in
   * call order: each upload purges the chunks of the version it replaces, and
   * two at once would each miss the other's.
   */
  readonly #writes = new KeyedQueue();

  constructor(settings: NatsSettings, tuning: NatsClientTuning = {}) {
    this.settings = Object.freeze({ ...settings });
    this.name = describeNatsReplica(settings);
    this.idleTimeoutMs = positive(tuning.idleTimeoutMs ?? DEFAULT_NATS_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
    this.retryBufferBytes = positive(tuning.retryBufferBytes ?? DEFAULT_NATS_RETRY_BUFFER_BYTES, 'retryBufferBytes');
    this.deleteConcurrency = positive(tuning.deleteConcurrency ?? DEFAULT_NATS_DELETE_CONCURRENCY, 'deleteConcurrency');
    this.connection = new NatsConnectionHolder(this.settings, tuning.idleCloseMs);
    this.#retry = new NatsRetry(tuning.retry);
  }

  /**
   * Connects and opens the bucket, so a wrong host, credential or bucket
   * fails here rather than in the background later. Idempotent.
   */
  async init(signal?: AbortSignal): Promise<void> {
    await this.#call('connecting', signal, async () => undefined);
  }

  /** Closes the connection now; a later call opens a new one. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  /**
   * Runs `fn` on the object store with retries, holding a lease on the
   * connection. A try that fails in a way another try may cure drops the
   * connection first, so a stalled or half-dead one is not used again.
   */
  async #call<T>(doing: string, signal: AbortSignal | undefined, fn: (store: ObjectStore) => Promise<T>, retry = true): Promise<T> {
    const release = this.connection.lease();
    try {
      const attempt = async (): Promise<T> => {
        try {
          return await fn(await this.connection.store());
        } catch (err) {
          if (!(err instanceof SourceFailure) && isRetryableNatsError(err)) this.connection.reset();
          throw err;
        }
      };
      return retry ? await this.#retry.run(signal, attempt) : await attempt();
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      const inner = err instanceof NatsAttemptsFailure ? err.error : err;
      if (inner instanceof SourceFailure) throw inner;
      if (inner instanceof StorageError) throw inner;
      throw toNatsStorageError(inner, {
        replica: this.name,
        bucket: this.settings.bucket,
        doing,
        authSource: this.settings.authSource,
        attempts: err instanceof NatsAttemptsFailure ? err.attempts : 1,
        tls: this.settings.tls !== undefined,
      });
    } finally {
      release();
    }
  }

  /**
   * createdAt is the stored header timestamp whether or not useMetadata asks
   * for it (the object list carries the headers), else the object's mtime.
   */
  async *ltxFiles(level: number, seek = 0n, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    checkLevel(level);
    const prefix = natsLevelPrefix(level);
    const objects = await this.#call(`listing ${prefix}`, opts.signal, (s) => s.list());
    const files: LtxFileInfo[] = [];
    for (const o of objects) {
      if (o.deleted) continue;
      const txids = parseNatsObjectName(prefix, o.name);
      if (txids === null || txids.minTxid < seek) continue;
      files.push({ level, ...txids, size: o.size, createdAt: createdAt(o) });
    }
    files.sort((a, b) => (a.minTxid !== b.minTxid ? (a.minTxid < b.minTxid ? -1 : 1) : a.maxTxid < b.maxTxid ? -1 : a.maxTxid > b.maxTxid ? 1 : 0));
    yield* files;
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts: OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const offset = opts.offset ?? 0;
    const size = opts.size ?? 0;
    checkByteRange(offset, size);
    const { signal } = opts;
    const name = natsObjectName(level, minTxid, maxTxid);
    const notFound = (cause?: unknown): StorageError => new ReplicaFileNotFoundError(level, minTxid, maxTxid, `${this.name}, object ${name}`, { cause });
    const info = await this.#call(`reading ${name}`, signal, (s) => s.info(name));
    if (info === null || info.deleted) throw notFound();
    const end = size > 0 ? Math.min(info.size, offset + size) : info.size;
    if (offset >= end) return emptyStream();
    // The chunks are fetched once reading starts, so a stream nobody reads holds nothing open.
    return this.#read(name, info.nuid, offset, end, signal);
  }

  async *#read(name: string, nuid: string, offset: number, end: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    const release = this.connection.lease();
    /** Object offset of the next byte the caller gets. */
    let delivered = offset;
    let failures = 0;
    try {
      for (;;) {
        let failure: unknown;
        let pos = 0;
        const result = await this.#call(`reading ${name}`, signal, (s) => s.get(name));
        if (result === null || result.info.deleted) {
          throw new NatsStorageError(`${this.name}: reading ${name}: the object was deleted while being read`);
        }
        // The client also reports a failed read here; the stream below reports it too, and that is where it is handled.
        result.error.catch(() => undefined);
        const reader = result.data.getReader();
        try {
          if (result.info.nuid !== nuid) {
            throw new NatsStorageError(`${this.name}: reading ${name}: the object was replaced while being read`);
          }
          for (;;) {
            const r = await readWithin(reader, this.idleTimeoutMs, signal);
            if (r.done === true) break;
            const chunk = r.value;
            const chunkStart = pos;
            pos += chunk.length;
            const from = Math.max(0, delivered - chunkStart);
            const to = Math.min(chunk.length, end - chunkStart);
            if (to > from) {
              delivered = chunkStart + to;
              failures = 0;
              // A copy: the caller keeps chunks, and the client's buffers are not ours to hand out.
              yield chunk.slice(from, to);
            }
            if (delivered >= end) return;
          }
        } catch (err) {
          if (err instanceof StorageError) throw err;
          failure = err;
        } finally {
          reader.cancel().catch(() => undefined);
        }
        if (signal?.aborted === true) throw signal.reason;
        if (delivered >= end) return;
        failure ??= new Error(`the object ended at byte ${pos}, before byte ${end}`);
        if (++failures > NATS_READ_RESUMES) {
          const why = failure instanceof Error ? failure.message : String(failure);
          throw new NatsStorageError(`${this.name}: reading ${name}: the read broke off at byte ${delivered} and ${NATS_READ_RESUMES} attempts to resume it failed (${why})`, { code: failure instanceof Error ? failure.name : undefined, cause: failure });
        }
        // A stalled read may mean a stalled connection: the next try starts on a fresh one.
        if (failure instanceof NatsIdleTimeoutError || isRetryableNatsError(failure)) this.connection.reset();
      }
    } finally {
      release();
    }
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    checkLtxFileKey(level, minTxid, maxTxid);
    const name = natsObjectName(level, minTxid, maxTxid);
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
    const release = this.connection.lease();
    try {
      signal?.throwIfAborted();
      const peeked = await peekLtxHeader(data, minTxid, maxTxid, `${this.name}, object ${name}`);
      body = peeked.body;
      const transport = await this.connection.transport();
      const meta = (): { name: string; headers: MsgHdrs } => {
        const headers = transport.headers();
        headers.set(NATS_TIMESTAMP_HEADER, formatRfc3339Nano(peeked.header.timestamp));
        return { name, headers };
      };
      const head = await readAtMost(body, this.retryBufferBytes, signal);
      let info: ObjectInfo;
      if (head.done) {
        const bytes = head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks);
        info = await this.#call(`writing ${name}`, signal, (s) => s.put(meta(), uploadStream([bytes], undefined, signal)));
      } else {
        const rest = body;
        info = await this.#call(`writing ${name}`, signal, (s) => s.put(meta(), uploadStream(head.chunks, rest, signal)), false);
      }
      return { level, minTxid, maxTxid, size: info.size, createdAt: new Date(peeked.header.timestamp) };
    } catch (err) {
      await body?.return().catch(() => undefined);
      if (signal?.aborted === true) throw signal.reason;
      if (err instanceof SourceFailure) throw asStorageError(err.error, `${this.name}: writing ${name}: reading the data to upload`);
      if (err instanceof StorageError) throw err;
      throw asStorageError(err, `${this.name}: writing ${name}`);
    } finally {
      release();
    }
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    for (const f of files) checkLtxFileKey(f.level, f.minTxid, f.maxTxid);
    const names = [...new Set(files.map((f) => natsObjectName(f.level, f.minTxid, f.maxTxid)))];
    await this.#delete(names, signal);
  }

  /** Deletes every object in the bucket, as Litestream does: the bucket is the replica. */
  async deleteAll(signal?: AbortSignal): Promise<void> {
    const objects = await this.#call('listing the bucket to empty it', signal, (s) => s.list());
    await this.#delete(
      objects.filter((o) => !o.deleted).map((o) => o.name),
      signal,
    );
  }

  /** Deletes objects, deleteConcurrency at a time; one already gone is not an error. */
  async #delete(names: string[], signal: AbortSignal | undefined): Promise<void> {
    if (names.length === 0) return;
    await mapConcurrent(names, this.deleteConcurrency, (name) =>
      this.#call(`deleting ${name}`, signal, async (s) => {
        // Deleting a missing object would still write a deletion marker; looking first keeps a repeat delete free of writes.
        const info = await s.info(name);
        if (info !== null && !info.deleted) await s.delete(name);
      }),
    );
  }
}

/** The LTX timestamp from the object's header, else its modification time. */
function createdAt(o: ObjectInfo): Date {
  const stamp = headerValue(o.headers, NATS_TIMESTAMP_HEADER);
  const ms = stamp === undefined ? null : parseRfc3339(stamp);
  return new Date(ms ?? Date.parse(o.mtime));
}

/**
 * One header of an object. Listed objects carry their headers as the plain
 * record stored in the bucket (name to values), looked-up ones as MsgHdrs;
 * names compare without regard to case, as MIME headers do.
 */
function headerValue(h: unknown, key: string): string | undefined {
  if (h === null || typeof h !== 'object') return undefined;
  const want = key.toLowerCase();
  if (typeof (h as MsgHdrs).get === 'function' && typeof (h as MsgHdrs).keys === 'function') {
    const m = h as MsgHdrs;
    const k = m.keys().find((x) => x.toLowerCase() === want);
    return k === undefined ? undefined : m.get(k);
  }
  const entry = Object.entries(h as Record<string, unknown>).find(([k]) => k.toLowerCase() === want);
  const v = entry?.[1];
  const first: unknown = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : undefined;
}

/**
 * The upload's data as the object store client reads it. A failure of the
 * data ends the stream with SourceFailure and an abort with the signal's
 * reason; either way the client purges the chunks it stored.
 */
function uploadStream(head: Uint8Array[], rest: AsyncIterator<Uint8Array> | undefined, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      signal?.throwIfAborted();
      if (i < head.length) {
        c.enqueue(head[i++]!);
        return;
      }
      if (rest === undefined) {
        c.close();
        return;
      }
      const r = await nextChunk(rest);
      signal?.throwIfAborted();
      // Copied: a source may reuse its buffer once asked for more.
      if (r.done === true) c.close();
      else c.enqueue(Buffer.from(r.value));
    },
  });
}

/** The next chunk of a read, or NatsIdleTimeoutError when none comes in time. */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  idleMs: number,
  signal: AbortSignal | undefined,
): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>> {
  signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NatsIdleTimeoutError(idleMs)), idleMs);
        if (signal !== undefined) {
          onAbort = () => reject(signal.reason);
          signal.addEventListener('abort', onAbort, { once: true });
        }
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number, got ${n}`);
  return n;
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}
