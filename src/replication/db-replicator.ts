import { watch, type FSWatcher } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { isErrno } from '../io/durable-fs.js';
import { RetryReporter, silentLogger, type Logger } from '../logger.js';
import { DatabaseChecksum, pageChecksum } from '../ltx/checksum.js';
import { formatTxid } from '../ltx/file-name.js';
import { lockPgno } from '../ltx/constants.js';
import { sameSalts, walFrameSize, WAL_HEADER_SIZE } from '../sqlite/wal-header.js';
import { WalIndexHeaderReader, type WalIndexHeader } from '../sqlite/wal-index-header.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { AsyncMutex } from './async-mutex.js';
import { Backoff } from './backoff.js';
import {
  chooseCheckpoint,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_MIN_CHECKPOINT_PAGE_N,
  DEFAULT_TRUNCATE_PAGE_N,
  type CheckpointPolicy,
} from './checkpointer.js';
import { DatabaseFile } from './database-file.js';
import { DatabaseState } from './database-state.js';
import type { DatabaseModel } from './db-model.js';
import {
  DatabaseNotReadyError,
  DatabaseSetupError,
  PublishGuardError,
  ReplicationTimeoutError,
  ReplicatorClosedError,
  WalChangedError,
} from './errors.js';
import { writeL0, type L0Content } from './l0-writer.js';
import { defaultMetaDir, LocalMeta } from './local-meta.js';
import { recoverModel } from './model-recovery.js';
import { checkReplica, fingerprint } from './replica-check.js';
import { saveModel, modelPath } from './model-file.js';
import { saveValidation } from './validation-file.js';
import { ReplicatorLock } from './replicator-lock.js';
import { writeSnapshot } from './snapshot.js';
import { ChangeTracker } from './change-tracker.js';
import { SqliteSession } from './sqlite-session.js';
import { LocalL0Pruner, type L0FileRange } from './local-l0-pruner.js';
import { ReplicaPosition } from './replica-position.js';
import { Uploader } from './uploader.js';

/** How often the background loop syncs. */
export const DEFAULT_SYNC_INTERVAL_MS = 1000;
/** How long the replicator waits for SQLite locks (starting a read transaction, the TRUNCATE backstop). */
export const DEFAULT_BUSY_TIMEOUT_MS = 1000;
/** Upper bound of the background sync loop's retry delay after errors. */
export const DEFAULT_SYNC_BACKOFF_MAX_MS = 60_000;
/** Changes to the WAL are gathered this long before a watch-triggered sync. */
export const DEFAULT_WATCH_DEBOUNCE_MS = 20;
/** How long `close()` waits for the final upload. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
/** The model is saved at most this often (and on close); a restart brings it forward through the local L0 files. */
export const MODEL_SAVE_INTERVAL_MS = 10_000;
/** Database checksums of this many recent TXIDs are kept, so a snapshot can be checked against the TXID it stands for. */
const CHECKSUM_HISTORY = 64;
/** A reconcile (or a publish) that meets a WAL restart under it tries again this many times. */
const RECONCILE_ATTEMPTS = 5;
/** The pin is let go for a WAL restart once the WAL holds this many frames (SQLite's automatic checkpoint runs at 1000 pages). */
export const VALVE_MIN_FRAMES = 1000;
/** How long the pin stays off waiting for the application to restart the WAL. */
export const VALVE_WAIT_MS = 10;
/**
 * While the WAL grows, the pin is moved this often between syncs (after the
 * WAL index says what was committed), so the application's automatic
 * checkpoints copy frames as they come rather than a sync interval's worth
 * at once, and a restart needs little copying first.
 */
export const BUSY_WAL_TICK_MS = 20;
/** How often the WAL index is looked at during that wait. */
const VALVE_POLL_MS = 0.2;
/** After this many waits without a restart (or one that lost commits), the next VALVE_BACKOFF_TRIES chances are let pass. */
const VALVE_MISSES_BEFORE_BACKOFF = 3;
const VALVE_BACKOFF_TRIES = 30;
const VALVE_SLEEP = new Int32Array(new SharedArrayBuffer(4));
/**
 * How often the replica and the database are checked against the model by
 * default. Each check lists the replica's levels (an idle database makes no
 * other request); see verify().
 */
export const DEFAULT_VALIDATION_INTERVAL_MS = 5 * 60_000;
/**
 * With several replicas, local L0 files are kept for one that cannot be
 * reached for this long at most; after that the others' pruning goes on
 * without it (so the database's disk does not fill up behind a dead
 * replica), and it is brought up to date with a snapshot when it answers.
 */
export const DEFAULT_LAGGING_REPLICA_KEEP_MS = 60 * 60_000;

/** One of a database's replicas: a name unique among them and where it lives. */
export interface ReplicaTarget {
  readonly name: string;
  readonly client: ReplicaClient;
}

export interface DbReplicatorOptions {
  readonly dbPath: string;
  /** The replica; or give `replicas` for several. */
  readonly client?: ReplicaClient;
  /**
   * Several replicas, each with its own uploads, position, retries and
   * checks, so one that is slow or down never holds back another. The first
   * is the primary: snapshot() and verify() without a name mean it.
   */
  readonly replicas?: readonly ReplicaTarget[];
  readonly syncIntervalMs?: number;
  readonly busyTimeoutMs?: number;
  readonly minCheckpointPageN?: number;
  /** 0 turns the TRUNCATE backstop off. */
  readonly truncatePageN?: number;
  /** 0 turns time-based checkpoints off. */
  readonly checkpointIntervalMs?: number;
  /** Defaults to `<dbdir>/.<dbname>-tidemark`. */
  readonly metaDir?: string;
  /** Also sync shortly after the WAL file changes (fs.watch), not only every syncIntervalMs. */
  readonly watch?: boolean;
  readonly uploadRetryBaseMs?: number;
  readonly uploadRetryMaxMs?: number;
  /** How often, at most, the replica position is listed again before uploading (see Uploader). */
  readonly replicaCheckIntervalMs?: number;
  /** Where the replicator reports failures, recoveries and full images (default: nowhere). */
  readonly logger?: Logger;
  /** Uploaded local L0 files are removed once this old (default DEFAULT_LOCAL_L0_RETENTION_MS; 0 keeps them). */
  readonly localL0RetentionMs?: number;
  /** Told of the replica's newest L0 file after each upload and each listing of the replica's L0. */
  readonly onL0File?: (info: LtxFileInfo, replica: string) => void;
  /** How long local L0 files are kept for a replica that keeps failing (DEFAULT_LAGGING_REPLICA_KEEP_MS). */
  readonly laggingReplicaKeepMs?: number;
  /** Check the replica and the database this often (verify()); 0 never. Default DEFAULT_VALIDATION_INTERVAL_MS. */
  readonly validationIntervalMs?: number;
  /** Told when the replicator has healed the replica (a snapshot after files went missing), so caches of its listing can be dropped. */
  readonly onHeal?: (snapshot: LtxFileInfo, replica: string) => void;
}

/** What the last check of the replica and the database found. */
export interface ValidationStatus {
  readonly at: Date;
  /** The TXID checked against. */
  readonly txid: bigint;
  readonly ok: boolean;
  /** One line per divergence found; empty when all is well. */
  readonly problems: readonly string[];
  /** The TXID the replica restores to. */
  readonly restorableTxid: bigint;
  /** Whether the database itself was read and compared with the model this time (it is skipped while nothing changed). */
  readonly databaseChecked: boolean;
  /** Replica files read back and verified this time; more are left for later checks when the budget ran out. */
  readonly filesVerified: number;
  readonly filesPending: number;
  /** Set once a divergence has been healed: the snapshot or L0 file that made the replica right again. */
  readonly healedBy?: string;
}

/** Where one of a database's replicas stands. */
export interface ReplicaStatus {
  readonly name: string;
  /** The backend: 'file', 's3', … */
  readonly type: string;
  /** The newest TXID this replica holds, as far as the replicator knows. */
  readonly replicatedTxid: bigint;
  readonly lastUploadAt: Date | undefined;
  readonly lastError: Error | undefined;
  /** The last check of this replica (undefined before the first). */
  readonly validation: ValidationStatus | undefined;
}

