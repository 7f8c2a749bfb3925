import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatGoDuration, NS_PER_MS } from '../config/go-duration.js';
import { isErrno } from '../io/durable-fs.js';
import type { Logger } from '../logger.js';
import { DEFAULT_SYNC_INTERVAL_MS } from '../replication/db-replicator.js';
import type { StoreDatabase } from '../store/store.js';
import { IsADirectoryError } from './replica-arg.js';

/** Bytes of the SQLite header read here: the magic string and the file format versions. */
const SQLITE_HEADER_SIZE = 100;
const SQLITE_MAGIC = 'SQLite format 3\0';
/** Header offset of the write version: 1 for a rollback journal, 2 for WAL. */
const WRITE_VERSION_OFFSET = 18;
const ROLLBACK_JOURNAL_VERSION = 1;

/** What a database file's header says, for deciding whether to start replicating it. */
export type DatabaseFileState = 'missing' | 'directory' | 'incomplete' | 'not-sqlite' | 'rollback' | 'wal';

/** Reads just enough of `path` to tell whether it is there and a SQLite database, and in which journal mode. */
export async function databaseFileState(path: string): Promise<DatabaseFileState> {
  let fh;
  try {
    const st = await stat(path);
    if (st.isDirectory()) return 'directory';
    fh = await open(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'missing';
    throw err;
  }
  try {
    const header = Buffer.alloc(SQLITE_HEADER_SIZE);
    const { bytesRead } = await fh.read(header, 0, SQLITE_HEADER_SIZE, 0);
    // An application creating the database has made the file but not yet written its first page.
    if (bytesRead < SQLITE_HEADER_SIZE) return 'incomplete';
    if (header.toString('latin1', 0, SQLITE_MAGIC.length) !== SQLITE_MAGIC) return 'not-sqlite';
    return header[WRITE_VERSION_OFFSET] === ROLLBACK_JOURNAL_VERSION ? 'rollback' : 'wal';
  } finally {
    await fh.close();
  }
}

/** A sync interval as Litestream logs it (Go's time.Duration). */
export function formatInterval(ms: number): string {
  return formatGoDuration(BigInt(Math.round(ms)) * NS_PER_MS);
}

export interface DatabaseWaiterOptions {
  readonly logger: Logger;
  /** Starts replicating a database that has appeared; a rejection is logged and the database is tried again. */
  readonly start: (db: StoreDatabase) => Promise<void>;
}

/**
 * Databases named before they exist, as Litestream allows: each is looked
 * for at its sync interval, and replication starts once the file is there
 * and holds a SQLite header. Nothing is created meanwhile.
 */
export class DatabaseWaiter {
  readonly #o: DatabaseWaiterOptions;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #inFlight = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: DatabaseWaiterOptions) {
    this.#o = options;
  }

  /** The databases still waited for. */
  get waiting(): string[] {
    return [...this.#timers.keys()];
  }

  add(db: StoreDatabase): void {
    const path = resolve(db.path);
    const intervalMs = db.replicator?.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.#o.logger.info('waiting for the database to appear', { db: path, sync_interval: formatInterval(intervalMs) });
    let lastProblem = '';
    const poll = async (): Promise<void> => {
      try {
        const state = await databaseFileState(path);
        if (state === 'missing' || state === 'incomplete') return schedule();
        if (state === 'directory') throw new IsADirectoryError(`${path}: is a directory, not a SQLite database`);
        await this.#o.start(db);
        this.#timers.delete(path);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // The same failure at every poll would flood the log; a new one is news.
        if (message !== lastProblem) this.#o.logger.warn('cannot replicate the database yet; trying again', { db: path, error: message });
        lastProblem = message;
        schedule();
      }
    };
    const schedule = (): void => {
      if (this.#stopped) return;
      this.#timers.set(
        path,
        setTimeout(() => {
          const p = poll().finally(() => this.#inFlight.delete(p));
          this.#inFlight.add(p);
        }, intervalMs),
      );
    };
    schedule();
  }

  /** Stops looking; a database being started when this is called finishes starting first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    await Promise.allSettled([...this.#inFlight]);
    for (const t of this.#timers.values()) clearTimeout(t);
  }
}
