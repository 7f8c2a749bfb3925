import { resolve } from 'node:path';
import { toLocalL0Files, type LocalL0Files } from '../compaction/local-l0.js';
import { compactionJobs, type CompactionEvent } from '../compaction/compaction-jobs.js';
import { CompactionLevels, SNAPSHOT_LEVEL } from '../compaction/compaction-levels.js';
import { LevelMaxCache } from '../compaction/level-max-cache.js';
import { LevelScheduler, type JobStatus } from '../compaction/level-scheduler.js';
import { DEFAULT_SNAPSHOT_RETENTION_MS } from '../compaction/snapshot-retention.js';
import { DEFAULT_L0_RETENTION_MS } from '../compaction/l0-retention.js';
import { TidemarkError } from '../errors.js';
import { formatTxid } from '../ltx/file-name.js';
import { silentLogger, type Logger } from '../logger.js';
import { DbReplicator, DEFAULT_SYNC_INTERVAL_MS, type CloseOptions, type DbReplicatorOptions, type ReplicationStatus } from '../replication/db-replicator.js';
import { formatGoDuration, NS_PER_MS } from '../config/go-duration.js';
import { defaultMetaDir } from '../replication/local-meta.js';
import { FileReplicaClient } from '../storage/file-replica-client.js';
import { IdleGate } from './idle-gate.js';
import type { ReplicaClient } from '../storage/replica-client.js';

/** How long close() waits, per database, for the final sync to reach the replica. */
export const DEFAULT_STORE_CLOSE_TIMEOUT_MS = 30_000;

/** Compaction, snapshots and retention for every database of a store; false turns them all off. */
export interface StoreCompactionOptions {
  /** Level intervals (L1..Ln) and the snapshot interval; default Litestream's 30 s / 5 min / 1 h and 24 h. */
  readonly levels?: CompactionLevels;
  readonly snapshotRetentionMs?: number;
  /** How long L0 files stay after they were compacted into L1; 0 keeps them. */
  readonly l0RetentionMs?: number;
  readonly l0RetentionCheckIntervalMs?: number;
  /**
   * Check each replica and database against the replicator's model this
   * often, healing what diverged (DbReplicator.verify); 0 never. Default
   * DEFAULT_VALIDATION_INTERVAL_MS.
   */
  readonly validationIntervalMs?: number;
  /** false: retention removes nothing from the replica (a bucket lifecycle rule does), only local copies. */
  readonly deleteRemote?: boolean;
  /** Check each destination level after compacting into it. */
  readonly verify?: boolean;
}

/** One of a database's replicas in a store. */
export interface StoreReplica {
  /** Unique among the database's replicas; `restore -replica NAME` and status use it. */
  readonly name: string;
  readonly client: ReplicaClient;
  /** How the replica is shown in logs (a URL without secrets, say); default the name. */
  readonly displayName?: string;
}

export interface StoreDatabase {
  readonly path: string;
  /** Local state directory (default `.<name>-tidemark` beside the database). */
  readonly metaPath?: string;
  /** The replica; or give `replicas` for several. */
  readonly client?: ReplicaClient;
  /** How the replica is named in logs (a URL without secrets, say). */
  readonly replicaName?: string;
  /**
   * Several replicas, each with its own uploads, compaction, snapshots,
   * retention and checks: one that is slow or down holds back no other.
   */
  readonly replicas?: readonly StoreReplica[];
  readonly replicator?: Partial<
    Pick<DbReplicatorOptions, 'syncIntervalMs' | 'busyTimeoutMs' | 'minCheckpointPageN' | 'truncatePageN' | 'checkpointIntervalMs' | 'validationIntervalMs'>
  >;
}

export interface StoreOptions {
  readonly logger?: Logger;
  /** Sync as soon as a WAL changes, as well as on the interval. */
  readonly watch?: boolean;
  readonly compaction?: StoreCompactionOptions | false;
}