export interface ReplicationStatus {
  /** TXID of the newest local L0 file. */
  readonly localTxid: bigint;
  /** TXID every replica is known to hold (the lowest of their positions). */
  readonly replicatedTxid: bigint;
  /** Logical WAL size: the end of the WAL range copied last. */
  readonly walSize: number;
  readonly lastSyncAt: Date | undefined;
  readonly lastError: Error | undefined;
  /** The database checksum at localTxid, as the replica restores it (undefined before the first file). */
  readonly checksum: bigint | undefined;
  /** The last check of the primary replica and the database (undefined before the first). */
  readonly validation: ValidationStatus | undefined;
  /** Each replica, the primary first. */
  readonly replicas: readonly ReplicaStatus[];
  /** Totals since the replicator opened (the metrics endpoint serves them under Litestream's names). */
  readonly counters: ReplicationCounters;
}

/** What a replicator has done since it opened. */
export interface ReplicationCounters {
  readonly syncs: number;
  readonly syncErrors: number;
  readonly syncSeconds: number;
  /** WAL bytes read into L0 files. */
  readonly walBytes: number;
  /** The replicator's own checkpoints, by mode. */
  readonly checkpoints: Readonly<Record<'PASSIVE' | 'TRUNCATE', { readonly count: number; readonly errors: number; readonly seconds: number }>>;
}

export interface CloseOptions {
  /** How long the final sync may take to reach every replica (default DEFAULT_CLOSE_TIMEOUT_MS); 0 gives up at once. */
  readonly timeoutMs?: number;
  /** Sync what the WAL holds before closing (default true). */
  readonly finalSync?: boolean;
  /** While waiting, retry a failed upload every this many ms instead of backing off (Litestream's shutdown-sync-interval). */
  readonly retryIntervalMs?: number;
  /** Give each replica one upload attempt, and fail with its error (Litestream's shutdown-sync-timeout: 0). */
  readonly singleAttempt?: boolean;
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Wait for this replica only (default: every replica). */
  readonly replica?: string;
  /** Reject at once when the replica refuses an upload for good (read-only, access denied), rather than at the timeout. */
  readonly failOnPermanentError?: boolean;
}

/**
 * Whether the WAL can be followed from the tracker's position: `known`
 * when every commit since the last published file has been read (checked
 * against the WAL index's commit count, or guaranteed by a pin held all
 * along). Anything else (start-up, a count that does not add up) means the
 * next sync reconciles: it compares the whole database with the model and
 * publishes exactly the pages that differ (or a full image without a model).
 */
type Continuity = { readonly kind: 'known' } | { readonly kind: 'unknown'; readonly reason: string };

/**
 * Replicates one SQLite database to one replica, Litestream v0.5 style: each
 * sync turns what was committed since the last one into an L0 LTX file in the
 * local meta directory, and an upload loop copies those files to the replica
 * in TXID order. How it stays exact through everything applications do to the
 * WAL is in docs/replication.md.
 */
