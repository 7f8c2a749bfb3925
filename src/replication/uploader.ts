import { TidemarkError } from '../errors.js';
import type { ReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeFsError, isErrno } from '../io/durable-fs.js';
import { RetryReporter, silentLogger, type Logger } from '../logger.js';
import { formatTxid } from '../ltx/file-name.js';
import { isPermanentError } from '../storage/permanent-error.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { AsyncMutex } from './async-mutex.js';
import { Backoff } from './backoff.js';
import { LocalStateError, ReplicaConflictError, ReplicaWriteError } from './errors.js';
import type { LocalMeta } from './local-meta.js';
import { ReplicaPosition } from './replica-position.js';

// The listing helpers moved with the position they describe; imported from here before.
export { replicaMaxTxid } from './replica-position.js';

/** First retry delay after a failed upload. */
export const DEFAULT_UPLOAD_RETRY_BASE_MS = 1000;
/** Upper bound of the upload retry delay. */
export const DEFAULT_UPLOAD_RETRY_MAX_MS = 30_000;
/**
 * How often, at most, the replica's position is listed again before an
 * upload, so a replica emptied or written by someone else is noticed.
 * Listing happens only when there is something to upload: an idle database
 * makes no calls.
 */
export const DEFAULT_REPLICA_CHECK_INTERVAL_MS = 60_000;

export interface UploaderOptions {
  readonly client: ReplicaClient;
  readonly meta: LocalMeta;
  /** The newest local TXID, as the sync side knows it. */
  readonly localTxid: () => bigint;
  /** Where the replica stands; shared with whoever else needs to know (default: a position of its own). */
  readonly position?: ReplicaPosition;
  /** Called when a local L0 file needed for upload is gone: the sync side must re-baseline. */
  readonly onLocalFileMissing: (txid: bigint) => void;
  /**
   * With several replicas, a replica can need local L0 files the others no
   * longer do (it was added later, or it was down while they were pruned).
   * When set, a missing local file calls this (outside the upload lock)
   * instead of onLocalFileMissing: it brings the replica up to date another
   * way (a snapshot) and resolves the TXID the replica then holds, or
   * undefined when the local state itself is lost (onLocalFileMissing is then
   * called after all).
   */
  readonly onGap?: (txid: bigint) => Promise<bigint | undefined>;
  /** How this replica is named in logs and errors (default: the client's type). */
  readonly name?: string;
  /**
   * Called when a listing shows the replica behind what was uploaded to it
   * (files deleted behind this replicator's back); uploads go on, and the
   * caller heals the replica with a snapshot.
   */
  readonly onReplicaBehind?: (listed: bigint, uploaded: bigint) => void;
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
  /** Run after each upload pass that succeeded (local L0 pruning hooks in here); must not throw. */
  readonly afterPass?: () => Promise<void>;
}

interface Waiter {
  readonly txid: bigint;
  readonly failOnPermanentError: boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Raised inside an upload pass when a local file is missing and onGap is set; handled outside the lock. */
class UploadGap extends TidemarkError {
  constructor(readonly txid: bigint) {
    super(`local L0 file TXID ${formatTxid(txid)} is not there for this replica`);
  }
}

/**
 * Copies local L0 files to the replica in TXID order, one at a time, as
 * `writeLtxFile(0, t, t)`, from the replica's own position (listed on start).
 * The replica is listed again now and then before uploading; what it shows
 * is checked against what this uploader wrote: newer TXIDs than it ever
 * tried are another writer's, and uploads stop (ReplicaConflictError) rather
 * than interleave; fewer means files were deleted (onReplicaBehind).
 * Failures are retried with jittered exponential backoff and recorded in
 * `lastError`; they never escape the loop.
 */
export class Uploader {
  readonly #o: UploaderOptions;
  readonly #backoff: Backoff;
  readonly #checkIntervalMs: number;
  readonly #log: Logger;
  readonly #report: RetryReporter;
  /** Serialises upload passes with re-baselining on the sync side. */
  readonly lock = new AsyncMutex();
  readonly position: ReplicaPosition;
  #wake: (() => void) | undefined;
  #pending = false;
  #stopped = false;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #waiters: Waiter[] = [];
  #conflict: ReplicaConflictError | undefined;
  /** When set, failed passes are retried at this fixed interval instead of the backoff (a shutdown's final sync). */
  #retryEveryMs: number | undefined;
  /** Cuts short the backoff sleep in progress. */
  #backoffSleep: AbortController | undefined;
  /** Called with the outcome of the next pass that ends. */
  #passListeners: ((err: Error | undefined) => void)[] = [];
  lastError: Error | undefined;
  /** True when lastError is one that retrying cannot fix (read-only replica, access denied). */
  lastErrorPermanent = false;
  lastUploadAt: Date | undefined;
  /** When the current run of failed passes began (Date.now()); undefined while passes succeed. */
  failingSince: number | undefined;