export interface StoreDatabaseStatus extends ReplicationStatus {
  readonly path: string;
  /** The primary replica, as shown in logs. */
  readonly replica: string;
  /** The primary replica's compaction jobs. */
  readonly jobs: readonly JobStatus[];
  /** Every replica's display name and jobs, in the order of `replicas`. */
  readonly replicaJobs: readonly { readonly name: string; readonly replica: string; readonly jobs: readonly JobStatus[] }[];
}

interface ManagedReplica {
  readonly target: StoreReplica;
  readonly scheduler: LevelScheduler | undefined;
  readonly cache: LevelMaxCache;
}

interface Managed {
  readonly spec: StoreDatabase;
  readonly replicator: DbReplicator;
  readonly replicas: readonly ManagedReplica[];
}

/** A database path given twice, or an operation on one the store does not hold. */
export class StoreError extends TidemarkError {
  override name = 'StoreError';
}

/**
 * Replicates many databases in one process: for each, a DbReplicator (WAL to
 * L0, upload, checkpoints) and a scheduler running its compactions,
 * snapshots and retention at wall-clock boundaries. Databases can be added
 * and removed while it runs (a watched `dir:`).
 */
export class Store {
  readonly #options: StoreOptions;
  readonly #log: Logger;
  readonly #dbs = new Map<string, Managed>();
  /** Adds and removes in flight, so close() waits for them and a path is never opened twice. */
  readonly #pending = new Map<string, Promise<void>>();
  #closed = false;

