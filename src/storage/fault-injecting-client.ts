import { seededRandom } from '../seeded-random.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatFilename } from '../ltx/file-name.js';
import { StorageError } from './errors.js';
import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from './replica-client.js';
import { isRawObjectReader, type RawObjectReader } from './raw-object-reader.js';

/**
 * The ReplicaClient calls a fault can be aimed at; each call counts as one
 * request. The v0.3 listings count as 'list' and the v0.3 reads as 'open'.
 */
export type ReplicaOp = 'init' | 'list' | 'open' | 'write' | 'delete' | 'deleteAll';

export const REPLICA_OPS: readonly ReplicaOp[] = ['init', 'list', 'open', 'write', 'delete', 'deleteAll'];

/** The calls random faults hit unless told otherwise: the ones a replication loop retries. */
export const DEFAULT_RANDOM_FAULT_OPS: readonly ReplicaOp[] = ['write', 'open', 'list', 'delete'];

export interface FaultOptions {
  /** Seed of the generator behind `errorRate`: the same seed fails the same calls. */
  seed?: number;
  /** Chance, from 0 to 1, that a call to one of `ops` fails. */
  errorRate?: number;
  ops?: readonly ReplicaOp[];
  /** Wait this long before every call, as a slow network would. */
  delayMs?: number;
  /** Listings leave out files written through this client less than this long ago (eventual consistency). */
  listLagMs?: number;
  /** Every read stream fails with a connection reset once it has delivered this many bytes. */
  truncateReadsAfter?: number;
  /** Clock for `listLagMs`, in milliseconds. */
  now?: () => number;
}

/** A failure put there by FaultInjectingClient. `code` mimics a transient network error. */
export class InjectedFaultError extends StorageError {
  override name = 'InjectedFaultError';
  readonly op: ReplicaOp;
  readonly code: string;

  constructor(op: ReplicaOp, message = `injected ${op} failure`, code = 'ECONNRESET') {
    super(message);
    this.op = op;
    this.code = code;
  }
}

/**
 * Wraps a real ReplicaClient and makes some of its calls fail, stall, lag or
 * break off, so tests exercise retry and recovery paths against real storage.
 * Every call is counted per operation.
 *
 * When the wrapped client offers raw object reads (what Litestream v0.3
 * backups are read over), so does the wrapper, with the same faults;
 * otherwise it has no such methods at all, as the wrapped client has none.
 */
export class FaultInjectingClient implements ReplicaClient, Partial<RawObjectReader> {
  readonly type: string;
  readonly listRawDirs?: RawObjectReader['listRawDirs'];
  readonly listRawObjects?: RawObjectReader['listRawObjects'];
  readonly openRawObject?: RawObjectReader['openRawObject'];
  private readonly counts = zeroCounts();
  private readonly queued: { op: ReplicaOp; error: Error; remaining: number }[] = [];
  private readonly writtenAt = new Map<string, number>();
  private readonly random: () => number;
  private readonly now: () => number;
  private errorRate: number;
  private randomOps: readonly ReplicaOp[];
  private delayMs: number;
  private listLagMs: number;
  private truncateAfter: number | undefined;
  private injected = 0;

  constructor(
    readonly inner: ReplicaClient,
    opts: FaultOptions = {},
  ) {
    this.type = inner.type;
    this.random = seededRandom(opts.seed ?? 1);
    this.now = opts.now ?? Date.now;
    this.errorRate = opts.errorRate ?? 0;
    this.randomOps = opts.ops ?? DEFAULT_RANDOM_FAULT_OPS;
    this.delayMs = opts.delayMs ?? 0;
    this.listLagMs = opts.listLagMs ?? 0;
    this.truncateAfter = opts.truncateReadsAfter;
    if (isRawObjectReader(inner)) {
      this.listRawDirs = async (dir, signal) => {
        await this.enter('list', signal);
        return inner.listRawDirs(dir, signal);
      };
      this.listRawObjects = async (dir, signal) => {
        await this.enter('list', signal);
        return inner.listRawObjects(dir, signal);
      };
      this.openRawObject = async (key, opts = {}) => {
        await this.enter('open', opts.signal);
        return this.maybeTruncated(await inner.openRawObject(key, opts));
      };
    }
  }

  /** The next `count` calls of `op` fail with `error` before reaching the real client. */
  failNext(op: ReplicaOp, options: { error?: Error; count?: number } = {}): this {
    const { error = new InjectedFaultError(op), count = 1 } = options;
    if (count > 0) this.queued.push({ op, error, remaining: count });
    return this;
  }

