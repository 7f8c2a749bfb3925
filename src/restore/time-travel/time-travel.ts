import { formatTxid } from '../../ltx/file-name.js';
import { AsyncMutex } from '../../replication/async-mutex.js';
import type { LtxFileInfo, ReplicaClient } from '../../storage/replica-client.js';
import { RestoreError } from '../errors.js';
import { calcRestorePlan, type RestorePlanGap } from '../plan.js';
import { ReplicaPages, type DatabaseView, type TimeTravelStats } from './replica-pages.js';
import { ReplicaVfs, type PageProvider } from './replica-vfs.js';
import { describeTarget, parseTimeValue, type TimeTravelTarget } from './time-value.js';
import { loadWasmSqlite, type WasmSqlite } from './wasm-sqlite.js';

/** Bytes of decoded pages time travel keeps in memory, as Litestream's VFS (10 MB). */
export const DEFAULT_TIME_TRAVEL_CACHE_BYTES = 10 * 1024 * 1024;
/** At the latest state, how old the view of the replica may get before a query looks again (Litestream's VFS polls every second). */
export const DEFAULT_TIME_TRAVEL_POLL_INTERVAL_MS = 1000;
/** Pages decoded by SQLite itself are also cached by SQLite; this keeps that second cache small (KiB, SQLite's negative form). */
const SQLITE_CACHE_KIB = 2048;

/** A value in a row or a bound parameter. */
export type SqlValue = number | bigint | string | Uint8Array | null;
export type SqlRow = Record<string, SqlValue>;

export interface TimeTravelOptions {
  /** View the database as of exactly this TXID. */
  txid?: bigint;
  /** View the database built from the files created strictly before this moment, as `restore -timestamp`. */
  timestamp?: Date;
  /** Bytes of pages to cache (default DEFAULT_TIME_TRAVEL_CACHE_BYTES). */
  cacheBytes?: number;
  /**
   * Up to how many pages one request may fetch when SQLite reads pages in
   * order (a table scan): pages that follow the one asked for, next to it in
   * the same file. 0, the default, fetches only pages queries read.
   */
  readAheadPages?: number;
  /** At the latest state, how often queries look for newer files (default DEFAULT_TIME_TRAVEL_POLL_INTERVAL_MS). */
  pollIntervalMs?: number;
  /** How the replica is named in messages. */
  replicaName?: string;
}

/** A query on a time-travel view failed; `cause` is the SQLite error or the replica read behind it. */
export class TimeTravelError extends RestoreError {
  override name = 'TimeTravelError';
}

let vfsCount = 0;

/**
 * A database as it was at a TXID or a moment, opened read-only straight from
 * a replica: SQLite (compiled to WebAssembly) reads its pages through a VFS
 * that fetches each page by byte range from the LTX file holding it. Nothing
 * is restored or written to disk.
 *
 * Queries run one at a time. `setTime` (or `SELECT litestream_set_time(...)`)
 * moves the view; at the latest state, queries pick up new files at most
 * every `pollIntervalMs`.
 */
export class TimeTravelDatabase {
  readonly #client: ReplicaClient;
  readonly #pages: ReplicaPages;
  readonly #wasm: WasmSqlite;
  readonly #vfs: ReplicaVfs;
  #db = 0;
  readonly #mutex = new AsyncMutex();
  readonly #pollIntervalMs: number;
  readonly #replicaName: string | undefined;
  #view: DatabaseView;
  #target: TimeTravelTarget;
  #generation = 1;
  #lastPoll: number;
  /** Set by litestream_set_time() during a statement, applied once it finishes. */
  #pending: TimeTravelTarget | undefined;
  #closed = false;