export class DbReplicator {
  readonly dbPath: string;
  readonly walPath: string;
  /** @internal The local state directory; its layout is not part of the API. */
  readonly meta: LocalMeta;
  readonly pageSize: number;
  readonly #lanes: readonly Lane[];
  readonly #localL0: LocalL0Pruner;
  readonly #session: SqliteSession;
  readonly #dbFile: DatabaseFile;
  readonly #lock: ReplicatorLock;
  readonly #policy: CheckpointPolicy;
  readonly #syncIntervalMs: number;
  readonly #mutex = new AsyncMutex();
  readonly #syncBackoff: Backoff;
  readonly #log: Logger;
  readonly #syncReport: RetryReporter;
  /** Newest local L0 TXID. */
  #txid: bigint;
  #model: DatabaseModel | null;
  #modelSavedTxid: bigint;
  #modelSavedAt = 0;
  readonly #modelSaveIntervalMs: number;
  readonly #checksums = new Map<bigint, bigint>();
  readonly #tracker: ChangeTracker;
  /**
   * The WAL index header reader. With it, every read of the WAL is checked
   * against the index's commit count, so the database is pinned only while
   * the replicator reads it and applications checkpoint and restart the WAL
   * as if it were not there. Without it (no `-shm` file), the database stays
   * pinned, so no frame can be overwritten before it is read.
   */
  readonly #index: WalIndexHeaderReader | null;
  #lastIndex: WalIndexHeader | null = null;
  #continuity: Continuity;
  /** The WAL has been read at least up to the current pin's mark, so the pin may move on (pinned mode). */
  #pinCovered = false;
  /** The next read of the WAL reads frames and counts commits (the pin was let go since the last one). */
  #countNextRead = false;
  #valveMisses = 0;
  #valveSkips = 0;
  #busyTimer: NodeJS.Timeout | undefined;
  #busySeenIChange: number | undefined;
  /** Frames of the WAL when the pin before the current one was taken: what others could have checkpointed by now. */
  #prevPinFrames: number | undefined;
  #syncedSinceCheckpoint = false;
  #behindChecked = false;
  #needsRebaseline = false;
  /** WAL stat as of the last sync that found nothing new; an unchanged stat means an idle database. */
  #idleStamp: string | undefined;
  #lastSyncAt: Date | undefined;
  #lastError: Error | undefined;
  readonly #counters = {
    syncs: 0,
    syncErrors: 0,
    syncSeconds: 0,
    walBytes: 0,
    checkpoints: { PASSIVE: { count: 0, errors: 0, seconds: 0 }, TRUNCATE: { count: 0, errors: 0, seconds: 0 } },
  };
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #running = false;
  readonly #validationIntervalMs: number;
  readonly #laggingReplicaKeepMs: number;
  readonly #onHeal: ((snapshot: LtxFileInfo, replica: string) => void) | undefined;
  #validationTimer: NodeJS.Timeout | undefined;
  /** Fingerprints of replica files known to be intact: written here, or read back and verified. */
  /** What the database looked like when it last matched the model: TXID and file stamps. */
  #lastLocalCheck: string | undefined;
  /** Whether the last check read the whole database (it is skipped while nothing changed). */
  #lastLocalCheckRan = false;

  private constructor(
    o: DbReplicatorOptions,
    parts: {
      session: SqliteSession;
      dbFile: DatabaseFile;
      index: WalIndexHeaderReader | null;
      lock: ReplicatorLock;
      meta: LocalMeta;
      txid: bigint;
      model: DatabaseModel | null;
      why: string;
    },
  ) {
    this.dbPath = resolve(o.dbPath);
    this.walPath = `${this.dbPath}-wal`;
    this.meta = parts.meta;
    this.pageSize = parts.session.pageSize;
    this.#session = parts.session;
    this.#dbFile = parts.dbFile;
    this.#index = parts.index;
    this.#tracker = new ChangeTracker(this.walPath, this.pageSize);
    this.#lock = parts.lock;
    this.#txid = parts.txid;
    this.#model = parts.model;
    this.#modelSavedTxid = parts.model?.txid ?? 0n;
    this.#continuity = { kind: 'unknown', reason: parts.why };
    this.#syncIntervalMs = o.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.#validationIntervalMs = o.validationIntervalMs ?? DEFAULT_VALIDATION_INTERVAL_MS;
    this.#laggingReplicaKeepMs = o.laggingReplicaKeepMs ?? DEFAULT_LAGGING_REPLICA_KEEP_MS;
    this.#onHeal = o.onHeal;
    // Local L0 files are pruned no sooner than their retention: the model must be saved more often than that for them to go.
    const retention = o.localL0RetentionMs ?? 0;
    this.#modelSaveIntervalMs = retention > 0 ? Math.min(MODEL_SAVE_INTERVAL_MS, retention) : MODEL_SAVE_INTERVAL_MS;
    this.#syncBackoff = new Backoff(this.#syncIntervalMs, DEFAULT_SYNC_BACKOFF_MAX_MS);
    this.#log = (o.logger ?? silentLogger).with({ db: this.dbPath });
    this.#syncReport = new RetryReporter(this.#log, 'sync');
    this.#policy = {
      minCheckpointPageN: o.minCheckpointPageN ?? DEFAULT_MIN_CHECKPOINT_PAGE_N,
      truncatePageN: o.truncatePageN ?? DEFAULT_TRUNCATE_PAGE_N,
      checkpointIntervalMs: o.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
    };
    const targets = replicaTargets(o);
    const several = targets.length > 1;
    this.#localL0 = new LocalL0Pruner({
      meta: parts.meta,
      modelTxid: () => this.#modelSavedTxid,
      replicas: () => this.#lanes.map((l) => ({ position: l.position, failingSince: l.uploader.failingSince })),
      laggingReplicaKeepMs: this.#laggingReplicaKeepMs,
      logger: this.#log,
      ...(o.localL0RetentionMs === undefined ? {} : { retentionMs: o.localL0RetentionMs }),
    });
    this.#lanes = targets.map((t, i) => {
      const verified = new Set<string>();
      const position = new ReplicaPosition(t.client);
      const lane: Lane = {
        name: t.name,
        client: t.client,
        position,
        primary: i === 0,
        verified,
        validation: undefined,
        healing: undefined,
        uploader: new Uploader({
          client: t.client,
          name: t.name,
          meta: parts.meta,
          position,
          localTxid: () => this.#txid,
          afterPass: async () => {
            await this.#localL0.pruneAged();
          },
          onLocalFileMissing: () => {
            this.#needsRebaseline = true;
          },
          // A replica that needs files the others no longer keep is brought up to date with a snapshot.
          ...(several ? { onGap: () => this.#seed(lane) } : {}),
          onReplicaBehind: (listed, uploaded) => {
            this.#requestHeal(lane, `the replica's newest TXID is ${formatTxid(listed)}, but ${formatTxid(uploaded)} was uploaded`);
          },
          logger: this.#log,
          onL0File: (info) => {
            verified.add(fingerprint(info));
            o.onL0File?.(info, t.name);
          },
          ...(o.uploadRetryBaseMs === undefined ? {} : { retryBaseMs: o.uploadRetryBaseMs }),
          ...(o.uploadRetryMaxMs === undefined ? {} : { retryMaxMs: o.uploadRetryMaxMs }),
          ...(o.replicaCheckIntervalMs === undefined ? {} : { replicaCheckIntervalMs: o.replicaCheckIntervalMs }),
        }),
      };
      return lane;
    });
  }

  /** The replicas' names, the primary first. */
  get replicaNames(): string[] {
    return this.#lanes.map((l) => l.name);
  }

  #lane(name: string | undefined): Lane {
    if (name === undefined) return this.#lanes[0]!;
    const lane = this.#lanes.find((l) => l.name === name);
    if (lane === undefined) throw new DatabaseSetupError(`${this.dbPath}: no replica named ${JSON.stringify(name)} (replicas: ${this.replicaNames.join(', ')})`);
    return lane;
  }

  /**
   * Opens the database for replication: takes the replicator lock, converts
   * the database to WAL mode if needed, pins it, and loads the local state.
   * Starts the upload loop (so files left by an earlier run go out); call
   * `start()` for periodic syncs. Nothing is written to the database.
   */
  static async open(o: DbReplicatorOptions): Promise<DbReplicator> {
    const dbPath = resolve(o.dbPath);
    replicaTargets(o);
    if (o.minCheckpointPageN !== undefined && o.minCheckpointPageN <= 0) {
      throw new DatabaseSetupError(`${dbPath}: minCheckpointPageN must be positive, got ${o.minCheckpointPageN}`);
    }
    const metaDir = o.metaDir ?? defaultMetaDir(dbPath);
    // The database must be there before a lock (and a meta directory) is made for it.
    try {
      await stat(dbPath);
    } catch (err) {
      throw new DatabaseSetupError(`${dbPath}: cannot open database: ${(err as Error).message}`, { cause: err });
    }
    try {
      await mkdir(metaDir, { recursive: true });
    } catch (err) {
      throw new DatabaseSetupError(`${dbPath}: cannot create the meta directory ${metaDir}: ${(err as Error).message}`, { cause: err });
    }
    // The lock comes first: a second replicator must be refused before it opens (and closes) the database file.
    const lock = await ReplicatorLock.acquire(dbPath, metaDir);
    let dbFile: DatabaseFile | undefined;
    let session: SqliteSession | undefined;
    let index: WalIndexHeaderReader | null = null;
    try {
      dbFile = await DatabaseFile.open(dbPath);
      const meta = new LocalMeta(metaDir);
      await meta.removeStaleTemps();
      session = await SqliteSession.open(dbPath, o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
      // Opened after the connections (the pin made SQLite create it) and closed after them, like the database file.
      index = await WalIndexHeaderReader.open(`${dbPath}-shm`);
      if (index !== null && (await index.read()) === null) {
        await index.close();
        index = null;
      }
      const txid = await meta.maxTxid();
      let model: DatabaseModel | null = null;
      let why = 'first sync';
      if (txid > 0n) {
        const recovered = await recoverModel(meta, session.pageSize, txid);
        model = recovered.model;
        why = recovered.model === null ? `the local model of TXID ${formatTxid(txid)} is unusable: ${recovered.reason}` : 'start-up';
      }
      const r = new DbReplicator(o, { session, dbFile, index, lock, meta, txid, model, why });
      for (const lane of r.#lanes) {
        lane.uploader.start();
        lane.uploader.notify();
      }
      return r;
    } catch (err) {
      await session?.close();
      await index?.close();
      await dbFile?.close();
      await lock.release();
      throw err;
    }
  }

  /** Syncs every `syncIntervalMs` (and, with `watch`, soon after each WAL change) until `close()`. */
  start(options: { watch?: boolean } = {}): void {
    this.#assertOpen();
    if (this.#timer === undefined) this.#schedule(0);
    if (options.watch === true && this.#watcher === undefined) this.#startWatch();
    if (this.#validationTimer === undefined && this.#validationIntervalMs > 0) this.#scheduleValidation();
  }

  /**
   * Copies what was committed since the last sync into the next L0 file,
   * then checkpoints if the WAL has grown. Resolves true when a file was
   * written.
   */
  sync(): Promise<boolean> {
    this.#assertOpen();
    return this.#mutex.run(async () => {
      const started = performance.now();
      this.#counters.syncs++;
      try {
        const wrote = await this.#syncLocked(true);
        this.#lastError = undefined;
        return wrote;
      } catch (err) {
        this.#counters.syncErrors++;
        this.#lastError = err instanceof Error ? err : new Error(String(err));
        throw err;
      } finally {
        this.#counters.syncSeconds += (performance.now() - started) / 1000;
      }
    });
  }

  /** Runs a checkpoint of `mode`, counted in `status().counters`. */
  async #checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): ReturnType<SqliteSession['checkpoint']> {
    const c = this.#counters.checkpoints[mode];
    const started = performance.now();
    c.count++;
    try {
      return await this.#session.checkpoint(mode);
    } catch (err) {
      c.errors++;
      throw err;
    } finally {
      c.seconds += (performance.now() - started) / 1000;
    }
  }

  /** Syncs, then waits until the replica holds everything synced. */
  async syncAndWait(options: WaitOptions = {}): Promise<bigint> {
    await this.sync();
    const txid = this.#txid;
    await this.waitForReplication(txid, options);
    return txid;
  }

  /** Resolves once the replica holds `txid`; rejects with ReplicationTimeoutError after `timeoutMs`. */
  async waitForReplication(txid: bigint, options: WaitOptions = {}): Promise<void> {
    const lanes = options.replica === undefined ? this.#lanes : [this.#lane(options.replica)];
    for (const l of lanes) l.uploader.notify();
    const failOnPermanentError = options.failOnPermanentError ?? false;
    const waits: Promise<void>[] = [Promise.all(lanes.map((l) => l.uploader.waitFor(txid, { failOnPermanentError }))).then(() => undefined)];
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs !== undefined) {
      waits.push(
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            const behind = lanes.filter((l) => l.position.txid < txid);
            const lane = behind[0] ?? lanes[0]!;
            const cause = lane.uploader.lastError;
            const why = cause === undefined ? '' : `: ${cause.message}`;
            const which = this.#lanes.length > 1 ? `replica ${behind.map((l) => l.name).join(', ')}` : 'replica';
            reject(
              new ReplicationTimeoutError(
                `${this.dbPath}: ${which} did not reach TXID ${formatTxid(txid)} within ${options.timeoutMs} ms (it holds ${formatTxid(lane.position.txid)})${why}`,
                cause === undefined ? undefined : { cause },
              ),
            );
          }, options.timeoutMs);
        }),
      );
    }
    if (options.signal !== undefined) {
      const signal = options.signal;
      waits.push(
        new Promise((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
      );
    }
    try {
      await Promise.race(waits);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /**
   * Syncs, then streams a full image of the database at the TXID just synced
   * to the replica as a level-9 snapshot (`1-<txid>`). Syncs go on while it
   * is written; the pin stays where it was, so nothing the image reads can be
   * checkpointed over. The image is checked against the model before the
   * upload is allowed to complete.
   */
  async snapshot(options: { replica?: string } = {}): Promise<LtxFileInfo> {
    this.#assertOpen();
    const lane = this.#lane(options.replica);
    const at = await this.#mutex.run(async () => {
      await this.#syncLocked(false, true);
      // A pin moved past what was read would let the image see newer pages.
      if (!this.#pinCovered) await this.#syncLocked(false, true);
      if (this.#txid === 0n || this.#model === null) {
        throw new DatabaseNotReadyError(`${this.dbPath}: nothing synced yet to snapshot`);
      }
      if (this.#tracker.hasPending) {
        throw new DatabaseNotReadyError(`${this.dbPath}: changes read from the WAL could not be published yet; the snapshot is taken after the next sync`);
      }
      const release = this.#session.hold();
      return { txid: this.#txid, pos: this.#tracker.pos, view: this.#tracker.view(true), checksum: this.#model.checksum, release };
    });
    try {
      const info = await writeSnapshot({
        client: lane.client,
        db: this.#dbFile,
        walPath: this.walPath,
        pageSize: this.pageSize,
        txid: at.txid,
        pos: at.pos,
        view: at.view,
        expectedChecksum: at.checksum,
      });
      lane.verified.add(fingerprint(info));
      this.#log.info('snapshot complete', { ...this.#replicaField(lane), txid: formatTxid(at.txid), size: info.size });
      return info;
    } catch (err) {
      if (err instanceof PublishGuardError) {
        this.#log.error('snapshot withheld: the database does not match what the replica holds; the pages that differ are published next', {
          txid: formatTxid(at.txid),
          error: err.message,
        });
        this.#continuity = { kind: 'unknown', reason: err.message };
      }
      throw err;
    } finally {
      at.release();
    }
  }

  status(): ReplicationStatus {
    const replicas = this.#lanes.map(
      (l): ReplicaStatus => ({
        name: l.name,
        type: l.client.type,
        replicatedTxid: l.position.txid,
        lastUploadAt: l.uploader.lastUploadAt,
        lastError: l.uploader.lastError,
        validation: l.validation,
      }),
    );
    return {
      localTxid: this.#txid,
      replicatedTxid: replicas.reduce((m, r) => (r.replicatedTxid < m ? r.replicatedTxid : m), replicas[0]!.replicatedTxid),
      walSize: this.#tracker.pos.salts === null ? 0 : this.#tracker.pos.offset,
      lastSyncAt: this.#lastSyncAt,
      lastError: this.#lastError ?? replicas.find((r) => r.lastError !== undefined)?.lastError,
      checksum: this.#model?.checksum,
      validation: this.#lanes[0]!.validation,
      replicas,
      counters: {
        ...this.#counters,
        checkpoints: { PASSIVE: { ...this.#counters.checkpoints.PASSIVE }, TRUNCATE: { ...this.#counters.checkpoints.TRUNCATE } },
      },
    };
  }

  /** A log field naming the replica, when there are several to tell apart. */
  #replicaField(lane: Lane): { replica?: string } {
    return this.#lanes.length > 1 ? { replica: lane.name } : {};
  }

  /**
   * Local L0 files with a TXID above this one are still needed: a replica
   * does not hold them yet, or they bring the saved model forward after a
   * restart. Only files at or below it are ever pruned (see LocalL0Pruner).
   */
  /** @internal */
  get localL0KeepFrom(): bigint {
    return this.#localL0.keepFrom();
  }

  /**
   * @internal
   * Removes the local copies of L0 files a replica's L0 retention deleted,
   * as far as the replicator no longer needs them; resolves how many went.
   * The only way for anything outside the replicator to remove local L0
   * files.
   */
  releaseLocalL0(files: readonly L0FileRange[]): Promise<number> {
    return this.#localL0.release(files);
  }

  /** @internal The database checksum the replica restores to at `txid`, for recent TXIDs. */
  checksumAt(txid: bigint): bigint | undefined {
    return this.#checksums.get(txid);
  }

  /**
   * Stops the loops, makes a final sync and waits (up to `timeoutMs`) for it
   * to reach the replica, then saves the model, releases the pin and closes
   * the connections and the lock. A final sync or upload that fails is
   * recorded in the error thrown, after everything has been released.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    this.#stopTimers();
    let failure: unknown;
    try {
      // A database that is gone (deleted from a watched directory) has nothing left to sync.
      if (options.finalSync !== false) await this.sync();
      if (options.singleAttempt === true) await this.#uploadOnce(this.#txid);
      else {
        if (options.retryIntervalMs !== undefined) for (const l of this.#lanes) l.uploader.retryEvery(options.retryIntervalMs);
        await this.waitForReplication(this.#txid, { timeoutMs: options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS });
      }
    } catch (err) {
      failure = err;
    }
    this.#closed = true;
    for (const l of this.#lanes) await l.healing?.catch(() => undefined);
    await this.#mutex.run(async () => {
      await Promise.all(this.#lanes.map((l) => l.uploader.stop()));
      await this.#saveModel(true).catch((err: unknown) => this.#log.warn('saving the model failed', { error: (err as Error).message }));
      await this.#session.close();
      await this.#index?.close();
      await this.#dbFile.close();
      await this.#lock.release();
    });
    if (failure !== undefined) throw failure;
  }

  /** Each replica behind `txid` gets one more upload pass; the first that fails is the error. */
  async #uploadOnce(txid: bigint): Promise<void> {
    await Promise.all(
      this.#lanes.map(async (l) => {
        if (l.position.txid >= txid) return;
        const pass = l.uploader.nextPass();
        l.uploader.notify();
        const outcome = await Promise.race([l.uploader.waitFor(txid).then(() => undefined), pass]);
        if (outcome !== undefined && l.position.txid < txid) throw outcome;
      }),
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new ReplicatorClosedError(`${this.dbPath}: replicator is closed`);
  }

  // --- sync ---------------------------------------------------------------

  /**
   * One sync. `keepPin` leaves the database pinned where the WAL was read
   * (for a snapshot or a check of the whole database, which must read it
   * as of the TXID just published).
   */
  async #syncLocked(allowCheckpoint: boolean, keepPin = false): Promise<boolean> {
    this.#assertOpen();
    if (!this.#behindChecked) {
      await this.#checkBehindReplica();
      this.#behindChecked = true;
    }
    if (this.#needsRebaseline) await this.#rebaseline('a local L0 file was lost before upload');

    // With the WAL index one read of its header tells an idle database; the WAL's stat is for without it.
    const walStamp = this.#index === null ? await this.#walStamp() : undefined;
    if (!keepPin && this.#continuity.kind === 'known' && !this.#tracker.hasPending && (await this.#unchanged(walStamp))) {
      this.#lastSyncAt = new Date();
      return false;
    }
    const prevOffset = this.#tracker.pos.offset;
    let wrote = false;
    try {
      for (let attempt = 1; ; attempt++) {
        await this.#pin();
        try {
          if (this.#continuity.kind !== 'known') wrote = await this.#reconcile(this.#continuity.reason);
          else {
            const lost = await this.#trackChanges();
            if (lost !== null) {
              if (this.#index === null) this.#log.warn('the WAL changed in a way the pin should have prevented; comparing the whole database', { reason: lost });
              else this.#log.debug('commits may have gone unread; comparing the whole database', { reason: lost });
              wrote = await this.#reconcile(lost);
            } else wrote = await this.#publishPending();
          }
          break;
        } catch (err) {
          // A WAL restart under a read-mark-0 pin: the pages are read again from where the WAL stands now.
          if (!(err instanceof WalChangedError) || attempt >= RECONCILE_ATTEMPTS) throw err;
          await this.#session.advance();
        }
      }
      this.#idleStamp = wrote ? undefined : walStamp;
      const read = this.#tracker.pos.offset - prevOffset;
      // A restarted WAL was read from its header again.
      this.#counters.walBytes += read >= 0 ? read : Math.max(0, this.#tracker.pos.offset - WAL_HEADER_SIZE);
      if (wrote) {
        this.#syncedSinceCheckpoint = true;
        for (const l of this.#lanes) l.uploader.notify();
      }
      if (allowCheckpoint) {
        await this.#checkpointIfNeeded(prevOffset);
        await this.#openValve();
      }
    } finally {
      // A pin let go (valve, backstop) and not taken again: the database must not stay unpinned.
      if (!this.#session.pinned) await this.#session.advance().catch(() => undefined);
    }
    await this.#saveModel(false).catch((err: unknown) => this.#log.warn('saving the model failed', { error: (err as Error).message }));
    this.#lastSyncAt = new Date();
    this.#scheduleBusyTick();
    return wrote;
  }

  /** Between syncs, while the WAL holds more than a little, the pin follows it (see BUSY_WAL_TICK_MS). */
  #scheduleBusyTick(): void {
    if (this.#index === null || this.#closed || this.#busyTimer !== undefined || this.#timer === undefined) return;
    // Commits since the previous tick mean the WAL is busy; a tick interval without any ends the ticks until the next sync.
    const seen = this.#lastIndex?.iChange;
    if (seen === undefined || seen === this.#busySeenIChange) return;
    this.#busySeenIChange = seen;
    this.#busyTimer = setTimeout(() => {
      this.#busyTimer = undefined;
      void this.#mutex
        .run(async () => {
          if (this.#closed || this.#continuity.kind !== 'known' || this.#running) return;
          await this.#pin();
          const lost = await this.#trackChanges();
          if (lost !== null) this.#continuity = { kind: 'unknown', reason: lost };
          else await this.#openValve();
          if (!this.#session.pinned) await this.#session.advance();
        })
        .catch((err: unknown) => this.#syncReport.failed(err))
        .finally(() => this.#scheduleBusyTick());
    }, BUSY_WAL_TICK_MS);
  }

  /** Pins the database for a read: the pin is handed over only once the WAL was read up to where the current one stands. */
  async #pin(): Promise<void> {
    if (!this.#session.pinned) {
      if (this.#continuity.kind === 'known' && !this.#countNextRead) {
        this.#continuity = { kind: 'unknown', reason: 'the database was not pinned' };
      }
      await this.#session.advance();
      this.#pinCovered = false;
      return;
    }
    if (this.#pinCovered && !this.#session.held) {
      this.#prevPinFrames = this.#lastIndex?.mxFrame;
      await this.#session.advance();
      this.#pinCovered = false;
    }
  }

  /** True when the WAL shows no commit since the last read (the index's counter, or the WAL file's stat). */
  async #unchanged(walStamp: string | undefined): Promise<boolean> {
    if (this.#index !== null) {
      // A 100-byte read from the page cache: done in place, cheaper than a trip through the thread pool.
      const h = this.#index.readSync();
      const last = this.#lastIndex;
      return h !== null && last !== null && h.iChange === last.iChange && h.mxFrame === last.mxFrame && h.salt1 === last.salt1 && h.salt2 === last.salt2;
    }
    return walStamp !== undefined && walStamp === this.#idleStamp;
  }

  /** Reads the WAL's new commits into the tracker; the reason when some may have gone unread. */
  async #trackChanges(): Promise<string | null> {
    let index: WalIndexHeader | null = null;
    if (this.#index !== null) {
      index = await this.#index.read();
      if (index === null) return 'the WAL index header could not be read';
    }
    const lost = index === null || this.#countNextRead ? await this.#tracker.track(index) : await this.#tracker.trackFromIndex(index, this.#index!);
    if (lost === null) {
      this.#lastIndex = index;
      this.#pinCovered = true;
      this.#countNextRead = false;
    }
    return lost;
  }

  /** Publishes the pages changed since the last L0 file, as they are now, as the next L0 file. */
  async #publishPending(): Promise<boolean> {
    const t = this.#tracker;
    if (!t.hasPending) return false;
    const model = this.#model!;
    const commit = t.pendingCommit ?? model.commit;
    const lock = lockPgno(this.pageSize);
    const pgnos = new Set<number>();
    for (const p of t.pending) if (p <= commit && p !== lock) pgnos.add(p);
    // A file that grows the database must carry every new page; the WAL does not always hold them (freed pages).
    for (let p = model.commit + 1; p <= commit; p++) if (p !== lock) pgnos.add(p);
    const sorted = [...pgnos].sort((a, b) => a - b);
    const txid = this.#txid + 1n;
    const range = t.walRange();
    const state = await DatabaseState.open(this.#dbFile, this.walPath, this.pageSize, { ...t.view(), commit });
    try {
      const content: L0Content = {
        txid,
        pageSize: this.pageSize,
        commit,
        full: false,
        ...range,
        what: `L0 file ${formatTxid(txid)} (WAL ${range.walOffset}-${range.walOffset + range.walSize})`,
        emit: async (write) => {
          for (const pgno of sorted) await write(pgno, await state.page(pgno));
        },
      };
      try {
        await this.#publish(content);
      } catch (err) {
        if (!(err instanceof PublishGuardError)) throw err;
        this.#log.warn('an L0 file failed its check before publishing; writing the pages that changed from the database instead', { error: err.message });
        this.#continuity = { kind: 'unknown', reason: err.message };
        return this.#reconcile(err.message);
      }
    } finally {
      await state.close();
    }
    t.published();
    return true;
  }

  /**
   * Compares the whole database, as of the WAL's current end, with the model
   * and publishes exactly the pages that differ; with no model, a full
   * image. From then on the WAL is followed incrementally again.
   */
  async #reconcile(reason: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#reconcileOnce(reason);
      } catch (err) {
        if (!(err instanceof WalChangedError) || attempt >= RECONCILE_ATTEMPTS) throw err;
        // A WAL restart under a read-mark-0 pin: move the pin and read again.
        await this.#session.advance();
      }
    }
  }

  async #reconcileOnce(reason: string): Promise<boolean> {
    let index: WalIndexHeader | null = null;
    if (this.#index !== null) {
      index = await this.#index.read();
      if (index === null) throw new WalChangedError(`${this.walPath}: the WAL index header could not be read`);
    }
    const t = this.#tracker;
    await t.rebase(index, async () => Math.floor((await this.#dbFile.size()) / this.pageSize));
    this.#lastIndex = index;
    const state = await DatabaseState.open(this.#dbFile, this.walPath, this.pageSize, t.view());
    try {
      const model = this.#model !== null && this.#model.txid === this.#txid ? this.#model : null;
      const txid = this.#txid + 1n;
      const base = { txid, pageSize: this.pageSize, commit: state.commit, ...t.walRange() };
      if (model === null) {
        if (this.#txid > 0n) this.#log.info('writing a full database image', { txid: formatTxid(txid), reason });
        await this.#publish({ ...base, full: true, what: `full image L0 ${formatTxid(txid)}`, emit: (write) => state.forEachPage(write) });
        t.published();
        return true;
      }
      const changed: number[] = [];
      await state.forEachPage((pgno, data) => {
        if (pageChecksum(pgno, data) !== model.pageSum(pgno)) changed.push(pgno);
      });
      if (changed.length === 0 && state.commit === model.commit) {
        this.#continuity = { kind: 'known' };
        this.#pinCovered = true;
        t.published();
        this.#log.debug('database matches the replica', { txid: formatTxid(this.#txid), reason });
        return false;
      }
      this.#log.info('publishing the pages that changed unseen', { txid: formatTxid(txid), pages: changed.length, commit: state.commit, reason });
      await this.#publish({
        ...base,
        full: false,
        what: `reconciling L0 ${formatTxid(txid)}`,
        emit: async (write) => {
          for (const pgno of changed) await write(pgno, await state.page(pgno));
        },
      });
      t.published();
      return true;
    } finally {
      await state.close();
    }
  }

  /** Writes an L0 file and, once it is durable, moves the model, the TXID and the WAL position on. */
  async #publish(content: L0Content): Promise<void> {
    const metaLost = await this.#metaDirLost();
    const written = await writeL0(this.meta, content, content.full ? null : this.#model);
    if (metaLost) await this.#restoreLock();
    this.#model = written.change.applyTo(content.full ? null : this.#model, content.txid);
    this.#txid = content.txid;
    this.#continuity = { kind: 'known' };
    this.#pinCovered = true;
    this.#checksums.set(content.txid, this.#model.checksum);
    if (this.#checksums.size > CHECKSUM_HISTORY) this.#checksums.delete(this.#checksums.keys().next().value!);
  }

  /** True when the meta directory (with the lock file) is gone. */
  async #metaDirLost(): Promise<boolean> {
    try {
      await stat(this.#lock.path);
      return false;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return true;
      throw err;
    }
  }

  /** The meta directory was removed under the replicator: write its lock file again, so a second replicator is still refused. */
  async #restoreLock(): Promise<void> {
    const state = await this.#lock.refresh();
    if (state === 'restored') this.#log.warn('the local state directory was removed while replicating; its lock file is written again', { lock: this.#lock.path });
    if (state === 'lost') this.#log.error('another replicator took this database\'s lock while its state directory was missing', { lock: this.#lock.path });
  }

  async #saveModel(force: boolean): Promise<void> {
    const model = this.#model;
    if (model === null || model.txid === this.#modelSavedTxid) return;
    if (!force && Date.now() - this.#modelSavedAt < this.#modelSaveIntervalMs) return;
    await saveModel(this.meta.dir, model);
    this.#modelSavedTxid = model.txid;
    this.#modelSavedAt = Date.now();
  }

  async #walStamp(): Promise<string | undefined> {
    try {
      const st = await stat(this.walPath, { bigint: true });
      return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * A database restored from an old backup is behind its replica (#781):
   * its next TXIDs would collide with ones the replica already has. Take the
   * replica's newest TXID as the local position, so the next sync writes a
   * full image at the replica's TXID + 1.
   */
  async #checkBehindReplica(): Promise<void> {
    await this.#withUploadLocks(async () => {
      const positions = await this.#replicaPositions();
      const remote = maxOf(positions);
      if (this.#txid >= remote) return;
      await this.#localL0.dropAll();
      await rm(modelPath(this.meta.dir), { force: true });
      this.#txid = remote;
      this.#model = null;
      this.#modelSavedTxid = 0n;
      this.#continuity = { kind: 'unknown', reason: `the replica is ahead of the database, at TXID ${formatTxid(remote)}` };
      this.#log.warn("database is behind its replica (restored from an older backup?); continuing after the replica's TXID with a full image", {
        replica_txid: formatTxid(remote),
      });
      this.#adoptPositions(positions);
    });
  }

  /** Runs `fn` with every replica's uploads paused (the locks taken in one order, so two callers cannot deadlock). */
  async #withUploadLocks<T>(fn: () => Promise<T>): Promise<T> {
    const run = (i: number): Promise<T> => (i === this.#lanes.length ? fn() : this.#lanes[i]!.uploader.lock.run(() => run(i + 1)));
    return run(0);
  }

  /**
   * Each replica's newest TXID. With one replica a listing that fails fails
   * the sync; with several, a replica that cannot be listed is left out
   * (undefined) so the others go on, unless none can be listed.
   */
  async #replicaPositions(): Promise<(bigint | undefined)[]> {
    if (this.#lanes.length === 1) return [await this.#lanes[0]!.position.list()];
    const results = await Promise.allSettled(this.#lanes.map((l) => l.position.list()));
    if (results.every((r) => r.status === 'rejected')) throw (results[0] as PromiseRejectedResult).reason;
    return results.map((r, i) => {
      if (r.status === 'fulfilled') return r.value;
      this.#log.warn('cannot list a replica; it catches up once it answers', { replica: this.#lanes[i]!.name, error: (r.reason as Error).message });
      return undefined;
    });
  }

  /** Each replica takes its own listed position; one that needs files no longer here gets a snapshot (#seed). */
  #adoptPositions(positions: readonly (bigint | undefined)[]): void {
    this.#lanes.forEach((l, i) => {
      const p = positions[i];
      if (p !== undefined) l.position.adopt(p);
    });
  }

  /**
   * Brings a replica that needs local L0 files no longer kept (added after
   * them, or down while the others moved on) up to date with a snapshot at
   * the current TXID. Undefined when the local files are lost altogether:
   * then the whole database re-baselines.
   */
  async #seed(lane: Lane): Promise<bigint | undefined> {
    if (this.#txid > 0n && !(await this.meta.txids()).includes(this.#txid)) return undefined;
    this.#log.info('a replica is missing TXIDs no longer kept locally; writing it a snapshot', { replica: lane.name, replica_txid: formatTxid(lane.position.txid) });
    const snap = await this.snapshot({ replica: lane.name });
    this.#onHeal?.(snap, lane.name);
    return snap.maxTxid;
  }

  /**
   * Local L0 state is gone or incomplete: drop the local files the replica
   * does not have and continue at the replica's TXID + 1 with a full image.
   */
  async #rebaseline(reason: string): Promise<void> {
    await this.#withUploadLocks(async () => {
      const positions = await this.#replicaPositions();
      const remote = maxOf(positions);
      await this.#localL0.dropAbove(remote);
      await rm(modelPath(this.meta.dir), { force: true });
      this.#txid = remote;
      this.#model = null;
      this.#modelSavedTxid = 0n;
      this.#continuity = { kind: 'unknown', reason: `${reason}; continuing from the replica's TXID ${formatTxid(remote)}` };
      this.#log.warn('local replication state lost; continuing from the replica with a full image', { reason, replica_txid: formatTxid(remote) });
      this.#needsRebaseline = false;
      this.#adoptPositions(positions);
    });
  }

  // --- checkpoints ----------------------------------------------------------

  async #checkpointIfNeeded(prevOffset: number): Promise<void> {
    if (this.#continuity.kind !== 'known') return;
    const pos = this.#tracker.pos;
    const walSize = pos.salts === null ? 0 : pos.offset;
    const mode = await chooseCheckpoint(this.#policy, {
      pageSize: this.pageSize,
      origWalSize: Math.max(prevOffset, walSize),
      newWalSize: walSize,
      syncedSinceCheckpoint: this.#syncedSinceCheckpoint,
      dbMtimeMs: async () => (await stat(this.dbPath)).mtimeMs,
      now: Date.now(),
    });
    if (mode === 'PASSIVE') {
      // An application that checkpoints itself keeps up with the pin as it moves; copying again here would only compete.
      const h = this.#index?.readSync();
      if (h != null && this.#lastIndex !== null && sameSalts(h, this.#lastIndex) && h.nBackfill > 0 && this.#backfillKeepsUp(h)) return;
      await this.#passiveCheckpoint();
    } else if (mode === 'TRUNCATE') {
      // With the WAL index the valve lets the application restart the WAL; the blocking backstop is for when it does not.
      if (this.#index !== null && this.#valveSkips === 0) return;
      await this.#truncateCheckpoint();
    }
  }

  /** Whether checkpoints by others have copied at least half of what the pin let them, i.e. someone else is checkpointing. */
  #backfillKeepsUp(h: WalIndexHeader): boolean {
    return h.nBackfill * 2 >= (this.#prevPinFrames ?? 0);
  }

  /**
   * Copies into the database what the pin allows: at most what was read,
   * once the pin is moved to the WAL's end. In pinned mode, if that was
   * everything, the pin is moved again at once: the new one lands on read
   * mark 0, which lets the application's next write restart the WAL from the
   * beginning (with the WAL index, the valve lets it go for that anyway).
   */
  async #passiveCheckpoint(): Promise<void> {
    // A pin on read mark 0 would let nothing be copied: move it to the WAL's end first.
    if (this.#pinCovered && !this.#session.held) {
      await this.#session.advance();
      this.#pinCovered = false;
    }
    const r = await this.#checkpoint('PASSIVE');
    this.#syncedSinceCheckpoint = false;
    const pos = this.#tracker.pos;
    const readFrames = pos.salts === null ? 0 : (pos.offset - WAL_HEADER_SIZE) / walFrameSize(this.pageSize);
    if (r.busy === 0 && r.log >= 0 && r.log === r.checkpointed && r.log === readFrames && !this.#session.held) {
      await this.#session.advance();
      // The new pin may have landed after a commit not read yet: the next sync reads before it moves again.
      this.#pinCovered = false;
    }
  }

  /**
   * The emergency backstop for a WAL that never found a quiet moment to
   * restart: TRUNCATE blocks writers while it copies everything and empties
   * the WAL. The pins must be let go for it, so anything committed between
   * the last read and the checkpoint may go into the database unseen: with
   * the WAL index the next read's commit count tells, otherwise data_version
   * does, and then the next sync reconciles exactly.
   */
  async #truncateCheckpoint(): Promise<void> {
    if (this.#session.held) return;
    const before = this.#session.dataVersion();
    const lost = await this.#trackChanges();
    if (lost !== null) {
      this.#continuity = { kind: 'unknown', reason: lost };
      return;
    }
    this.#session.unpin();
    let busy = 1;
    try {
      busy = (await this.#checkpoint('TRUNCATE')).busy;
    } finally {
      await this.#session.advance();
      this.#pinCovered = false;
      this.#countNextRead = true;
    }
    this.#syncedSinceCheckpoint = false;
    if (this.#index === null && this.#session.dataVersion() !== before) {
      this.#continuity = { kind: 'unknown', reason: 'the database changed while the TRUNCATE backstop ran unpinned' };
    }
    this.#log.info('truncate checkpoint', { busy });
  }

  // --- letting the WAL restart --------------------------------------------------

  /**
   * While the database is pinned no application can restart its WAL, so
   * under a sustained stream of commits the WAL would only grow. Once it
   * holds VALVE_MIN_FRAMES frames, after a sync that read everything and a
   * PASSIVE checkpoint that copied it into the database, the pin is let go
   * for at most VALVE_WAIT_MS: the application's next automatic checkpoint
   * finds almost nothing left to copy and its next transaction restarts the
   * WAL. The wait is synchronous, so the pin is taken again right after the
   * restart, before a second one could happen. What the old generation
   * committed meanwhile is read at once from where it still is, and the
   * count of commits in the WAL index proves that nothing was missed (or
   * the next sync compares the whole database).
   */
  async #openValve(): Promise<void> {
    const reader = this.#index;
    if (reader === null || this.#session.held || this.#continuity.kind !== 'known') return;
    if (this.#valveSkips > 0) {
      this.#valveSkips--;
      return;
    }
    const before = reader.readSync();
    if (before === null || before.mxFrame < VALVE_MIN_FRAMES) return;
    this.#session.unpin();
    const deadline = performance.now() + VALVE_WAIT_MS;
    let restarted = false;
    try {
      while (performance.now() < deadline) {
        const h = reader.readSync();
        if (h !== null && (h.salt1 !== before.salt1 || h.salt2 !== before.salt2)) {
          restarted = true;
          break;
        }
        Atomics.wait(VALVE_SLEEP, 0, 0, VALVE_POLL_MS);
      }
    } finally {
      await this.#session.advance();
      this.#pinCovered = false;
    }
    this.#countNextRead = true;
    const lost = await this.#trackChanges();
    if (lost !== null) {
      this.#continuity = { kind: 'unknown', reason: lost };
      this.#log.debug('commits may have gone unread while the WAL restarted; the next sync compares the whole database', { reason: lost });
      // Too slow to take the pin back in time (a loaded machine): each comparison reads the whole database, so wait a while.
      this.#valveSkips = VALVE_BACKOFF_TRIES;
    }
    this.#log.debug('pin let go for a WAL restart', { restarted, frames: before.mxFrame, lost: lost ?? 'none' });
    if (restarted) this.#valveMisses = 0;
    else if (++this.#valveMisses >= VALVE_MISSES_BEFORE_BACKOFF) {
      // The application does not restart the WAL (automatic checkpoints off?): try less often.
      this.#valveSkips = VALVE_BACKOFF_TRIES;
      this.#valveMisses = 0;
    }
  }

  // --- verification and healing ------------------------------------------------

  /**
   * Checks that the replica is right, and heals it when it is not:
   *
   * - the database, read whole as of the newest TXID, must have the checksum
   *   the model says the replica restores to (skipped while neither the
   *   TXID nor the database and WAL files changed since the last match); a
   *   mismatch (a writer that bypassed the WAL, local state lost) makes the
   *   next sync publish exactly the pages that differ;
   * - the replica's chain from its newest snapshot must reach what was
   *   uploaded, without a gap, and its files must be intact (files not seen
   *   before are read back, within a byte budget); a break (files deleted, a
   *   file damaged) is healed with a new snapshot at once;
   * - a replica past this replicator's TXID is another writer's: reported,
   *   and uploads stop.
   *
   * Each problem is logged once as an error and shown in status().validation.
   */
  async verify(options: { signal?: AbortSignal; replica?: string } = {}): Promise<ValidationStatus> {
    this.#assertOpen();
    const lanes = options.replica === undefined ? this.#lanes : [this.#lane(options.replica)];
    const local = await this.#checkDatabase();
    const txid = this.#txid;
    const checks: (Awaited<ReturnType<typeof checkReplica>> | Error)[] = [];
    for (const lane of lanes) {
      try {
        checks.push(
          await checkReplica({
            client: lane.client,
            uploadedTxid: lane.position.txid,
            localTxid: txid,
            verified: lane.verified,
            ...(options.signal === undefined ? {} : { signal: options.signal }),
          }),
        );
      } catch (err) {
        // With several replicas, one that cannot be read is reported and the others are still checked.
        if (lanes.length === 1) throw err;
        checks.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    if (checks.every((c) => c instanceof Error)) throw checks[0];
    let localHealedBy: string | undefined;
    if (local !== null && !this.#closed) {
      // The next sync publishes the pages that differ; run it now.
      await this.sync();
      localHealedBy = `L0 file ${formatTxid(this.#txid)}`;
    }
    let first: ValidationStatus | undefined;
    for (const [i, lane] of lanes.entries()) {
      const check = checks[i]!;
      if (check instanceof Error) {
        this.#log.error('checking the replica failed, will retry', { replica: lane.name, error: check.message });
        continue;
      }
      const problems = local === null ? [] : [local.problem];
      for (const p of check.problems) problems.push(p.message);
      let healedBy = localHealedBy;
      if (check.problems.some((p) => p.kind === 'ahead')) lane.position.markStale();
      else if (check.problems.length > 0 && !this.#closed) {
        const snap = await this.#heal(lane, check.problems.map((p) => p.message).join('; '));
        if (snap !== undefined) healedBy = `snapshot 1-${formatTxid(snap.maxTxid)}`;
      }
      const status: ValidationStatus = {
        at: new Date(),
        txid,
        ok: problems.length === 0,
        problems,
        restorableTxid: check.restorableTxid,
        databaseChecked: local?.checked ?? this.#lastLocalCheckRan,
        filesVerified: check.filesRead,
        filesPending: check.filesPending,
        ...(healedBy === undefined ? {} : { healedBy }),
      };
      const previous = lane.validation;
      lane.validation = status;
      first ??= status;
      await saveValidation(this.meta.dir, status, lane.primary ? undefined : lane.name).catch((err: unknown) =>
        this.#log.warn('saving the check result failed', { error: (err as Error).message }),
      );
      if (!status.ok) {
        const same = previous !== undefined && !previous.ok && previous.problems.join('\n') === problems.join('\n');
        if (!same) {
          this.#log.error('the replica diverged from the database', { ...this.#replicaField(lane), problems: problems.join('; '), healed_by: healedBy ?? 'not healed' });
        }
      } else if (previous !== undefined && !previous.ok) {
        this.#log.info('the replica matches the database again', { ...this.#replicaField(lane), txid: formatTxid(txid) });
      }
    }
    return first!;
  }

  /** Compares the database with the model; null when it matches (or there is nothing to compare). */
  async #checkDatabase(): Promise<{ problem: string; checked: true } | null> {
    this.#lastLocalCheckRan = false;
    const at = await this.#mutex.run(async () => {
      await this.#syncLocked(false, true);
      if (!this.#pinCovered) await this.#syncLocked(false, true);
      const model = this.#model;
      const stamp = `${this.#txid}:${await this.#walStamp()}:${await fileStamp(this.dbPath)}`;
      if (model === null || model.txid !== this.#txid || this.#continuity.kind !== 'known' || this.#tracker.hasPending || stamp === this.#lastLocalCheck) {
        return null;
      }
      return { txid: this.#txid, view: this.#tracker.view(true), checksum: model.checksum, stamp, release: this.#session.hold() };
    });
    if (at === null) return null;
    let sum: bigint;
    try {
      const state = await DatabaseState.open(this.#dbFile, this.walPath, this.pageSize, at.view);
      try {
        const acc = new DatabaseChecksum(this.pageSize);
        await state.forEachPage((pgno, data) => acc.toggle(pgno, data));
        sum = acc.digest();
      } finally {
        await state.close();
      }
    } catch (err) {
      // A WAL restart under a read-mark-0 pin: the next check reads it again.
      if (err instanceof WalChangedError) return null;
      throw err;
    } finally {
      at.release();
    }
    this.#lastLocalCheckRan = true;
    if (sum === at.checksum) {
      this.#lastLocalCheck = at.stamp;
      return null;
    }
    const problem = `the database at TXID ${formatTxid(at.txid)} has checksum ${sum.toString(16)}, but the replica restores to ${at.checksum.toString(16)} (it changed without going through the WAL this replicator reads)`;
    if (this.#continuity.kind === 'known') this.#continuity = { kind: 'unknown', reason: problem };
    return { problem, checked: true };
  }

  #requestHeal(lane: Lane, reason: string): void {
    if (this.#closed || lane.healing !== undefined) return;
    lane.healing = this.#heal(lane, reason)
      .then(() => undefined)
      .catch((err: unknown) =>
        this.#log.error('healing the replica failed, will retry at the next check', { ...this.#replicaField(lane), error: (err as Error).message }),
      )
      .finally(() => {
        lane.healing = undefined;
      });
  }

  /** Writes a snapshot so the replica is restorable again from it; undefined when closed meanwhile. */
  async #heal(lane: Lane, reason: string): Promise<LtxFileInfo | undefined> {
    if (this.#closed || this.#txid === 0n) return undefined;
    this.#log.warn('healing the replica with a new snapshot', { ...this.#replicaField(lane), reason });
    const snap = await this.snapshot({ replica: lane.name });
    lane.position.markStale();
    this.#onHeal?.(snap, lane.name);
    return snap;
  }

  #scheduleValidation(): void {
    if (this.#closed) return;
    this.#validationTimer = setTimeout(() => {
      void this.verify()
        .catch((err: unknown) => {
          if (!this.#closed) this.#log.error('checking the replica failed, will retry', { error: (err as Error).message });
        })
        .finally(() => this.#scheduleValidation());
    }, this.#validationIntervalMs);
    this.#validationTimer.unref?.();
  }

  // --- timers -----------------------------------------------------------------

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    if (this.#closed || this.#running) return;
    this.#running = true;
    const started = Date.now();
    let delay = this.#syncIntervalMs;
    try {
      await this.sync();
      this.#syncBackoff.reset();
      this.#syncReport.succeeded();
      // Syncs keep their cadence: a slow one does not push every later one back.
      delay = Math.max(0, this.#syncIntervalMs - (Date.now() - started));
    } catch (err) {
      // Also recorded in lastError by sync(); retried with backoff.
      delay = this.#syncBackoff.next();
      this.#syncReport.failed(err, { retry_in_ms: delay });
    } finally {
      this.#running = false;
    }
    if (this.#timer !== undefined) this.#schedule(delay);
  }

  #startWatch(): void {
    try {
      this.#watcher = watch(dirname(this.dbPath), (_event, name) => {
        if (name !== null && name !== basename(this.walPath)) return;
        if (this.#watchTimer !== undefined || this.#closed) return;
        this.#watchTimer = setTimeout(() => {
          this.#watchTimer = undefined;
          void this.#tickFromWatch();
        }, DEFAULT_WATCH_DEBOUNCE_MS);
      });
      this.#watcher.on('error', (err) => {
        this.#lastError = err;
      });
    } catch (err) {
      this.#lastError = err instanceof Error ? err : new Error(String(err));
    }
  }

  async #tickFromWatch(): Promise<void> {
    if (this.#closed || this.#running) return;
    this.#running = true;
    try {
      await this.sync();
      this.#syncReport.succeeded();
    } catch (err) {
      // The interval loop retries.
      this.#syncReport.failed(err);
    } finally {
      this.#running = false;
    }
  }

  #stopTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#validationTimer !== undefined) clearTimeout(this.#validationTimer);
    this.#validationTimer = undefined;
    if (this.#busyTimer !== undefined) clearTimeout(this.#busyTimer);
    this.#busyTimer = undefined;
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/** One replica of the database: its uploads, what was verified on it, its last check. */
interface Lane {
  readonly name: string;
  readonly client: ReplicaClient;
  /** Where the replica stands: the one record of it, which the uploader moves and everything else reads. */
  readonly position: ReplicaPosition;
  /** The first replica: its check is saved as validation.json, as with a single replica. */
  readonly primary: boolean;
  readonly uploader: Uploader;
  /** Fingerprints of files known to be intact on this replica (uploaded or read back). */
  readonly verified: Set<string>;
  validation: ValidationStatus | undefined;
  healing: Promise<void> | undefined;
}

/** The replicas of DbReplicatorOptions, checked: at least one, names unique. */
function replicaTargets(o: DbReplicatorOptions): readonly ReplicaTarget[] {
  const dbPath = resolve(o.dbPath);
  if (o.replicas !== undefined && o.client !== undefined) throw new DatabaseSetupError(`${dbPath}: give either client or replicas, not both`);
  const targets = o.replicas ?? (o.client === undefined ? [] : [{ name: o.client.type, client: o.client }]);
  if (targets.length === 0) throw new DatabaseSetupError(`${dbPath}: no replica given`);
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.name)) throw new DatabaseSetupError(`${dbPath}: two replicas are named ${JSON.stringify(t.name)}; give each a distinct name`);
    seen.add(t.name);
  }
  return targets;
}

function maxOf(values: readonly (bigint | undefined)[]): bigint {
  let max = 0n;
  for (const v of values) if (v !== undefined && v > max) max = v;
  return max;
}

async function fileStamp(path: string): Promise<string> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'missing';
  }
}