  constructor(options: StoreOptions = {}) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
  }

  /** Opens every database and starts replicating them; if one cannot be opened, the ones opened are closed again. */
  static async open(databases: readonly StoreDatabase[], options: StoreOptions = {}): Promise<Store> {
    const store = new Store(options);
    try {
      for (const db of databases) await store.add(db);
    } catch (err) {
      await store.close({ timeoutMs: 0 }).catch(() => undefined);
      throw err;
    }
    return store;
  }

  get paths(): string[] {
    return [...this.#dbs.keys()];
  }

  has(path: string): boolean {
    return this.#dbs.has(resolve(path));
  }

  replicator(path: string): DbReplicator | undefined {
    return this.#dbs.get(resolve(path))?.replicator;
  }

  /** Starts replicating one more database. */
  async add(spec: StoreDatabase): Promise<void> {
    const path = resolve(spec.path);
    if (this.#closed) throw new StoreError(`${path}: the store is closed`);
    if (this.#dbs.has(path) || this.#pending.has(path)) throw new StoreError(`${path}: already replicated by this store`);
    const work = this.#open({ ...spec, path });
    this.#pending.set(path, work);
    try {
      await work;
    } finally {
      this.#pending.delete(path);
    }
  }

  async #open(spec: StoreDatabase): Promise<void> {
    const log = this.#log.with({ db: spec.path });
    const targets = storeReplicas(spec);
    if (targets.length === 1) await targets[0]!.client.init();
    else {
      // One replica that cannot be reached at start must not keep the others from replicating; it catches up later.
      const inits = await Promise.allSettled(targets.map((t) => t.client.init()));
      inits.forEach((r, i) => {
        if (r.status === 'rejected') log.error('replica not reachable at start; retrying', { replica: targets[i]!.name, error: (r.reason as Error).message });
      });
    }
    // Compaction learns the newest L0 TXID from the replicator, never from a listing.
    // The caches are made before the replicator they ask; until it is open they know nothing.
    const opened: { replicator?: DbReplicator } = {};
    const caches = new Map<string, LevelMaxCache>();
    for (const t of targets) {
      caches.set(
        t.name,
        new LevelMaxCache({
          l0MaxTxid: () => {
            const txid = opened.replicator?.status().replicas.find((r) => r.name === t.name)?.replicatedTxid ?? 0n;
            return txid === 0n ? undefined : txid;
          },
        }),
      );
    }
    const compaction = this.#options.compaction;
    const validationIntervalMs = spec.replicator?.validationIntervalMs ?? (compaction === false ? undefined : compaction?.validationIntervalMs);
    const r = await DbReplicator.open({
      ...spec.replicator,
      ...(validationIntervalMs === undefined ? {} : { validationIntervalMs }),
      dbPath: spec.path,
      replicas: targets.map((t) => ({ name: t.name, client: t.client })),
      logger: this.#log,
      onL0File: (info, name) => caches.get(name)?.note(info),
      // What was listed before files went missing no longer describes the replica.
      onHeal: (snapshot, name) => {
        const cache = caches.get(name);
        cache?.clear();
        cache?.note(snapshot);
      },
      ...(spec.metaPath === undefined ? {} : { metaDir: spec.metaPath }),
    });
    opened.replicator = r;
    const managed: ManagedReplica[] = targets.map((t) => {
      const cache = caches.get(t.name)!;
      if (compaction === false) return { target: t, scheduler: undefined, cache };
      const c = compaction ?? {};
      const rlog = targets.length > 1 ? log.with({ replica: t.name }) : log;
      const gate = new IdleGate({
        cache,
        localTxid: () => r.status().localTxid,
        snapshotRetentionMs: c.snapshotRetentionMs ?? DEFAULT_SNAPSHOT_RETENTION_MS,
        l0RetentionMs: c.l0RetentionMs ?? DEFAULT_L0_RETENTION_MS,
      });
      const jobs = compactionJobs({
        client: t.client,
        levels: c.levels ?? new CompactionLevels(),
        localL0: replicatorL0Files(new FileReplicaClient(spec.metaPath ?? defaultMetaDir(spec.path)), r),
        cache,
        snapshot: async () => {
          // An unchanged database keeps its newest snapshot rather than writing the same image again.
          const newest = cache.get(9);
          if (newest !== undefined && newest.maxTxid >= r.status().localTxid) return undefined;
          return r.snapshot({ replica: t.name });
        },
        ...(c.snapshotRetentionMs === undefined ? {} : { snapshotRetentionMs: c.snapshotRetentionMs }),
        ...(c.l0RetentionMs === undefined ? {} : { l0RetentionMs: c.l0RetentionMs }),
        ...(c.l0RetentionCheckIntervalMs === undefined ? {} : { l0RetentionCheckIntervalMs: c.l0RetentionCheckIntervalMs }),
        ...(c.deleteRemote === undefined ? {} : { deleteRemote: c.deleteRemote }),
        ...(c.verify === undefined ? {} : { verify: c.verify }),
        onEvent: (e) => {
          gate.observe(e);
          logCompactionEvent(rlog, e);
        },
      });
      const scheduler = new LevelScheduler({
        jobs: jobs.map((j) => gate.wrap(j)),
        onError: (job, err) => rlog.error(`${job.name} failed, will retry at its next run`, { error: (err as Error).message }),
      });
      return { target: t, scheduler, cache };
    });
    if (this.#closed) {
      await r.close({ timeoutMs: 0 }).catch(() => undefined);
      throw new StoreError(`${spec.path}: the store was closed while the database was being opened`);
    }
    this.#dbs.set(spec.path, { spec, replicator: r, replicas: managed });
    r.start({ watch: this.#options.watch ?? false });
    for (const m of managed) m.scheduler?.start();
    const syncInterval = formatGoDuration(BigInt(spec.replicator?.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS) * NS_PER_MS);
    // A line per replica, so that replica= names one replica in every line.
    for (const t of targets) log.info('replicating', { replica: t.displayName ?? t.name, sync_interval: syncInterval });
  }

  /** Stops replicating one database: a final sync and upload, then its local state is released. */
  async remove(path: string, options: { timeoutMs?: number; finalSync?: boolean } = {}): Promise<void> {
    const p = resolve(path);
    await this.#pending.get(p);
    const m = this.#dbs.get(p);
    if (m === undefined) throw new StoreError(`${p}: not replicated by this store`);
    this.#dbs.delete(p);
    try {
      await this.#stop(m, { timeoutMs: options.timeoutMs ?? DEFAULT_STORE_CLOSE_TIMEOUT_MS, finalSync: options.finalSync ?? true });
    } finally {
      this.#log.info('released', { db: p });
    }
  }

  status(): StoreDatabaseStatus[] {
    return [...this.#dbs.values()].map((m) => ({
      ...m.replicator.status(),
      path: m.spec.path,
      replica: m.replicas[0]!.target.displayName ?? m.replicas[0]!.target.name,
      jobs: m.replicas[0]!.scheduler?.status() ?? [],
      replicaJobs: m.replicas.map((x) => ({ name: x.target.name, replica: x.target.displayName ?? x.target.name, jobs: x.scheduler?.status() ?? [] })),
    }));
  }

  /**
   * Stops every database: compactions are cancelled, then each replicator
   * makes its final sync and waits up to `timeoutMs` for the replica. Errors
   * are collected, and thrown together after everything was released.
   */
  async close(options: Pick<CloseOptions, 'timeoutMs' | 'retryIntervalMs' | 'singleAttempt'> = {}): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#pending.values());
    const all = [...this.#dbs.values()];
    this.#dbs.clear();
    const results = await Promise.allSettled(all.map((m) => this.#stop(m, { ...options, timeoutMs: options.timeoutMs ?? DEFAULT_STORE_CLOSE_TIMEOUT_MS })));
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${all[i]!.spec.path}: ${(r.reason as Error).message}`] : []));
    if (failures.length > 0) throw new StoreError(`final sync failed for ${failures.length} database(s): ${failures.join('; ')}`);
  }

  async #stop(m: Managed, options: CloseOptions): Promise<void> {
    await Promise.all(m.replicas.map((x) => x.scheduler?.stop()));
    await m.replicator.close(options);
  }
}

/** A database's replicas: `replicas`, or the one `client`. */
function storeReplicas(spec: StoreDatabase): readonly StoreReplica[] {
  if (spec.replicas !== undefined && spec.client !== undefined) throw new StoreError(`${spec.path}: give either client or replicas, not both`);
  if (spec.replicas !== undefined) {
    if (spec.replicas.length === 0) throw new StoreError(`${spec.path}: no replica given`);
    return spec.replicas;
  }
  if (spec.client === undefined) throw new StoreError(`${spec.path}: no replica given`);
  return [{ name: spec.client.type, client: spec.client, ...(spec.replicaName === undefined ? {} : { displayName: spec.replicaName }) }];
}

/**
 * The meta directory's L0 files, as compaction sees them: read in place,
 * and deleted only by the replicator, which alone knows whether every
 * replica holds them and the model no longer needs them.
 */
function replicatorL0Files(local: FileReplicaClient, replicator: DbReplicator): LocalL0Files {
  const { open, describe, maxTxid } = toLocalL0Files(local);
  return {
    ...(open === undefined ? {} : { open }),
    ...(describe === undefined ? {} : { describe }),
    ...(maxTxid === undefined ? {} : { maxTxid }),
    delete: async (files) => {
      await replicator.releaseLocalL0(files);
    },
  };
}

function logCompactionEvent(log: Logger, e: CompactionEvent): void {
  switch (e.kind) {
    case 'compaction':
      // A snapshot is the replicator's to log (DbReplicator.snapshot): the store always hands it that job.
      if (e.result.status === 'compacted' && e.result.file.level !== SNAPSHOT_LEVEL) {
        const f = e.result.file;
        log.info('compaction complete', {
          level: f.level,
          min_txid: formatTxid(f.minTxid),
          max_txid: formatTxid(f.maxTxid),
          size: f.size,
        });
      }
      break;
    case 'snapshot-retention': {
      const { deletedSnapshots, deletedFiles } = e.result;
      if (deletedSnapshots.length + deletedFiles.length > 0) {
        log.info('snapshot retention enforced', { snapshots_deleted: deletedSnapshots.length, files_deleted: deletedFiles.length });
      }
      break;
    }
    case 'l0-retention':
      if (e.result.deleted.length > 0) log.info('l0 retention enforced', { deleted: e.result.deleted.length });
      break;
    case 'validation':
      for (const issue of e.issues) log.warn('level validation found a problem', { issue: JSON.stringify(issue, bigintJson) });
      break;
  }
}

function bigintJson(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? formatTxid(v) : v;
}
