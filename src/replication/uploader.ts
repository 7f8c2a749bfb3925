import type { ReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeFsError, isErrno } from '../io/durable-fs.js';
import { RetryReporter, silentLogger, type Logger } from '../logger.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { AsyncMutex } from './async-mutex.js';
import { Backoff } from './backoff.js';
import { LocalStateError, ReplicaWriteError } from './errors.js';
import type { LocalMeta } from './local-meta.js';

/** First retry delay after a failed upload. */
export const DEFAULT_UPLOAD_RETRY_BASE_MS = 1000;
/** Upper bound of the upload retry delay. */
export const DEFAULT_UPLOAD_RETRY_MAX_MS = 30_000;
/**
 * How often, at most, the replica's position is listed again before an
 * upload, so a replica emptied behind our back is noticed. Listing happens
 * only when there is something to upload: an idle database makes no calls.
 */
export const DEFAULT_REPLICA_CHECK_INTERVAL_MS = 60_000;
/**
 * Local L0 files already on the replica are removed once this old, as
 * Litestream's L0 retention removes them (5 min): long enough for
 * compaction to read them locally, short enough that the meta directory does
 * not grow without bound when nothing else prunes it. 0 keeps them.
 */
export const DEFAULT_LOCAL_L0_RETENTION_MS = 5 * 60_000;
/** How often, at most, local L0 files are looked at for pruning. */
export const LOCAL_L0_PRUNE_INTERVAL_MS = 15_000;

export interface UploaderOptions {
  readonly client: ReplicaClient;
  readonly meta: LocalMeta;
  /** The newest local TXID, as the sync side knows it. */
  readonly localTxid: () => bigint;
  /** Called when a local L0 file needed for upload is gone: the sync side must re-baseline. */
  readonly onLocalFileMissing: (txid: bigint) => void;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly replicaCheckIntervalMs?: number;
  readonly logger?: Logger;
  /**
   * Told of the replica's newest L0 file whenever the uploader learns it (a
   * listing, an upload), so compaction can tell "nothing new" without asking
   * the replica.
   */
  readonly onL0File?: (info: LtxFileInfo) => void;
  readonly localL0RetentionMs?: number;
}

interface Waiter {
  readonly txid: bigint;
  readonly resolve: () => void;
}

/** Highest MaxTXID of the replica's L0 files; 0 when it has none. */
export async function replicaMaxTxid(client: ReplicaClient, signal?: AbortSignal): Promise<bigint> {
  return (await replicaNewestL0(client, signal))?.maxTxid ?? 0n;
}

/** The replica's L0 file with the highest MaxTXID; undefined when it has none. */
export async function replicaNewestL0(client: ReplicaClient, signal?: AbortSignal): Promise<LtxFileInfo | undefined> {
  let max: LtxFileInfo | undefined;
  for await (const f of client.ltxFiles(0, 0n, signal === undefined ? {} : { signal })) if (max === undefined || f.maxTxid > max.maxTxid) max = f;
  return max;
}

/**
 * Copies local L0 files to the replica in TXID order, one at a time, as
 * `writeLtxFile(0, t, t)`. Its position is the replica's own (listed on
 * start and after any failure), so a restart or a lost replica picks up where
 * the replica actually is. Failures are retried with jittered exponential
 * backoff and recorded in `lastError`; they never escape the loop.
 */
export class Uploader {
  readonly #o: UploaderOptions;
  readonly #backoff: Backoff;
  readonly #checkIntervalMs: number;
  readonly #log: Logger;
  readonly #report: RetryReporter;
  /** Serialises upload passes with re-baselining on the sync side. */
  readonly lock = new AsyncMutex();
  #replicaTxid: bigint | undefined;
  #checkedAt = -Infinity;
  #wake: (() => void) | undefined;
  #pending = false;
  #stopped = false;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #waiters: Waiter[] = [];
  lastError: Error | undefined;
  lastUploadAt: Date | undefined;
  #prunedAt = -Infinity;

  constructor(options: UploaderOptions) {
    this.#o = options;
    this.#backoff = new Backoff(options.retryBaseMs ?? DEFAULT_UPLOAD_RETRY_BASE_MS, options.retryMaxMs ?? DEFAULT_UPLOAD_RETRY_MAX_MS);
    this.#checkIntervalMs = options.replicaCheckIntervalMs ?? DEFAULT_REPLICA_CHECK_INTERVAL_MS;
    this.#log = options.logger ?? silentLogger;
    this.#report = new RetryReporter(this.#log, 'replica upload');
  }

