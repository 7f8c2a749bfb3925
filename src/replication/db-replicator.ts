import { watch, type FSWatcher } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { isErrno } from '../io/durable-fs.js';
import { RetryReporter, silentLogger, type Logger } from '../logger.js';
import { DatabaseChecksum, pageChecksum } from '../ltx/checksum.js';
import { formatTxid } from '../ltx/file-name.js';
import { lockPgno } from '../ltx/constants.js';
import { readWalFrame } from '../sqlite/wal-reader.js';
import { sameSalts, walFrameSize, WAL_HEADER_SIZE } from '../sqlite/wal-header.js';
import type { WalPageMap } from '../sqlite/wal-page-map.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { open } from 'node:fs/promises';
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
import { ReplicatorLock } from './replicator-lock.js';
import { writeSnapshot } from './snapshot.js';
import { SqliteSession } from './sqlite-session.js';
import { replicaMaxTxid, Uploader } from './uploader.js';
import { NO_WAL_POSITION, positionAfter, readWalAfter, type WalPosition, type WalRead } from './wal-follower.js';

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
/** A reconcile that meets a WAL restart under it tries again this many times. */
const RECONCILE_ATTEMPTS = 5;
/**
 * How often the replica and the database are checked against the model by
 * default. Each check lists the replica's levels (an idle database makes no
 * other request); see verify().
 */
export const DEFAULT_VALIDATION_INTERVAL_MS = 5 * 60_000;

export interface DbReplicatorOptions {
  readonly dbPath: string;
  readonly client: ReplicaClient;
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
  readonly onL0File?: (info: LtxFileInfo) => void;
  /** Check the replica and the database this often (verify()); 0 never. Default DEFAULT_VALIDATION_INTERVAL_MS. */
  readonly validationIntervalMs?: number;
  /** Told when the replicator has healed the replica (a snapshot after files went missing), so caches of its listing can be dropped. */
  readonly onHeal?: (snapshot: LtxFileInfo) => void;
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

export interface ReplicationStatus {
  /** TXID of the newest local L0 file. */
  readonly localTxid: bigint;
  /** TXID the replica is known to hold. */
  readonly replicatedTxid: bigint;
  /** Logical WAL size: the end of the WAL range copied last. */
  readonly walSize: number;
  readonly lastSyncAt: Date | undefined;
  readonly lastError: Error | undefined;
  /** The database checksum at localTxid, as the replica restores it (undefined before the first file). */
  readonly checksum: bigint | undefined;
  /** The last check of the replica and the database (undefined before the first). */
  readonly validation: ValidationStatus | undefined;
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Reject at once when the replica refuses an upload for good (read-only, access denied), rather than at the timeout. */
  readonly failOnPermanentError?: boolean;
}

/**
 * Whether what the WAL shows can be followed incrementally. `pinned`: the
 * database has been pinned since the position was copied, so no frame after
 * it can have been overwritten, and a restart of the WAL is continuous.
 * Anything else (start-up, a lost pin) means the next sync reconciles: it
 * compares the whole database with the model and publishes exactly the pages
 * that differ (or a full image without a model).
 */
type Continuity = { readonly kind: 'pinned' } | { readonly kind: 'unknown'; readonly reason: string };

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
  readonly meta: LocalMeta;
  readonly pageSize: number;
  readonly #client: ReplicaClient;
  readonly #session: SqliteSession;
  readonly #dbFile: DatabaseFile;
  readonly #lock: ReplicatorLock;
  readonly #uploader: Uploader;
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
  #pos: WalPosition = NO_WAL_POSITION;
  #continuity: Continuity;
  /** The WAL has been copied at least up to the current pin's mark, so the pin may move on. */
  #pinCovered = false;
  #syncedSinceCheckpoint = false;
  #behindChecked = false;
  #needsRebaseline = false;
  /** WAL stat as of the last sync that found nothing new; an unchanged stat means an idle database. */
  #idleStamp: string | undefined;
  #lastSyncAt: Date | undefined;
  #lastError: Error | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #running = false;
  readonly #validationIntervalMs: number;
  readonly #onHeal: ((snapshot: LtxFileInfo) => void) | undefined;
  #validationTimer: NodeJS.Timeout | undefined;
  #validation: ValidationStatus | undefined;
  /** Fingerprints of replica files known to be intact: written here, or read back and verified. */
  readonly #verified = new Set<string>();
  /** What the database looked like when it last matched the model: TXID and file stamps. */
  #lastLocalCheck: string | undefined;
  #healing: Promise<void> | undefined;

