import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { checkpointThread } from './checkpoint-thread.js';
import { DatabaseSetupError, ReplicationError } from './errors.js';

/** How long to wait between attempts when SQLite reports the database busy. */
export const BUSY_RETRY_DELAY_MS = 5;
/**
 * The first attempts after a busy answer follow each other on the next turn
 * of the event loop: the replicator's own operations are short and the
 * conflicts they meet (a checkpoint, WAL recovery) are over in microseconds.
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

const PIN_QUERY = 'SELECT count(*) FROM sqlite_master';

/**
 * The replicator's connections to the database. It never writes to it and
 * never takes its write lock in normal operation, so it can neither be
 * starved by a busy writer nor make an application's transaction fail.
 *
 * What it does hold is a *pin*: a read transaction. While a reader holds a
 * WAL read mark above 0, no checkpoint copies frames past that mark into the
 * database and no writer restarts the WAL; while one holds read mark 0
 * (granted only when the WAL is wholly checkpointed), nothing is copied at
 * all. Either way, no frame is overwritten while the pin is held. Two pin
 * connections take turns: the next pin is taken before the previous one is
 * let go, so the database is never unpinned (see docs/replication.md).
 *
 * A third connection converts the database to WAL mode and answers
 * data_version; it is never inside a transaction. Checkpoints run on a
 * connection of the checkpoint thread.
 *
 * better-sqlite3 is synchronous, so no connection waits inside SQLite
 * (busy_timeout 0) except the TRUNCATE backstop: a busy database is retried
 * here with short async sleeps, bounded by `busyTimeoutMs`.
 */
export class SqliteSession {
  #current: Database.Database | undefined;
  #holds = 0;

  private constructor(
    readonly path: string,
    private readonly pins: readonly [Database.Database, Database.Database],
    private readonly ckpt: Database.Database,
    readonly busyTimeoutMs: number,
  ) {}

  /** Opens the connections, converts the database to WAL mode if needed and takes the first pin. */
  static async open(path: string, busyTimeoutMs: number): Promise<SqliteSession> {
    const opened: Database.Database[] = [];
    try {
      for (let i = 0; i < 3; i++) opened.push(new Database(path, { fileMustExist: true, timeout: 0 }));
      for (const db of opened) db.pragma('wal_autocheckpoint = 0');
      const session = new SqliteSession(path, [opened[0]!, opened[1]!], opened[2]!, busyTimeoutMs);
      await session.#init();
      return session;
    } catch (err) {
      for (const db of opened) db.close();
      if (err instanceof ReplicationError) throw err;
      const busy = (err as { code?: unknown }).code === 'SQLITE_BUSY';
      throw new DatabaseSetupError(
        `${path}: cannot open the database for replication: ${(err as Error).message}` +
          (busy ? ' (another connection keeps it locked, as an application using PRAGMA locking_mode=EXCLUSIVE does; such a database cannot be replicated while it is open)' : ''),
        { cause: err },
      );
    }
  }

  async #init(): Promise<void> {
    const c = this.ckpt;
    let mode: string;
    try {
      mode = await this.#retry('switch to WAL mode', () => String(c.pragma('journal_mode = wal', { simple: true })));
    } catch (err) {
      const current = String(c.pragma('journal_mode', { simple: true }));
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
    await this.advance();
  }

  get pageSize(): number {
    return Number(this.ckpt.pragma('page_size', { simple: true }));
  }

  /** True while a pin is held. */
  get pinned(): boolean {
    return this.#current !== undefined;
  }

  /** True while someone (a snapshot, a scan) needs the pin to stay where it is. */
  get held(): boolean {
    return this.#holds > 0;
  }

  /**
   * Moves the pin to the WAL's current end: the other connection begins a
   * read transaction, and only then is the old one ended. Does nothing while
   * the pin is held in place. If the new transaction cannot begin, the old
   * pin stays and the error is thrown.
   */
  async advance(): Promise<void> {
    if (this.#holds > 0) return;
    const next = this.#current === this.pins[0] ? this.pins[1] : this.pins[0];
    await this.#retry('start a read transaction', () => {
      next.exec('BEGIN');
      try {
        next.prepare(PIN_QUERY).pluck().get();
      } catch (err) {
        next.exec('ROLLBACK');
        throw err;
      }
    });
    const prev = this.#current;
    this.#current = next;
    if (prev?.inTransaction) prev.exec('ROLLBACK');
  }

  /** Keeps the pin where it is until the returned function is called (advance() does nothing meanwhile). */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
    };
  }

  /** Ends every read transaction: the WAL may then be checkpointed and restarted past frames not yet copied. */
  unpin(): void {
    for (const db of this.pins) if (db.inTransaction) db.exec('ROLLBACK');
    this.#current = undefined;
  }

  /**
   * PRAGMA data_version on the checkpoint connection: it changes when another
   * connection has committed since the previous call.
   */
  dataVersion(): number {
    return Number(this.ckpt.pragma('data_version', { simple: true }));
  }

  /**
   * Runs PRAGMA wal_checkpoint on the checkpoint thread (see
   * checkpoint-thread.ts), so that copying a large WAL into the database
   * does not block the event loop. PASSIVE copies what no pin protects and
   * never waits; TRUNCATE waits up to busyTimeoutMs for writers and readers:
   * it is the emergency backstop, and blocking is its point (the pins must be
   * let go first, or it waits on them).
   */
  checkpoint(mode: CheckpointMode): Promise<CheckpointResult> {
    return checkpointThread().checkpoint(this.path, mode, mode === 'TRUNCATE' ? this.busyTimeoutMs : 0);
  }

  /** Closes the checkpoint thread's connection first, then the pins and the checkpoint connection. */
  async close(): Promise<void> {
    await checkpointThread()
      .release(this.path)
      .catch(() => undefined);
    this.unpin();
    for (const db of [...this.pins, this.ckpt]) db.close();
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
