import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { DatabaseSetupError, ReplicationError } from './errors.js';

/** How long to wait between attempts when SQLite reports the database busy. */
export const BUSY_RETRY_DELAY_MS = 5;
/**
 * The first attempts after a busy answer follow each other on the next turn
 * of the event loop. A writer committing back to back frees the lock only
 * for microseconds between transactions; polling every 5 ms would almost
 * never land there, and the checkpoint that keeps the WAL small would not run.
 */
export const BUSY_FAST_RETRIES = 200;

export type CheckpointMode = 'PASSIVE' | 'TRUNCATE';

export interface CheckpointResult {
  /** 1 when the checkpoint could not finish (readers or writers in the way). */
  busy: number;
  /** Frames in the WAL. */
  log: number;
  /** Frames copied into the database. */
  checkpointed: number;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'));
}

/**
 * The replicator's two connections to the database. `reader` holds the
 * long-running read transaction that stops other connections from
 * checkpointing past frames not yet copied; `writer` takes the write lock
 * around checkpoints and bumps `_litestream_seq`.
 *
 * better-sqlite3 is synchronous, so neither connection ever waits inside
 * SQLite (busy_timeout 0): a busy database is retried here with short async
 * sleeps, bounded by `busyTimeoutMs`, and the event loop keeps running.
 */
export class SqliteSession {
  #readTxn = false;
  #writeLock = false;

  private constructor(
    readonly path: string,
    private readonly reader: Database.Database,
    private readonly writer: Database.Database,
    readonly busyTimeoutMs: number,
  ) {}

  static async open(path: string, busyTimeoutMs: number): Promise<SqliteSession> {
    let reader: Database.Database | undefined;
    let writer: Database.Database | undefined;
    try {
      reader = new Database(path, { fileMustExist: true, timeout: 0 });
      writer = new Database(path, { fileMustExist: true, timeout: 0 });
      const session = new SqliteSession(path, reader, writer, busyTimeoutMs);
      await session.#init();
      return session;
    } catch (err) {
      reader?.close();
      writer?.close();
      if (err instanceof ReplicationError) throw err;
      throw new DatabaseSetupError(`${path}: cannot open the database for replication: ${(err as Error).message}`, { cause: err });
    }
  }

  async #init(): Promise<void> {
    const r = this.reader;
    for (const db of [r, this.writer]) db.pragma('wal_autocheckpoint = 0');
    let mode: string;
    try {
      mode = await this.#retry('switch to WAL mode', () => String(r.pragma('journal_mode = wal', { simple: true })));
    } catch (err) {
      const current = String(r.pragma('journal_mode', { simple: true }));
      throw new DatabaseSetupError(
        `${this.path}: database is in ${current} journal mode and could not be converted to WAL: ${(err as Error).message.replace(`${this.path}: `, '')}` +
          ' (another connection holds it open in a transaction; convert it with PRAGMA journal_mode=WAL once it is free)',
        { cause: err },
      );
    }
    if (mode.toLowerCase() !== 'wal') {
      throw new DatabaseSetupError(
        `${this.path}: database is in rollback-journal mode and could not be converted (journal_mode is ${mode})`,
      );
    }
    await this.#retry('create the _litestream tables', () => {
      r.exec('CREATE TABLE IF NOT EXISTS _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER)');
      r.exec('CREATE TABLE IF NOT EXISTS _litestream_lock (id INTEGER)');
    });
    await this.acquireReadTxn();
  }

  get pageSize(): number {
    return Number(this.reader.pragma('page_size', { simple: true }));
  }

  get holdsReadTxn(): boolean {
    return this.#readTxn;
  }

  /** Starts the long-running read transaction: a read mark in the WAL that checkpoints cannot pass. */
  async acquireReadTxn(): Promise<void> {
    if (this.#readTxn) return;
    await this.#retry('start the read transaction', () => {
      this.reader.exec('BEGIN');
      try {
        this.reader.prepare('SELECT COUNT(1) FROM _litestream_seq').pluck().get();
      } catch (err) {
        this.reader.exec('ROLLBACK');
        throw err;
      }
    });
    this.#readTxn = true;
  }

  releaseReadTxn(): void {
    if (!this.#readTxn) return;
    this.#readTxn = false;
    if (this.reader.inTransaction) this.reader.exec('ROLLBACK');
  }

  /**
   * Takes the database write lock (BEGIN IMMEDIATE on the writer connection),
   * so no other connection commits until `releaseWriteLock`. Resolves false
   * when the lock stayed busy for `busyTimeoutMs`.
   */
  async acquireWriteLock(): Promise<boolean> {
    if (this.#writeLock) return true;
    try {
      await this.#retry('take the write lock', () => this.writer.exec('BEGIN IMMEDIATE'));
    } catch (err) {
      if (isBusy((err as { cause?: unknown }).cause)) return false;
      throw err;
    }
    this.#writeLock = true;
    return true;
  }

  /** Rolls the lock transaction back; it never wrote anything. */
  releaseWriteLock(): void {
    if (!this.#writeLock) return;
    this.#writeLock = false;
    if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
  }

  /**
   * PRAGMA data_version on the reader (outside its read transaction): it
   * changes when another connection has committed since the previous call.
   */
  dataVersion(): number {
    return Number(this.reader.pragma('data_version', { simple: true }));
  }

  /**
   * Runs PRAGMA wal_checkpoint on the reader, which must not be in a
   * transaction. TRUNCATE may wait up to busyTimeoutMs for other connections
   * inside SQLite: it is the emergency backstop, and blocking is its point.
   */
  checkpoint(mode: CheckpointMode): CheckpointResult {
    if (this.#readTxn) throw new ReplicationError(`${this.path}: checkpoint attempted while holding the read transaction`);
    const wait = mode === 'TRUNCATE' ? this.busyTimeoutMs : 0;
    if (wait > 0) this.reader.pragma(`busy_timeout = ${wait}`);
    try {
      const row = this.reader.pragma(`wal_checkpoint(${mode})`) as CheckpointResult[];
      return row[0] ?? { busy: 1, log: -1, checkpointed: -1 };
    } finally {
      if (wait > 0) this.reader.pragma('busy_timeout = 0');
    }
  }

  /** Commits a one-row change to `_litestream_seq`, so the WAL gets a header and fresh frames. */
  async bumpSeq(): Promise<void> {
    await this.#retry('write _litestream_seq', () => {
      this.writer.prepare('INSERT INTO _litestream_seq (id, seq) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET seq = seq + 1').run();
    });
  }

  close(): void {
    this.releaseWriteLock();
    this.releaseReadTxn();
    this.writer.close();
    this.reader.close();
  }

  async #retry<T>(what: string, fn: () => T): Promise<T> {
    const deadline = Date.now() + this.busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err)) throw err;
        if (Date.now() >= deadline) {
          throw new ReplicationError(`${this.path}: could not ${what}: database busy for ${this.busyTimeoutMs} ms`, { cause: err });
        }
        if (attempt < BUSY_FAST_RETRIES) await new Promise<void>((resolve) => setImmediate(resolve));
        else await sleep(BUSY_RETRY_DELAY_MS);
      }
    }
  }
}
