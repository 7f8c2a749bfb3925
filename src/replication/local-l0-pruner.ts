import { silentLogger, type Logger } from '../logger.js';
import { AsyncMutex } from './async-mutex.js';
import type { LocalMeta } from './local-meta.js';
import type { ReplicaPosition } from './replica-position.js';

/**
 * Local L0 files already on every replica are removed once this old, as
 * Litestream's L0 retention removes them (5 min): long enough for
 * compaction to read them locally, short enough that the meta directory does
 * not grow without bound when nothing else prunes it. 0 keeps them.
 */
export const DEFAULT_LOCAL_L0_RETENTION_MS = 5 * 60_000;
/** How often, at most, local L0 files are looked at for pruning. */
export const LOCAL_L0_PRUNE_INTERVAL_MS = 15_000;

/** One replica as pruning sees it: where it stands, and since when it has been failing. */
export interface PrunedReplica {
  readonly position: ReplicaPosition;
  /** When its current run of failures began (Date.now()); undefined while it is healthy. */
  readonly failingSince: number | undefined;
}

/** An L0 file named by its TXID range, as L0 retention lists it. */
export interface L0FileRange {
  readonly minTxid: bigint;
  readonly maxTxid: bigint;
}

export interface LocalL0PrunerOptions {
  readonly meta: LocalMeta;
  /** The TXID of the model last saved: local files above it bring that model forward after a restart. */
  readonly modelTxid: () => bigint;
  readonly replicas: () => readonly PrunedReplica[];
  /** With several replicas, one failing for longer than this no longer holds local files back (it gets a snapshot). */
  readonly laggingReplicaKeepMs: number;
  /** Files every replica holds are removed once this old (by mtime); 0 or less keeps them. */
  readonly retentionMs?: number;
  readonly logger?: Logger;
}

/**
 * The one owner of deletions in the meta directory's `ltx/0`. It alone
 * knows both halves of when a local L0 file may go: whether every replica
 * holds it (their positions) and whether retention allows it (the local
 * age, or the replica's own L0 retention having dropped it). Everything
 * that wants local L0 files gone asks it:
 *
 * - the upload loop, after each pass: pruneAged();
 * - L0 retention, after deleting a replica's files: release();
 * - re-baselining, which discards local history: dropAbove() and dropAll().
 *
 * The newest local file is never pruned: it is the replicator's position.
 */
export class LocalL0Pruner {
  readonly #o: LocalL0PrunerOptions;
  readonly #retentionMs: number;
  readonly #log: Logger;
  /** Deletions one at a time, so a bound computed for one is still true while it runs. */
  readonly #mutex = new AsyncMutex();
  #prunedAt = -Infinity;

  constructor(options: LocalL0PrunerOptions) {
    this.#o = options;
    this.#retentionMs = options.retentionMs ?? DEFAULT_LOCAL_L0_RETENTION_MS;
    this.#log = options.logger ?? silentLogger;
  }

  /**
   * Local files up to this TXID may go as far as replication is concerned:
   * the lowest of the saved model's TXID and every replica's position (a
   * replica failing for too long left out, when there are others).
   */
  keepFrom(now = Date.now()): bigint {
    let keep = this.#o.modelTxid();
    const replicas = this.#o.replicas();
    for (const r of replicas) {
      if (replicas.length > 1 && r.failingSince !== undefined && now - r.failingSince > this.#o.laggingReplicaKeepMs) continue;
      if (r.position.txid < keep) keep = r.position.txid;
    }
    return keep;
  }

  /**
   * Removes the files every replica holds that were last written more than
   * the retention ago; at most every LOCAL_L0_PRUNE_INTERVAL_MS. Failures
   * are logged and only delay it.
   */
  async pruneAged(now = Date.now()): Promise<number> {
    const retention = this.#retentionMs;
    if (retention <= 0 || now - this.#prunedAt < Math.min(LOCAL_L0_PRUNE_INTERVAL_MS, retention)) return 0;
    this.#prunedAt = now;
    try {
      // Strictly below: the file at the bound is a replica's newest, and may be the replicator's own position.
      return await this.#mutex.run(() => this.#o.meta.removeBelow(this.keepFrom(now), now - retention));
    } catch (err) {
      this.#log.warn('pruning local L0 files failed', { error: (err as Error).message });
      return 0;
    }
  }

  /**
   * Removes the local copies of files a replica's L0 retention deleted (or,
   * with remote deletion off, would have), as far as every replica holds
   * them and the saved model no longer needs them. Files the replicator did
   * not write (a range wider than one TXID) have no local copy.
   */
  async release(files: readonly L0FileRange[]): Promise<number> {
    return this.#mutex.run(() => {
      const keep = this.keepFrom();
      const txids = files.filter((f) => f.minTxid === f.maxTxid && f.maxTxid <= keep).map((f) => f.maxTxid);
      return this.#o.meta.remove(txids);
    });
  }

  /** Discards local files past `txid`: a re-baseline continues from there. */
  dropAbove(txid: bigint): Promise<void> {
    return this.#mutex.run(() => this.#o.meta.removeAbove(txid));
  }

  /** Discards every local file: the replica is ahead and local history is of no use. */
  dropAll(): Promise<void> {
    return this.#mutex.run(() => this.#o.meta.clear());
  }
}