  /** The replica's TXID as last seen; 0 until first known. */
  get replicatedTxid(): bigint {
    return this.#replicaTxid ?? 0n;
  }

  start(): void {
    if (this.#loop !== undefined || this.#stopped) return;
    this.#loop = this.#run();
  }

  /** Asks for an upload pass soon (after any backoff in progress). */
  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Forgets the replica position, so the next pass lists the replica again. */
  invalidate(): void {
    this.#replicaTxid = undefined;
  }

  /** Resolves once the replica holds `txid` (or the uploader stops). */
  waitFor(txid: bigint): Promise<void> {
    if (this.replicatedTxid >= txid) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ txid, resolve }));
  }

  /** One upload pass, run under the lock: brings the replica up to the local TXID. */
  async uploadPending(signal?: AbortSignal): Promise<void> {
    await this.lock.run(async () => {
      const client = this.#o.client;
      if (this.#replicaTxid === undefined || Date.now() - this.#checkedAt >= this.#checkIntervalMs) {
        const newest = await replicaNewestL0(client, signal);
        this.#replicaTxid = newest?.maxTxid ?? 0n;
        if (newest !== undefined) this.#o.onL0File?.(newest);
        this.#checkedAt = Date.now();
        this.#settle();
      }
      const target = this.#o.localTxid();
      for (let t = this.#replicaTxid + 1n; t <= target; t++) {
        signal?.throwIfAborted();
        let stream: ReadStream;
        try {
          stream = await this.#o.meta.openStream(t);
        } catch (err) {
          if (isErrno(err, 'ENOENT')) {
            this.#o.onLocalFileMissing(t);
            throw new LocalStateError(`local L0 file ${this.#o.meta.pathOf(t)} is gone before it reached the replica`, { cause: err });
          }
          throw err;
        }
        try {
          const info = await client.writeLtxFile(0, t, t, stream, signal);
          this.#o.onL0File?.(info);
        } catch (err) {
          if (signal?.aborted === true) throw err;
          throw new ReplicaWriteError(`cannot upload L0 file TXID ${t.toString(16).padStart(16, '0')} to the ${client.type} replica: ${describeFsError(err)}`, {
            cause: err,
          });
        } finally {
          // A client that fails before reading must not leave the file handle open.
          stream.destroy();
        }
        this.#replicaTxid = t;
        this.lastUploadAt = new Date();
        this.#log.debug('ltx file uploaded', { level: 0, txid: t.toString(16).padStart(16, '0') });
        this.#settle();
      }
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort(new Error('uploader stopped'));
    this.#wake?.();
    await this.#loop;
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }

  /** Removes uploaded local L0 files past the local retention; failures only delay it. */
  async #pruneLocal(): Promise<void> {
    const retention = this.#o.localL0RetentionMs ?? DEFAULT_LOCAL_L0_RETENTION_MS;
    const now = Date.now();
    if (retention <= 0 || now - this.#prunedAt < Math.min(LOCAL_L0_PRUNE_INTERVAL_MS, retention) || this.#replicaTxid === undefined) return;
    this.#prunedAt = now;
    try {
      // Under the lock: a re-baseline on the sync side must not race with deletions.
      await this.lock.run(() => this.#o.meta.removeBelow(this.#replicaTxid ?? 0n, now - retention));
    } catch (err) {
      this.#log.warn('pruning local L0 files failed', { error: (err as Error).message });
    }
  }

  #settle(): void {
    const done = this.#waiters.filter((w) => w.txid <= this.replicatedTxid);
    if (done.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.txid > this.replicatedTxid);
    for (const w of done) w.resolve();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!this.#stopped) {
      if (!this.#pending) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      this.#pending = false;
      try {
        await this.uploadPending(signal);
        this.#backoff.reset();
        this.lastError = undefined;
        this.#report.succeeded();
        await this.#pruneLocal();
      } catch (err) {
        if (this.#stopped) break;
        this.lastError = err instanceof Error ? err : new Error(String(err));
        this.#replicaTxid = undefined;
        this.#pending = true;
        const delay = this.#backoff.next();
        this.#report.failed(err, { replica: this.#o.client.type, retry_in_ms: delay });
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }
}