  private constructor(init: {
    client: ReplicaClient;
    pages: ReplicaPages;
    view: DatabaseView;
    target: TimeTravelTarget;
    wasm: WasmSqlite;
    opts: TimeTravelOptions;
  }) {
    this.#client = init.client;
    this.#pages = init.pages;
    this.#view = init.view;
    this.#target = init.target;
    this.#wasm = init.wasm;
    const provider: PageProvider = {
      shape: () => ({ pageSize: this.#view.pageSize, pageCount: this.#view.pageCount, generation: this.#generation }),
      readPage: (pgno) => this.#pages.readPage(this.#view, pgno),
    };
    this.#vfs = new ReplicaVfs(`tidemark-time-travel-${++vfsCount}`, init.wasm.module, provider);
    this.#pollIntervalMs = init.opts.pollIntervalMs ?? DEFAULT_TIME_TRAVEL_POLL_INTERVAL_MS;
    this.#replicaName = init.opts.replicaName;
    this.#lastPoll = Date.now();
  }

  /** Opens the view; throws as `calcRestorePlan` does when the replica cannot build that state. */
  static async open(client: ReplicaClient, opts: TimeTravelOptions = {}): Promise<TimeTravelDatabase> {
    const target: TimeTravelTarget = opts.txid !== undefined ? { txid: opts.txid } : opts.timestamp !== undefined ? { timestamp: opts.timestamp } : 'latest';
    const pages = new ReplicaPages(client, {
      cacheBytes: opts.cacheBytes ?? DEFAULT_TIME_TRAVEL_CACHE_BYTES,
      readAheadPages: opts.readAheadPages ?? 0,
    });
    const view = await pages.view(await calcRestorePlan(client, { ...targetOptions(target), replicaName: opts.replicaName }));
    const wasm = await loadWasmSqlite();
    const tt = new TimeTravelDatabase({ client, pages, view, target, wasm, opts });
    const { sqlite3 } = wasm;
    sqlite3.vfs_register(tt.#vfs, false);
    const api = await import('@journeyapps/wa-sqlite');
    tt.#db = await sqlite3.open_v2('replica.db', api.SQLITE_OPEN_READONLY, tt.#vfs.name);
    try {
      await sqlite3.exec(tt.#db, `PRAGMA temp_store = MEMORY; PRAGMA cache_size = -${SQLITE_CACHE_KIB};`);
      tt.#registerFunctions(api.SQLITE_UTF8);
    } catch (err) {
      await sqlite3.close(tt.#db);
      throw err;
    }
    return tt;
  }

  /** The TXID the view is at. */
  get txid(): bigint {
    return this.#view.txid;
  }

  /** Where the view was pointed: latest, a TXID or a moment. */
  get target(): TimeTravelTarget {
    return this.#target;
  }

  /** When the newest file of the view was created. */
  get createdAt(): Date {
    return this.#view.createdAt;
  }

  get pageSize(): number {
    return this.#view.pageSize;
  }

  get pageCount(): number {
    return this.#view.pageCount;
  }

  /** For a timestamp view: the break in the replica's chain of files it stopped at, if any. */
  get gap(): RestorePlanGap | undefined {
    return this.#view.gap;
  }

  stats(): TimeTravelStats {
    return this.#pages.stats();
  }

  /**
   * Runs SQL (one or more statements) and resolves the rows of the last
   * statement that returns columns. `params` bind to each statement that
   * takes parameters.
   */
  query<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[] | Readonly<Record<string, SqlValue>>): Promise<T[]> {
    return this.#mutex.run(async () => {
      this.#checkOpen();
      if (this.#target === 'latest' && Date.now() - this.#lastPoll >= this.#pollIntervalMs) await this.#moveTo('latest');
      const { sqlite3 } = this.#wasm;
      let rows: T[] = [];
      this.#vfs.lastError = undefined;
      try {
        for await (const stmt of sqlite3.statements(this.#db, sql)) {
          if (params !== undefined && sqlite3.bind_parameter_count(stmt) > 0) sqlite3.bind_collection(stmt, params as never);
          const columns = sqlite3.column_names(stmt);
          const got: T[] = [];
          while ((await sqlite3.step(stmt)) === ROW) {
            const row: SqlRow = {};
            const values = sqlite3.row(stmt);
            columns.forEach((c, i) => {
              const v = values[i] ?? null;
              // Blobs point into SQLite's memory, valid only until the next step.
              row[c] = v instanceof Uint8Array ? v.slice() : Array.isArray(v) ? Uint8Array.from(v) : v;
            });
            got.push(row as T);
          }
          if (columns.length > 0) rows = got;
          const pending = this.#pending;
          if (pending !== undefined) {
            this.#pending = undefined;
            await this.#moveTo(pending);
          }
        }
      } catch (err) {
        this.#pending = undefined;
        if (err instanceof TimeTravelError) throw err;
        const read = this.#vfs.lastError;
        const reason = read instanceof Error ? `reading the replica failed: ${read.message}` : err instanceof Error ? err.message : String(err);
        throw new TimeTravelError(`query failed at ${describeTarget(this.#target)} (TXID ${formatTxid(this.txid)}): ${reason}`, { cause: read ?? err });
      }
      return rows;
    });
  }

  /**
   * Moves the view: 'latest', a TXID, a Date, or a string as
   * `litestream_set_time` takes (RFC 3339, `5 minutes ago`, `LATEST`).
   */
  setTime(to: TimeTravelTarget | Date | string): Promise<void> {
    return this.#mutex.run(async () => {
      this.#checkOpen();
      await this.#moveTo(toTarget(to));
    });
  }

  async close(): Promise<void> {
    await this.#mutex.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#wasm.sqlite3.close(this.#db);
    });
  }