  constructor(options: UploaderOptions) {
    this.#o = options;
    this.#backoff = new Backoff(options.retryBaseMs ?? DEFAULT_UPLOAD_RETRY_BASE_MS, options.retryMaxMs ?? DEFAULT_UPLOAD_RETRY_MAX_MS);
    this.#checkIntervalMs = options.replicaCheckIntervalMs ?? DEFAULT_REPLICA_CHECK_INTERVAL_MS;
    this.#log = options.logger ?? silentLogger;
    this.#report = new RetryReporter(this.#log, 'replica upload');
    this.position = options.position ?? new ReplicaPosition(options.client);
    this.position.onChange(() => this.#settle());
  }

  /** The replica's name in logs and errors. */
  get name(): string {
    return this.#o.name ?? this.#o.client.type;
  }

  /** The replica's TXID as last seen; 0 until first known. */
  get replicatedTxid(): bigint {
    return this.position.txid;
  }

  /** Set when another writer was found on the replica: uploads have stopped. */
  get conflict(): ReplicaConflictError | undefined {
    return this.#conflict;
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

  /**
   * Resolves once the replica holds `txid`; rejects when another writer was
   * found, or, with failOnPermanentError, when an upload failed for good.
   */
  waitFor(txid: bigint, options: { failOnPermanentError?: boolean } = {}): Promise<void> {
    if (this.replicatedTxid >= txid) return Promise.resolve();
    if (this.#conflict !== undefined) return Promise.reject(this.#conflict);
    const failOnPermanentError = options.failOnPermanentError ?? false;
    if (failOnPermanentError && this.lastErrorPermanent && this.lastError !== undefined) return Promise.reject(this.lastError);
    return new Promise((resolve, reject) => this.#waiters.push({ txid, failOnPermanentError, resolve, reject }));
  }

  /**
   * From now on a failed pass is retried every `ms` (the backoff in progress is
   * cut short): a shutdown retries at its own pace, as Litestream's
   * shutdown-sync-interval.
   */
  retryEvery(ms: number): void {
    this.#retryEveryMs = ms;
    this.#backoffSleep?.abort();
  }

  /** Resolves with the outcome of the next upload pass that ends: undefined when it succeeded, else its error. */
  nextPass(): Promise<Error | undefined> {
    return new Promise((resolve) => this.#passListeners.push(resolve));
  }

  #passEnded(err: Error | undefined): void {
    const listeners = this.#passListeners;
    this.#passListeners = [];
    for (const l of listeners) l(err);
  }

  /** One upload pass, run under the lock: brings the replica up to the local TXID. */
  async uploadPending(signal?: AbortSignal): Promise<void> {
    await this.lock.run(async () => {
      if (this.#conflict !== undefined) throw this.#conflict;
      const client = this.#o.client;
      if (this.position.checkDue(this.#checkIntervalMs)) await this.#checkReplica(signal);
      const target = this.#o.localTxid();
      for (let t = this.position.txid + 1n; t <= target; t++) {
        signal?.throwIfAborted();
        let stream: ReadStream;
        try {
          stream = await this.#o.meta.openStream(t);
        } catch (err) {
          if (isErrno(err, 'ENOENT')) {
            if (this.#o.onGap !== undefined) throw new UploadGap(t);
            this.#o.onLocalFileMissing(t);
            throw new LocalStateError(`local L0 file ${this.#o.meta.pathOf(t)} is gone before it reached the replica`, { cause: err });
          }
          throw err;
        }
        this.position.attempting(t);
        try {
          const info = await client.writeLtxFile(0, t, t, stream, signal);
          this.#o.onL0File?.(info);
        } catch (err) {
          if (signal?.aborted === true) throw err;
          this.position.uploadFailed();
          throw new ReplicaWriteError(`cannot upload L0 file TXID ${formatTxid(t)} to the ${this.name} replica: ${describeFsError(err)}`, {
            cause: err,
          });
        } finally {
          // A client that fails before reading must not leave the file handle open.
          stream.destroy();
        }
        this.lastUploadAt = new Date();
        this.position.uploaded(t);
        this.#log.debug('ltx file uploaded', { level: 0, txid: formatTxid(t) });
      }
    });
  }

  /** Lists where the replica stands and reacts to what the position makes of it. */
  async #checkReplica(signal?: AbortSignal): Promise<void> {
    const check = await this.position.check(this.#o.localTxid(), signal);
    if (check.newest !== undefined) this.#o.onL0File?.(check.newest);
    if (check.kind === 'ahead') {
      this.#conflict = new ReplicaConflictError(
        `the ${this.name} replica holds TXID ${formatTxid(check.listed)}, which this replicator never wrote (it wrote up to ${formatTxid(check.ours)}): ` +
          'another replicator is writing to the same replica; uploads stopped so the two histories do not mix',
      );
      this.#failWaiters(this.#conflict, true);
      throw this.#conflict;
    }
    if (check.kind === 'behind') {
      this.#log.error('the replica lost files this replicator uploaded; it is healed with a new snapshot', {
        replica: this.name,
        listed_txid: formatTxid(check.listed),
        uploaded_txid: formatTxid(check.uploaded),
      });
      this.#o.onReplicaBehind?.(check.listed, check.uploaded);
    }
  }

  /**
   * Brings the replica past a local file it needs and cannot have, through
   * onGap; true when it did (the next pass goes on from there), false when
   * the pass should fail and be retried as usual.
   */
  async #fillGap(txid: bigint): Promise<boolean> {
    let at: bigint | undefined;
    try {
      at = await this.#o.onGap!(txid);
    } catch (err) {
      this.lastError = err instanceof Error ? err : new Error(String(err));
      return false;
    }
    this.lastError = undefined;
    if (at === undefined) {
      this.#o.onLocalFileMissing(txid);
      return false;
    }
    this.#log.info('replica brought up to date with a snapshot', { replica: this.name, txid: formatTxid(at) });
    this.position.adopt(at);
    this.#pending = true;
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort(new Error('uploader stopped'));
    this.#wake?.();
    await this.#loop;
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
    this.#passEnded(new Error('uploader stopped'));
  }

  #settle(): void {
    const done = this.#waiters.filter((w) => w.txid <= this.replicatedTxid);
    if (done.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.txid > this.replicatedTxid);
    for (const w of done) w.resolve();
  }

  #failWaiters(err: Error, all: boolean): void {
    const failing = this.#waiters.filter((w) => all || w.failOnPermanentError);
    if (failing.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => !failing.includes(w));
    for (const w of failing) w.reject(err);
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
        this.lastErrorPermanent = false;
        this.failingSince = undefined;
        this.#report.succeeded();
        this.#passEnded(undefined);
        await this.#o.afterPass?.();
      } catch (caught) {
        if (this.#stopped) break;
        let err = caught;
        if (caught instanceof UploadGap) {
          if (await this.#fillGap(caught.txid)) continue;
          err = this.lastError ?? caught;
        }
        this.lastError = err instanceof Error ? err : new Error(String(err));
        this.failingSince ??= Date.now();
        if (this.#conflict !== undefined) {
          this.#passEnded(this.lastError);
          this.#report.failed(err, { replica: this.name });
          // Nothing more goes to this replica; the error stays in status until the operator acts.
          break;
        }
        this.lastErrorPermanent = isPermanentError(err);
        if (this.lastErrorPermanent) this.#failWaiters(this.lastError, false);
        this.#pending = true;
        this.#passEnded(this.lastError);
        const delay = this.#retryEveryMs ?? this.#backoff.next();
        this.#report.failed(err, { replica: this.name, retry_in_ms: delay });
        const pause = new AbortController();
        this.#backoffSleep = pause;
        await sleep(delay, undefined, { signal: AbortSignal.any([signal, pause.signal]) }).catch(() => undefined);
        this.#backoffSleep = undefined;
      }
    }
  }
}
