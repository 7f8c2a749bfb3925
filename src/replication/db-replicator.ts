import { watch, type FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { isErrno } from '../io/durable-fs.js';
import { RetryReporter, silentLogger, type Logger } from '../logger.js';
import type { LtxHeader } from '../ltx/header.js';
import { SQLITE_HEADER_SIZE, sqlitePageSize } from '../sqlite/database-file.js';
import { WAL_HEADER_SIZE } from '../sqlite/wal-header.js';
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
import {
  DatabaseNotReadyError,
  DatabaseSetupError,
  LocalStateError,
  ReplicationTimeoutError,
  ReplicatorClosedError,
} from './errors.js';
import { writeL0 } from './l0-writer.js';
import { defaultMetaDir, LocalMeta } from './local-meta.js';
import { writeSnapshot } from './snapshot.js';
import { SqliteSession, type CheckpointMode } from './sqlite-session.js';
import { decideSync, type LastL0, type SyncDecision } from './sync-decision.js';
import { replicaMaxTxid, Uploader } from './uploader.js';

/** How often the background loop syncs. */
export const DEFAULT_SYNC_INTERVAL_MS = 1000;
/** How long the replicator waits for SQLite locks (read transaction, write lock, TRUNCATE). */
export const DEFAULT_BUSY_TIMEOUT_MS = 1000;
/** Upper bound of the background sync loop's retry delay after errors. */
export const DEFAULT_SYNC_BACKOFF_MAX_MS = 60_000;
/** Changes to the WAL are gathered this long before a watch-triggered sync. */
export const DEFAULT_WATCH_DEBOUNCE_MS = 20;
/** How long `close()` waits for the final upload. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

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
}

export interface ReplicationStatus {
  /** TXID of the newest local L0 file. */
  readonly localTxid: bigint;
  /** TXID the replica is known to hold. */
  readonly replicatedTxid: bigint;
  /** Logical WAL size: the end of the WAL range synced last. */
  readonly walSize: number;
  readonly lastSyncAt: Date | undefined;
  readonly lastError: Error | undefined;
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

interface Position {
  readonly txid: bigint;
  /** Header of L0 file `txid`; null when it is missing or unreadable (the next sync writes a full image). */
  readonly header: LtxHeader | null;
  readonly reason: string;
}

/**
 * Replicates one SQLite database to one replica, Litestream v0.5 style: each
 * sync turns the WAL written since the last one into an L0 LTX file in the
 * local meta directory, and an upload loop copies those files to the replica
 * in TXID order.
 */
export class DbReplicator {
  readonly dbPath: string;
  readonly walPath: string;
  readonly meta: LocalMeta;
  readonly pageSize: number;
  readonly #client: ReplicaClient;
  readonly #session: SqliteSession;
  readonly #uploader: Uploader;
  readonly #policy: CheckpointPolicy;
  readonly #syncIntervalMs: number;
  readonly #mutex = new AsyncMutex();
  readonly #syncBackoff: Backoff;
  readonly #log: Logger;
  readonly #syncReport: RetryReporter;
  #pos: Position;
  #lastSyncedWalOffset = 0;
  #syncedToWalEnd = false;
  #trustRestart = true;
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
  /** Snapshots being built from the WAL: while any is, this replicator does not checkpoint. */
  #snapshotting = 0;

  private constructor(o: DbReplicatorOptions, session: SqliteSession, meta: LocalMeta, pageSize: number, pos: Position) {
    this.dbPath = resolve(o.dbPath);
    this.walPath = `${this.dbPath}-wal`;
    this.meta = meta;
    this.pageSize = pageSize;
    this.#client = o.client;
    this.#session = session;
    this.#pos = pos;
    this.#syncIntervalMs = o.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
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
      meta,
      localTxid: () => this.#pos.txid,
      onLocalFileMissing: () => {
        this.#needsRebaseline = true;
      },
      logger: this.#log,
      ...(o.onL0File === undefined ? {} : { onL0File: o.onL0File }),
      ...(o.localL0RetentionMs === undefined ? {} : { localL0RetentionMs: o.localL0RetentionMs }),
      ...(o.uploadRetryBaseMs === undefined ? {} : { retryBaseMs: o.uploadRetryBaseMs }),
      ...(o.uploadRetryMaxMs === undefined ? {} : { retryMaxMs: o.uploadRetryMaxMs }),
      ...(o.replicaCheckIntervalMs === undefined ? {} : { replicaCheckIntervalMs: o.replicaCheckIntervalMs }),
    });
  }

  /**
   * Opens the database for replication: WAL mode, the `_litestream_*` tables,
   * the long-running read transaction, and the local meta directory. Starts the
   * upload loop (so files left by an earlier run go out); call `start()` for
   * periodic syncs.
   */
  static async open(o: DbReplicatorOptions): Promise<DbReplicator> {
    const dbPath = resolve(o.dbPath);
    if (o.minCheckpointPageN !== undefined && o.minCheckpointPageN <= 0) {
      throw new DatabaseSetupError(`${dbPath}: minCheckpointPageN must be positive, got ${o.minCheckpointPageN}`);
    }
    await checkIsDatabase(dbPath);
    const meta = new LocalMeta(o.metaDir ?? defaultMetaDir(dbPath));
    await meta.removeStaleTemps();
    const session = await SqliteSession.open(dbPath, o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    try {
      const pos = await loadPosition(meta);
      const r = new DbReplicator(o, session, meta, session.pageSize, pos);
      r.#uploader.start();
      r.#uploader.notify();
      return r;
    } catch (err) {
      session.close();
      throw err;
    }
  }

  /** Syncs every `syncIntervalMs` (and, with `watch`, soon after each WAL change) until `close()`. */
  start(options: { watch?: boolean } = {}): void {
    this.#assertOpen();
    if (this.#timer === undefined) this.#schedule(0);
    if (options.watch === true && this.#watcher === undefined) this.#startWatch();
  }

  /**
   * Copies what was committed to the WAL since the last sync into the next L0
   * file (or a full image when continuity cannot be proven), then checkpoints
   * if the WAL has grown. Resolves true when a file was written.
   */
  sync(): Promise<boolean> {
    this.#assertOpen();
    return this.#mutex.run(async () => {
      try {
        const wrote = await this.#syncLocked();
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
    const txid = this.#pos.txid;
    await this.waitForReplication(txid, options);
    return txid;
  }

  /** Resolves once the replica holds `txid`; rejects with ReplicationTimeoutError after `timeoutMs`. */
  async waitForReplication(txid: bigint, options: WaitOptions = {}): Promise<void> {
    this.#uploader.notify();
    const waits: Promise<void>[] = [this.#uploader.waitFor(txid)];
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs !== undefined) {
      waits.push(
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            const cause = this.#uploader.lastError;
            reject(
              new ReplicationTimeoutError(
                `${this.dbPath}: replica did not reach TXID ${txid} within ${options.timeoutMs} ms (at ${this.#uploader.replicatedTxid})`,
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
   * is written; checkpoints wait for it.
   */
  async snapshot(): Promise<LtxFileInfo> {
    this.#assertOpen();
    const at = await this.#mutex.run(async () => {
      await this.#syncLocked();
      const header = this.#pos.header ?? (this.#pos.txid > 0n ? await this.meta.readHeader(this.#pos.txid) : null);
      if (header === null) throw new DatabaseNotReadyError(`${this.dbPath}: nothing synced yet to snapshot`);
      this.#snapshotting++;
      return { txid: this.#pos.txid, header };
    });
    try {
      const info = await writeSnapshot({
        client: this.#client,
        dbPath: this.dbPath,
        walPath: this.walPath,
        pageSize: this.pageSize,
        txid: at.txid,
        walEnd: at.header.walOffset + at.header.walSize,
        salts: { salt1: at.header.walSalt1, salt2: at.header.walSalt2 },
      });
      this.#log.info('snapshot complete', { txid: hex(at.txid), size: info.size });
      return info;
    } finally {
      this.#snapshotting--;
    }
  }

  status(): ReplicationStatus {
    return {
      localTxid: this.#pos.txid,
      replicatedTxid: this.#uploader.replicatedTxid,
      walSize: this.#lastSyncedWalOffset,
      lastSyncAt: this.#lastSyncAt,
      lastError: this.#lastError ?? this.#uploader.lastError,
    };
  }

  /**
   * Stops the loops, makes a final sync and waits (up to `timeoutMs`) for it
   * to reach the replica, then releases the read transaction and closes the
   * connections. A final sync or upload that fails is recorded in the error
   * thrown, after everything has been released.
   */
  async close(options: { timeoutMs?: number; finalSync?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#stopTimers();
    let failure: unknown;
    try {
      // A database that is gone (deleted from a watched directory) has nothing left to sync.
      if (options.finalSync !== false) await this.sync();
      await this.waitForReplication(this.#pos.txid, { timeoutMs: options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS });
    } catch (err) {
      failure = err;
    }
    this.#closed = true;
    await this.#mutex.run(async () => {
      await this.#uploader.stop();
      this.#session.close();
    });
    if (failure !== undefined) throw failure;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ReplicatorClosedError(`${this.dbPath}: replicator is closed`);
  }

  // --- sync ---------------------------------------------------------------

  async #syncLocked(): Promise<boolean> {
    this.#assertOpen();
    await this.#ensureWalExists();
    if (!this.#behindChecked) {
      await this.#checkBehindReplica();
      this.#behindChecked = true;
    }
    if (this.#needsRebaseline) await this.#rebaseline('a local L0 file was lost before upload');

    const walStamp = await this.#walStamp();
    let wrote = false;
    let orig = this.#lastSyncedWalOffset;
    let next = orig;
    if (walStamp === undefined || walStamp !== this.#idleStamp || this.#pos.header === null) {
      const r = await this.#verifyAndSync();
      orig = r.orig;
      next = r.next;
      wrote = r.wrote;
      this.#idleStamp = wrote ? undefined : walStamp;
    }
    if (wrote) {
      this.#syncedSinceCheckpoint = true;
      this.#uploader.notify();
    }
    await this.#checkpointIfNeeded(orig, next);
    this.#lastSyncAt = new Date();
    return wrote;
  }

  async #verifyAndSync(): Promise<{ orig: number; next: number; wrote: boolean }> {
    // The logical end of what was synced, not the file size, which may hold stale frames (#997).
    const orig = this.#lastSyncedWalOffset === 0 ? await fileSize(this.walPath) : this.#lastSyncedWalOffset;
    const decision = await this.#decide();
    const txid = this.#pos.txid + 1n;
    if (decision.snapshot && this.#pos.txid > 0n) this.#log.info('writing a full database image', { txid: hex(txid), reason: decision.reason });
    const written = await writeL0({
      meta: this.meta,
      dbPath: this.dbPath,
      walPath: this.walPath,
      pageSize: this.pageSize,
      txid,
      decision,
    });
    if (written === null) return { orig, next: this.#lastSyncedWalOffset || orig, wrote: false };
    this.#pos = { txid, header: written.header, reason: '' };
    this.#lastSyncedWalOffset = written.walEnd;
    this.#syncedToWalEnd = written.walEnd === written.walFileSize;
    // Anything committed before this read is now either in this file or provably absent.
    this.#trustRestart = true;
    return { orig, next: written.walEnd, wrote: true };
  }

  async #decide(): Promise<SyncDecision> {
    let last: LastL0 | null = null;
    let reason = this.#pos.reason;
    if (this.#pos.txid > 0n) {
      let header = this.#pos.header;
      // The cached header is only as good as the file behind it, which may have been deleted since.
      if (header !== null && (await fileSize(this.meta.pathOf(this.#pos.txid))) === 0) header = null;
      if (header === null && reason === '') {
        try {
          header = await this.meta.readHeader(this.#pos.txid);
        } catch (err) {
          if (!(err instanceof LocalStateError)) throw err;
          reason = err.message;
        }
      }
      if (header === null && reason === '') {
        // The meta directory was removed under us: start again from what the replica holds.
        await this.#rebaseline(`local L0 file ${this.meta.pathOf(this.#pos.txid)} is missing`);
        reason = this.#pos.reason;
      } else if (header !== null) {
        last = { header, path: this.meta.pathOf(this.#pos.txid) };
      }
    }
    return decideSync({
      walPath: this.walPath,
      pageSize: this.pageSize,
      last,
      noStateReason: reason === '' ? 'first sync' : reason,
      syncedToWalEnd: this.#syncedToWalEnd,
      trustRestart: this.#trustRestart,
    });
  }

  /** A WAL shorter than its header has no salts to continue from; a committed write gives it one. */
  async #ensureWalExists(): Promise<void> {
    if ((await fileSize(this.walPath)) < WAL_HEADER_SIZE) await this.#session.bumpSeq();
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
   * replica's newest L0 file as the local position, so the next sync writes
   * (almost always) a full image at the replica's TXID + 1.
   */
  async #checkBehindReplica(): Promise<void> {
    await this.#uploader.lock.run(async () => {
      const remote = await replicaMaxTxid(this.#client);
      if (this.#pos.txid >= remote) return;
      await this.meta.clear();
      await this.meta.write(remote, async (sink) => {
        for await (const chunk of await this.#client.openLtxFile(0, remote, remote)) await sink.write(chunk);
      });
      this.#pos = { txid: remote, header: await this.meta.readHeader(remote), reason: '' };
      this.#log.warn('database is behind its replica (restored from an older backup?); continuing after the replica\'s TXID', {
        replica_txid: hex(remote),
      });
      this.#uploader.invalidate();
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
      this.#pos = { txid: remote, header: null, reason: `${reason}; continuing from the replica's TXID ${remote}` };
      this.#log.warn('local replication state lost; continuing from the replica with a full image', { reason, replica_txid: hex(remote) });
      this.#needsRebaseline = false;
      this.#uploader.invalidate();
    });
  }

  // --- checkpoints ----------------------------------------------------------

  async #checkpointIfNeeded(orig: number, next: number): Promise<void> {
    // A checkpoint could restart the WAL under a snapshot still reading it; the WAL just grows until it is done.
    if (this.#snapshotting > 0) return;
    const mode = await chooseCheckpoint(this.#policy, {
      pageSize: this.pageSize,
      origWalSize: orig,
      newWalSize: next,
      syncedSinceCheckpoint: this.#syncedSinceCheckpoint,
      dbMtimeMs: async () => (await stat(this.dbPath)).mtimeMs,
      now: Date.now(),
    });
    if (mode !== null) await this.#checkpoint(mode);
  }

  /**
   * Holds the write lock while the last frames are copied, so nothing can be
   * committed, and then checkpointed, that no L0 file holds. PASSIVE runs with
   * the lock still held. TRUNCATE needs the lock itself, so it is let go just
   * before; data_version then tells whether anyone committed in that gap, in
   * which case a restarted WAL is not trusted and the next sync writes a full image.
   */
  async #checkpoint(mode: CheckpointMode): Promise<void> {
    const session = this.#session;
    if (!(await session.acquireWriteLock())) return;
    try {
      await this.#verifyAndSync();
      session.releaseReadTxn();
      let before: number | undefined;
      if (mode === 'TRUNCATE') {
        before = session.dataVersion();
        session.releaseWriteLock();
      }
      session.checkpoint(mode);
      if (before !== undefined && session.dataVersion() !== before) this.#trustRestart = false;
    } catch (err) {
      session.releaseWriteLock();
      await session.acquireReadTxn();
      throw err;
    }
    session.releaseWriteLock();
    // The next write restarts the fully checkpointed WAL; make it ours, now, and only then read
    // again. A read transaction begun on a fully checkpointed WAL would read the database file
    // alone, and while one does no checkpoint can copy anything (the application's automatic
    // ones give up on every commit as the WAL grows). One begun on the new generation's first
    // frame lets checkpoints copy up to it and still keeps frames not yet copied in place.
    try {
      await session.bumpSeq();
    } finally {
      await session.acquireReadTxn();
    }
    // Copy the new generation's start now, while the frame last copied still proves continuity.
    await this.#verifyAndSync();
    this.#idleStamp = undefined;
    this.#syncedSinceCheckpoint = false;
    this.#uploader.notify();
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
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

function hex(txid: bigint): string {
  return txid.toString(16).padStart(16, '0');
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
}

/** Refuses a missing file or one that is not SQLite; an empty file is a new database. */
async function checkIsDatabase(dbPath: string): Promise<void> {
  let fh;
  try {
    fh = await open(dbPath, 'r');
  } catch (err) {
    throw new DatabaseSetupError(`${dbPath}: cannot open database: ${(err as Error).message}`, { cause: err });
  }
  try {
    const head = new Uint8Array(SQLITE_HEADER_SIZE);
    const { bytesRead } = await fh.read(head, 0, SQLITE_HEADER_SIZE, 0);
    if (bytesRead === 0) return;
    try {
      sqlitePageSize(head.subarray(0, bytesRead), dbPath);
    } catch (err) {
      throw new DatabaseSetupError((err as Error).message, { cause: err });
    }
  } finally {
    await fh.close();
  }
}

/** The newest local L0 file and its header; a corrupt one leaves the header null so the next sync writes a full image. */
async function loadPosition(meta: LocalMeta): Promise<Position> {
  const txid = await meta.maxTxid();
  if (txid === 0n) return { txid, header: null, reason: 'first sync' };
  try {
    return { txid, header: await meta.readHeader(txid), reason: '' };
  } catch (err) {
    if (err instanceof LocalStateError) return { txid, header: null, reason: err.message };
    throw err;
  }
}