  #checkOpen(): void {
    if (this.#closed) throw new TimeTravelError('time-travel database is closed');
  }

  /** Re-plans for the target; a new TXID means a new generation, so SQLite drops its cached pages. */
  async #moveTo(target: TimeTravelTarget): Promise<void> {
    const plan = await calcRestorePlan(this.#client, { ...targetOptions(target), replicaName: this.#replicaName });
    if (target === 'latest') this.#lastPoll = Date.now();
    if (!sameFiles(plan.files, this.#view.files)) {
      this.#view = await this.#pages.view(plan);
      this.#generation++;
    }
    this.#target = target;
  }

  #registerFunctions(textRep: number): void {
    const { sqlite3, module } = this.#wasm;
    const text = (ctx: number, s: string): void => sqlite3.result_text(ctx, s);
    const fail = (ctx: number, message: string): void => {
      module.ccall('sqlite3_result_error', null, ['number', 'string', 'number'], [ctx, message, -1]);
    };
    sqlite3.create_function(this.#db, 'litestream_txid', 0, textRep, 0, (ctx) => text(ctx, formatTxid(this.#view.txid)));
    sqlite3.create_function(this.#db, 'litestream_time', 0, textRep, 0, (ctx) => {
      const t = this.#target;
      text(ctx, t === 'latest' ? 'latest' : 'timestamp' in t ? t.timestamp.toISOString() : this.#view.createdAt.toISOString());
    });
    sqlite3.create_function(this.#db, 'litestream_lag', 0, textRep, 0, (ctx) => {
      sqlite3.result_int(ctx, Math.floor((Date.now() - this.#lastPoll) / 1000));
    });
    sqlite3.create_function(this.#db, 'litestream_set_time', 1, textRep, 0, (ctx, values) => {
      const raw = sqlite3.value(values[0]!);
      const target = typeof raw === 'string' ? parseTimeValue(raw) : null;
      if (target === null) {
        fail(ctx, `litestream_set_time: invalid time ${JSON.stringify(raw)} (expected RFC 3339, a relative time such as '5 minutes ago', or 'LATEST')`);
        return;
      }
      this.#pending = target;
      sqlite3.result_null(ctx);
    });
  }
}

const ROW = 100;

function sameFiles(a: readonly LtxFileInfo[], b: readonly LtxFileInfo[]): boolean {
  return a.length === b.length && a.every((f, i) => {
    const g = b[i]!;
    return f.level === g.level && f.minTxid === g.minTxid && f.maxTxid === g.maxTxid && f.size === g.size;
  });
}

function targetOptions(t: TimeTravelTarget): { txid?: bigint; timestamp?: Date } {
  if (t === 'latest') return {};
  return 'txid' in t ? { txid: t.txid } : { timestamp: t.timestamp };
}

function toTarget(to: TimeTravelTarget | Date | string): TimeTravelTarget {
  if (to instanceof Date) return { timestamp: to };
  if (typeof to !== 'string') return to;
  const t = parseTimeValue(to);
  if (t === null) throw new TimeTravelError(`invalid time ${JSON.stringify(to)}: expected RFC 3339, a relative time such as '5 minutes ago', or 'LATEST'`);
  return t;
}

/** Opens a replica's database as of a TXID or a moment (or its latest state), read-only, without restoring it. */
export function openTimeTravel(client: ReplicaClient, opts: TimeTravelOptions = {}): Promise<TimeTravelDatabase> {
  return TimeTravelDatabase.open(client, opts);
}