  /** Calls to `ops` fail at random with this probability; 0 turns it off. */
  setErrorRate(rate: number, ops: readonly ReplicaOp[] = this.randomOps): this {
    this.errorRate = rate;
    this.randomOps = ops;
    return this;
  }

  /** Read streams break off after this many bytes; no argument turns it off. */
  truncateReadsAfter(bytes?: number): this {
    this.truncateAfter = bytes;
    return this;
  }

  setDelay(ms: number): this {
    this.delayMs = ms;
    return this;
  }

  setListLag(ms: number): this {
    this.listLagMs = ms;
    return this;
  }

  /** Calls made per operation since construction or the last reset. */
  get calls(): Readonly<Record<ReplicaOp, number>> {
    return { ...this.counts };
  }

  get totalCalls(): number {
    return REPLICA_OPS.reduce((n, op) => n + this.counts[op], 0);
  }

  /** How many faults (failed calls and broken reads) have been injected. */
  get injectedFaults(): number {
    return this.injected;
  }

  resetCalls(): void {
    Object.assign(this.counts, zeroCounts());
  }

  /** Counts the call, waits out the delay, then throws if a fault is due. */
  private async enter(op: ReplicaOp, signal: AbortSignal | undefined): Promise<void> {
    this.counts[op]++;
    if (this.delayMs > 0) await sleep(this.delayMs, undefined, signal === undefined ? {} : { signal });
    const i = this.queued.findIndex((q) => q.op === op);
    const q = this.queued[i];
    if (q !== undefined) {
      if (--q.remaining <= 0) this.queued.splice(i, 1);
      this.injected++;
      throw q.error;
    }
    if (this.errorRate > 0 && this.randomOps.includes(op) && this.random() < this.errorRate) {
      this.injected++;
      throw new InjectedFaultError(op);
    }
  }

  async init(signal?: AbortSignal): Promise<void> {
    await this.enter('init', signal);
    return this.inner.init(signal);
  }

  async *ltxFiles(level: number, seek?: bigint, opts: ListOptions = {}): AsyncGenerator<LtxFileInfo> {
    await this.enter('list', opts.signal);
    const cutoff = this.now() - this.listLagMs;
    for await (const f of this.inner.ltxFiles(level, seek, opts)) {
      const at = this.writtenAt.get(fileKey(f.level, f.minTxid, f.maxTxid));
      if (this.listLagMs > 0 && at !== undefined && at > cutoff) continue;
      yield f;
    }
  }

  async openLtxFile(
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    opts: OpenOptions = {},
  ): Promise<AsyncIterable<Uint8Array>> {
    await this.enter('open', opts.signal);
    return this.maybeTruncated(await this.inner.openLtxFile(level, minTxid, maxTxid, opts));
  }

  private maybeTruncated(stream: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    return this.truncateAfter === undefined ? stream : this.truncated(stream, this.truncateAfter);
  }

  private async *truncated(stream: AsyncIterable<Uint8Array>, limit: number): AsyncGenerator<Uint8Array> {
    let sent = 0;
    for await (const chunk of stream) {
      if (sent + chunk.length > limit) {
        if (limit > sent) yield chunk.subarray(0, limit - sent);
        this.injected++;
        throw new InjectedFaultError('open', `connection reset after ${limit} bytes (injected)`);
      }
      sent += chunk.length;
      yield chunk;
    }
  }

  async writeLtxFile(
    level: number,
    minTxid: bigint,
    maxTxid: bigint,
    data: AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<LtxFileInfo> {
    await this.enter('write', signal);
    const info = await this.inner.writeLtxFile(level, minTxid, maxTxid, data, signal);
    if (this.listLagMs > 0) this.rememberWrite(fileKey(level, minTxid, maxTxid));
    return info;
  }

  private rememberWrite(key: string): void {
    const now = this.now();
    // Only writes still inside the lag window matter; older ones are dropped so the map stays small.
    for (const [k, at] of this.writtenAt) if (at <= now - this.listLagMs) this.writtenAt.delete(k);
    this.writtenAt.set(key, now);
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    await this.enter('delete', signal);
    return this.inner.deleteLtxFiles(files, signal);
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    await this.enter('deleteAll', signal);
    return this.inner.deleteAll(signal);
  }
}

function zeroCounts(): Record<ReplicaOp, number> {
  return { init: 0, list: 0, open: 0, write: 0, delete: 0, deleteAll: 0 };
}

function fileKey(level: number, minTxid: bigint, maxTxid: bigint): string {
  return `${level}/${formatFilename(minTxid, maxTxid)}`;
}