  private constructor(
    o: DbReplicatorOptions,
    parts: { session: SqliteSession; dbFile: DatabaseFile; lock: ReplicatorLock; meta: LocalMeta; txid: bigint; model: DatabaseModel | null; why: string },
  ) {
    this.dbPath = resolve(o.dbPath);
    this.walPath = `${this.dbPath}-wal`;
    this.meta = parts.meta;
    this.pageSize = parts.session.pageSize;
    this.#client = o.client;
    this.#session = parts.session;
    this.#dbFile = parts.dbFile;
    this.#lock = parts.lock;
    this.#txid = parts.txid;
    this.#model = parts.model;
    this.#modelSavedTxid = parts.model?.txid ?? 0n;
    this.#continuity = { kind: 'unknown', reason: parts.why };
    this.#syncIntervalMs = o.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.#validationIntervalMs = o.validationIntervalMs ?? DEFAULT_VALIDATION_INTERVAL_MS;
    this.#onHeal = o.onHeal;
    this.#modelSaveIntervalMs = Math.min(MODEL_SAVE_INTERVAL_MS, Math.max(0, o.localL0RetentionMs ?? MODEL_SAVE_INTERVAL_MS));
    this.#syncBackoff = new Backoff(this.#syncIntervalMs, DEFAULT_SYNC_BACKOFF_MAX_MS);
    this.#log = (o.logger ?? silentLogger).with({ db: this.dbPath });
    this.#syncReport = new RetryReporter(this.#log, 'sync');
    this.#policy = {
      minCheckpointPageN: o.minCheckpointPageN ?? DEFAULT_MIN_CHECKPOINT_PAGE_N,
      truncatePageN: o.truncatePageN ?? DEFAULT_TRUNCATE_PAGE_N,
      checkpointIntervalMs: o.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
    };
    this.#uploader = new Uploader({
      client: o.client,
      meta: parts.meta,
      localTxid: () => this.#txid,
      keepFrom: () => this.#modelSavedTxid,
      onLocalFileMissing: () => {
        this.#needsRebaseline = true;
      },
      onReplicaBehind: (listed, uploaded) => {
        this.#requestHeal(`the replica's newest L0 TXID is ${formatTxid(listed)}, but ${formatTxid(uploaded)} was uploaded`);
      },
      logger: this.#log,
      onL0File: (info) => {
        this.#verified.add(fingerprint(info));
        o.onL0File?.(info);
      },
      ...(o.localL0RetentionMs === undefined ? {} : { localL0RetentionMs: o.localL0RetentionMs }),
      ...(o.uploadRetryBaseMs === undefined ? {} : { retryBaseMs: o.uploadRetryBaseMs }),
      ...(o.uploadRetryMaxMs === undefined ? {} : { retryMaxMs: o.uploadRetryMaxMs }),
      ...(o.replicaCheckIntervalMs === undefined ? {} : { replicaCheckIntervalMs: o.replicaCheckIntervalMs }),
    });
  }

  /**
   * Opens the database for replication: takes the replicator lock, converts
   * the database to WAL mode if needed, pins it, and loads the local state.
   * Starts the upload loop (so files left by an earlier run go out); call
   * `start()` for periodic syncs. Nothing is written to the database.
   */
  static async open(o: DbReplicatorOptions): Promise<DbReplicator> {
    const dbPath = resolve(o.dbPath);
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
    try {
      dbFile = await DatabaseFile.open(dbPath);
      const meta = new LocalMeta(metaDir);
      await meta.removeStaleTemps();
      session = await SqliteSession.open(dbPath, o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
      const txid = await meta.maxTxid();
      let model: DatabaseModel | null = null;
      let why = 'first sync';
      if (txid > 0n) {
        const recovered = await recoverModel(meta, session.pageSize, txid);
        model = recovered.model;
        why = recovered.model === null ? `the local model of TXID ${formatTxid(txid)} is unusable: ${recovered.reason}` : 'start-up';
      }
      const r = new DbReplicator(o, { session, dbFile, lock, meta, txid, model, why });
      r.#uploader.start();
      r.#uploader.notify();
      return r;
    } catch (err) {
      session?.close();
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
      try {
        const wrote = await this.#syncLocked(true);
        this.#lastError = undefined;
        return wrote;
      } catch (err) {
        this.#lastError = err instanceof Error ? err : new Error(String(err));
        throw err;
      }
    });
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
    this.#uploader.notify();
    const waits: Promise<void>[] = [this.#uploader.waitFor(txid, { failOnPermanentError: options.failOnPermanentError ?? false })];
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs !== undefined) {
      waits.push(
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            const cause = this.#uploader.lastError;
            const why = cause === undefined ? '' : `: ${cause.message}`;
            reject(
              new ReplicationTimeoutError(
                `${this.dbPath}: replica did not reach TXID ${formatTxid(txid)} within ${options.timeoutMs} ms (it holds ${formatTxid(this.#uploader.replicatedTxid)})${why}`,
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
  async snapshot(): Promise<LtxFileInfo> {
    this.#assertOpen();
    const at = await this.#mutex.run(async () => {
      await this.#syncLocked(false);
      // A pin moved past what was copied would let the image see newer pages.
      if (!this.#pinCovered) await this.#syncLocked(false);
      if (this.#txid === 0n || this.#model === null) throw new DatabaseNotReadyError(`${this.dbPath}: nothing synced yet to snapshot`);
      const release = this.#session.hold();
      return { txid: this.#txid, pos: this.#pos, checksum: this.#model.checksum, release };
    });
    try {
      const info = await writeSnapshot({
        client: this.#client,
        db: this.#dbFile,
        walPath: this.walPath,
        pageSize: this.pageSize,
        txid: at.txid,
        pos: at.pos,
        expectedChecksum: at.checksum,
      });
      this.#verified.add(fingerprint(info));
      this.#log.info('snapshot complete', { txid: formatTxid(at.txid), size: info.size });
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
    return {
      localTxid: this.#txid,
      replicatedTxid: this.#uploader.replicatedTxid,
      walSize: this.#pos.salts === null ? 0 : this.#pos.offset,
      lastSyncAt: this.#lastSyncAt,
      lastError: this.#lastError ?? this.#uploader.lastError,
      checksum: this.#model?.checksum,
      validation: this.#validation,
    };
  }

  /** The database checksum the replica restores to at `txid`, for recent TXIDs. */
  checksumAt(txid: bigint): bigint | undefined {
    return this.#checksums.get(txid);
  }

  /**
   * Stops the loops, makes a final sync and waits (up to `timeoutMs`) for it
   * to reach the replica, then saves the model, releases the pin and closes
   * the connections and the lock. A final sync or upload that fails is
   * recorded in the error thrown, after everything has been released.
   */
  async close(options: { timeoutMs?: number; finalSync?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#stopTimers();
    let failure: unknown;
    try {
      // A database that is gone (deleted from a watched directory) has nothing left to sync.
      if (options.finalSync !== false) await this.sync();
      await this.waitForReplication(this.#txid, { timeoutMs: options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS });
    } catch (err) {
      failure = err;
    }
    this.#closed = true;
    await this.#healing?.catch(() => undefined);
    await this.#mutex.run(async () => {
      await this.#uploader.stop();
      await this.#saveModel(true).catch((err: unknown) => this.#log.warn('saving the model failed', { error: (err as Error).message }));
      this.#session.close();
      await this.#dbFile.close();
      await this.#lock.release();
    });
    if (failure !== undefined) throw failure;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ReplicatorClosedError(`${this.dbPath}: replicator is closed`);
  }

  // --- sync ---------------------------------------------------------------

  async #syncLocked(allowCheckpoint: boolean): Promise<boolean> {
    this.#assertOpen();
    if (!this.#behindChecked) {
      await this.#checkBehindReplica();
      this.#behindChecked = true;
    }
    if (this.#needsRebaseline) await this.#rebaseline('a local L0 file was lost before upload');

    const walStamp = await this.#walStamp();
    if (this.#continuity.kind === 'pinned' && walStamp !== undefined && walStamp === this.#idleStamp) {
      this.#lastSyncAt = new Date();
      return false;
    }
    const prevOffset = this.#pos.offset;
    // Hand the pin over only once the WAL was copied up to where the current pin stands.
    if (this.#pinCovered && !this.#session.held) {
      await this.#session.advance();
      this.#pinCovered = false;
    } else if (!this.#session.pinned) {
      await this.#session.advance();
      this.#pinCovered = false;
      this.#continuity = { kind: 'unknown', reason: 'the database was not pinned' };
    }

    let wrote: boolean;
    if (this.#continuity.kind !== 'pinned') wrote = await this.#reconcile(this.#continuity.reason);
    else wrote = await this.#follow();
    this.#idleStamp = wrote ? undefined : walStamp;
    if (wrote) {
      this.#syncedSinceCheckpoint = true;
      this.#uploader.notify();
    }
    if (allowCheckpoint) await this.#checkpointIfNeeded(prevOffset);
    await this.#saveModel(false).catch((err: unknown) => this.#log.warn('saving the model failed', { error: (err as Error).message }));
    this.#lastSyncAt = new Date();
    return wrote;
  }

  /** Copies the frames committed after the position; anything that cannot be followed is reconciled. */
  async #follow(): Promise<boolean> {
    const read = await readWalAfter(this.walPath, this.#pos);
    switch (read.kind) {
      case 'missing':
        // Impossible while this process holds its lock on the database: something released it.
        return this.#reconcile('the WAL was deleted while the database was pinned (a lock on the database file was lost)');
      case 'shrunk':
        return this.#reconcile(`the WAL is ${read.size} bytes, shorter than the ${this.#pos.offset} bytes already copied from it`);
      case 'empty':
        // Emptied by a TRUNCATE checkpoint: possible only once every frame had been copied.
        this.#pinCovered = true;
        return false;
      case 'frames':
        break;
    }
    if (read.map.maxOffset === read.map.offset) {
      this.#pos = positionAfter(this.#pos, read);
      this.#pinCovered = true;
      return false;
    }
    try {
      await this.#publishFrames(read);
    } catch (err) {
      if (err instanceof PublishGuardError) {
        this.#log.warn('an L0 file failed its check before publishing; writing the pages that changed from the database instead', { error: err.message });
        return this.#reconcile(err.message);
      }
      // Frames do not change under a pin; if they did, the pin was not what it seemed.
      if (err instanceof WalChangedError) return this.#reconcile(err.message);
      throw err;
    }
    this.#pinCovered = true;
    return true;
  }

  /** Publishes the committed frames of a WAL read as the next L0 file. */
  async #publishFrames(read: WalRead & { kind: 'frames' }): Promise<void> {
    const model = this.#model!;
    const map = read.map;
    const next = positionAfter(this.#pos, read);
    const lock = lockPgno(this.pageSize);
    // A file that grows the database must carry every new page; the WAL does not always hold them (freed pages).
    const fill: number[] = [];
    for (let p = model.commit + 1; p <= map.commit; p++) if (p !== lock && !map.pages.has(p)) fill.push(p);
    const pgnos = [...map.pages.keys(), ...fill].sort((a, b) => a - b);
    const txid = this.#txid + 1n;
    const wal = await open(this.walPath, 'r');
    let state: DatabaseState | undefined;
    try {
      if (fill.length > 0) state = await DatabaseState.open(this.#dbFile, this.walPath, this.pageSize, next);
      const content: L0Content = {
        txid,
        pageSize: this.pageSize,
        commit: map.commit,
        full: false,
        walOffset: map.offset,
        walSize: map.maxOffset - map.offset,
        salts: { salt1: map.salt1, salt2: map.salt2 },
        what: `L0 file ${formatTxid(txid)} (WAL ${map.offset}-${map.maxOffset})`,
        emit: async (write) => {
          for (const pgno of pgnos) {
            const offset = map.pages.get(pgno);
            if (offset === undefined) await write(pgno, await state!.page(pgno));
            else await write(pgno, await walFramePage(wal, this.walPath, map, pgno, offset));
          }
        },
      };
      await this.#publish(content, next);
    } finally {
      await wal.close();
      await state?.close();
    }
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
    const read = await readWalAfter(this.walPath, NO_WAL_POSITION);
    const pos = read.kind === 'frames' ? positionAfter(NO_WAL_POSITION, read) : NO_WAL_POSITION;
    const state = await DatabaseState.open(this.#dbFile, this.walPath, this.pageSize, pos);
    try {
      const model = this.#model !== null && this.#model.txid === this.#txid ? this.#model : null;
      const txid = this.#txid + 1n;
      const salts = pos.salts ?? { salt1: 0, salt2: 0 };
      const base = {
        txid,
        pageSize: this.pageSize,
        commit: state.commit,
        walOffset: WAL_HEADER_SIZE,
        walSize: pos.offset - WAL_HEADER_SIZE,
        salts,
      };
      if (model === null) {
        if (this.#txid > 0n) this.#log.info('writing a full database image', { txid: formatTxid(txid), reason });
        await this.#publish(
          { ...base, full: true, what: `full image L0 ${formatTxid(txid)}`, emit: (write) => state.forEachPage(write) },
          pos,
        );
        return true;
      }
      const changed: number[] = [];
      await state.forEachPage((pgno, data) => {
        if (pgno > model.commit || pageChecksum(pgno, data) !== model.pageSum(pgno)) changed.push(pgno);
      });
      if (changed.length === 0 && state.commit === model.commit) {
        this.#pos = pos;
        this.#continuity = { kind: 'pinned' };
        this.#pinCovered = true;
        this.#log.debug('database matches the replica', { txid: formatTxid(this.#txid), reason });
        return false;
      }
      this.#log.info('publishing the pages that changed unseen', { txid: formatTxid(txid), pages: changed.length, commit: state.commit, reason });
      await this.#publish(
        {
          ...base,
          full: false,
          what: `reconciling L0 ${formatTxid(txid)}`,
          emit: async (write) => {
            for (const pgno of changed) await write(pgno, await state.page(pgno));
          },
        },
        pos,
      );
      return true;
    } finally {
      await state.close();
    }
  }

  /** Writes an L0 file and, once it is durable, moves the model, the TXID and the WAL position on. */
  async #publish(content: L0Content, next: WalPosition): Promise<void> {
    const metaLost = await this.#metaDirLost();
    const written = await writeL0(this.meta, content, content.full ? null : this.#model);
    if (metaLost) await this.#restoreLock();
    this.#model = written.change.applyTo(content.full ? null : this.#model, content.txid);
    this.#txid = content.txid;
    this.#pos = next;
    this.#continuity = { kind: 'pinned' };
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
    await this.#uploader.lock.run(async () => {
      const remote = await replicaMaxTxid(this.#client);
      if (this.#txid >= remote) return;
      await this.meta.clear();
      await rm(modelPath(this.meta.dir), { force: true });
      this.#txid = remote;
      this.#model = null;
      this.#modelSavedTxid = 0n;
      this.#continuity = { kind: 'unknown', reason: `the replica is ahead of the database, at TXID ${formatTxid(remote)}` };
      this.#log.warn("database is behind its replica (restored from an older backup?); continuing after the replica's TXID with a full image", {
        replica_txid: formatTxid(remote),
      });
      this.#uploader.adopt(remote);
    });
  }

  /**
   * Local L0 state is gone or incomplete: drop the local files the replica
   * does not have and continue at the replica's TXID + 1 with a full image.
   */
  async #rebaseline(reason: string): Promise<void> {
    await this.#uploader.lock.run(async () => {
      const remote = await replicaMaxTxid(this.#client);
      await this.meta.removeAbove(remote);
      await rm(modelPath(this.meta.dir), { force: true });
      this.#txid = remote;
      this.#model = null;
      this.#modelSavedTxid = 0n;
      this.#continuity = { kind: 'unknown', reason: `${reason}; continuing from the replica's TXID ${formatTxid(remote)}` };
      this.#log.warn('local replication state lost; continuing from the replica with a full image', { reason, replica_txid: formatTxid(remote) });
      this.#needsRebaseline = false;
      this.#uploader.adopt(remote);
    });
  }

  // --- checkpoints ----------------------------------------------------------

  async #checkpointIfNeeded(prevOffset: number): Promise<void> {
    if (this.#continuity.kind !== 'pinned') return;
    const walSize = this.#pos.salts === null ? 0 : this.#pos.offset;
    const mode = await chooseCheckpoint(this.#policy, {
      pageSize: this.pageSize,
      origWalSize: Math.max(prevOffset, walSize),
      newWalSize: walSize,
      syncedSinceCheckpoint: this.#syncedSinceCheckpoint,
      dbMtimeMs: async () => (await stat(this.dbPath)).mtimeMs,
      now: Date.now(),
    });
    if (mode === 'PASSIVE') await this.#passiveCheckpoint();
    else if (mode === 'TRUNCATE') await this.#truncateCheckpoint();
  }

  /**
   * Copies into the database what the pin allows (at most what was copied
   * into L0 files, once the pin is moved to the WAL's end). If that was
   * everything, the pin is moved again at once: the new one lands on read
   * mark 0, which lets the application's next write restart the WAL from the
   * beginning.
   */
  async #passiveCheckpoint(): Promise<void> {
    // A pin on read mark 0 would let nothing be copied: move it to the WAL's end first.
    if (this.#pinCovered && !this.#session.held) {
      await this.#session.advance();
      this.#pinCovered = false;
    }
    const r = this.#session.checkpoint('PASSIVE');
    this.#syncedSinceCheckpoint = false;
    const copiedFrames = this.#pos.salts === null ? 0 : (this.#pos.offset - WAL_HEADER_SIZE) / walFrameSize(this.pageSize);
    if (r.busy === 0 && r.log >= 0 && r.log === r.checkpointed && r.log === copiedFrames && !this.#session.held) {
      await this.#session.advance();
      // The new pin may have landed after a commit not copied yet: the next sync copies before it moves again.
      this.#pinCovered = false;
    }
  }

  /**
   * The emergency backstop for a WAL that never found a quiet moment to
   * restart: TRUNCATE blocks writers while it copies everything and empties
   * the WAL. The pins must be let go for it, so anything committed between
   * the last copy and the checkpoint may go into the database unseen;
   * data_version tells, and then the next sync reconciles exactly.
   */
  async #truncateCheckpoint(): Promise<void> {
    if (this.#session.held) return;
    const before = this.#session.dataVersion();
    await this.#follow();
    this.#session.unpin();
    let busy = 1;
    try {
      busy = this.#session.checkpoint('TRUNCATE').busy;
    } finally {
      await this.#session.advance();
      this.#pinCovered = false;
    }
    this.#syncedSinceCheckpoint = false;
    if (this.#session.dataVersion() !== before) {
      this.#continuity = { kind: 'unknown', reason: 'the database changed while the TRUNCATE backstop ran unpinned' };
    }
    this.#log.info('truncate checkpoint', { busy });
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
  async verify(options: { signal?: AbortSignal } = {}): Promise<ValidationStatus> {
    this.#assertOpen();
    const problems: string[] = [];
    const local = await this.#checkDatabase();
    if (local !== null) problems.push(local.problem);
    const txid = this.#txid;
    const check = await checkReplica({
      client: this.#client,
      uploadedTxid: this.#uploader.replicatedTxid,
      localTxid: txid,
      verified: this.#verified,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    for (const p of check.problems) problems.push(p.message);
    let healedBy: string | undefined;
    if (local !== null && !this.#closed) {
      // The next sync publishes the pages that differ; run it now.
      await this.sync();
      healedBy = `L0 file ${formatTxid(this.#txid)}`;
    }
    if (check.problems.some((p) => p.kind === 'ahead')) this.#uploader.recheck();
    else if (check.problems.length > 0 && !this.#closed) {
      const snap = await this.#heal(check.problems.map((p) => p.message).join('; '));
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
    const previous = this.#validation;
    this.#validation = status;
    if (!status.ok) {
      const same = previous !== undefined && !previous.ok && previous.problems.join('\n') === problems.join('\n');
      if (!same) this.#log.error('the replica diverged from the database', { problems: problems.join('; '), healed_by: healedBy ?? 'not healed' });
    } else if (previous !== undefined && !previous.ok) {
      this.#log.info('the replica matches the database again', { txid: formatTxid(txid) });
    }
    return status;
  }

  #lastLocalCheckRan = false;

  /** Compares the database with the model; null when it matches (or there is nothing to compare). */
  async #checkDatabase(): Promise<{ problem: string; checked: true } | null> {
    this.#lastLocalCheckRan = false;
    const at = await this.#mutex.run(async () => {
      await this.#syncLocked(false);
      if (!this.#pinCovered) await this.#syncLocked(false);
      const model = this.#model;
      if (model === null || model.txid !== this.#txid || this.#continuity.kind !== 'pinned') return null;
      const stamp = `${this.#txid}:${await this.#walStamp()}:${await fileStamp(this.dbPath)}`;
      if (stamp === this.#lastLocalCheck) return null;
      return { txid: this.#txid, pos: this.#pos, checksum: model.checksum, stamp, release: this.#session.hold() };
    });
    if (at === null) return null;
    let sum: bigint;
    try {
      const state = await DatabaseState.open(this.#dbFile, this.walPath, this.pageSize, at.pos);
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
    if (this.#continuity.kind === 'pinned') this.#continuity = { kind: 'unknown', reason: problem };
    return { problem, checked: true };
  }

  #requestHeal(reason: string): void {
    if (this.#closed || this.#healing !== undefined) return;
    this.#healing = this.#heal(reason)
      .then(() => undefined)
      .catch((err: unknown) => this.#log.error('healing the replica failed, will retry at the next check', { error: (err as Error).message }))
      .finally(() => {
        this.#healing = undefined;
      });
  }

  /** Writes a snapshot so the replica is restorable again from it; undefined when closed meanwhile. */
  async #heal(reason: string): Promise<LtxFileInfo | undefined> {
    if (this.#closed || this.#txid === 0n) return undefined;
    this.#log.warn('healing the replica with a new snapshot', { reason });
    const snap = await this.snapshot();
    this.#uploader.recheck();
    this.#onHeal?.(snap);
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
    let delay = this.#syncIntervalMs;
    try {
      await this.sync();
      this.#syncBackoff.reset();
      this.#syncReport.succeeded();
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
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

async function fileStamp(path: string): Promise<string> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'missing';
  }
}

/** A page from a frame the map names, checked to be the frame the map saw (frames are fixed while the database is pinned). */
async function walFramePage(wal: Awaited<ReturnType<typeof open>>, walPath: string, map: WalPageMap, pgno: number, offset: number): Promise<Uint8Array> {
  const frame = await readWalFrame(wal, offset, map.pageSize, { file: walPath });
  if (frame.pgno !== pgno || !sameSalts(frame, map)) {
    throw new WalChangedError(`${walPath}: frame at offset ${offset} changed while it was being copied`);
  }
  return frame.data;
}
