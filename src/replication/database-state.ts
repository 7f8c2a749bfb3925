import { open, type FileHandle } from 'node:fs/promises';
import { isErrno } from '../io/durable-fs.js';
import { lockPgno } from '../ltx/constants.js';
import { sameSalts, type WalSalts } from '../sqlite/wal-header.js';
import { WalFormatError } from '../sqlite/wal-errors.js';
import { readWalFrame } from '../sqlite/wal-reader.js';
import type { DatabaseFile } from './database-file.js';
import { WalChangedError } from './errors.js';

/** Bytes read per call when streaming database pages. */
export const DB_READ_CHUNK_BYTES = 1024 * 1024;

export interface PageVisitor {
  (pgno: number, data: Uint8Array): void | Promise<void>;
}

/** Where the database stands in the WAL: the generation, its pages up to the position, and the size there. */
export interface GenerationView {
  readonly salts: WalSalts | null;
  /** Page number → offset of its newest frame at the position. */
  readonly pages: ReadonlyMap<number, number>;
  /** Database size in pages at the position. */
  readonly commit: number;
}

/**
 * The database as SQLite sees it at a WAL position: the database file, with
 * each page the generation has written up to the position read from its
 * newest frame there instead, cut to the size of the last commit. Pages
 * past the end of the file that the WAL does not hold read as zeros, as
 * SQLite reads them.
 *
 * This is only the database's state while checkpoints cannot copy frames
 * past the position into the file, i.e. while a pin taken before the WAL
 * was read to the position is held (see SqliteSession). A WAL restart
 * underneath is detected when a frame is fetched (WalChangedError).
 */
export class DatabaseState {
  private constructor(
    readonly pageSize: number,
    /** Database size in pages. */
    readonly commit: number,
    private readonly db: DatabaseFile,
    private readonly wal: FileHandle | undefined,
    private readonly walPath: string,
    private readonly view: GenerationView,
  ) {}

  /** Opens the view; close() it when done. */
  static async open(db: DatabaseFile, walPath: string, pageSize: number, view: GenerationView): Promise<DatabaseState> {
    let wal: FileHandle | undefined;
    if (view.pages.size > 0) {
      try {
        wal = await open(walPath, 'r');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw new WalChangedError(`${walPath}: the WAL is gone while the database was being read`, { cause: err });
        throw err;
      }
    }
    return new DatabaseState(pageSize, view.commit, db, wal, walPath, view);
  }

  /** Calls `visit` for every page 1..commit except the lock page, in order. The data is valid only during the call. */
  async forEachPage(visit: PageVisitor, signal?: AbortSignal): Promise<void> {
    const { pageSize, commit } = this;
    const lock = lockPgno(pageSize);
    const pagesPerChunk = Math.max(1, Math.floor(DB_READ_CHUNK_BYTES / pageSize));
    const chunk = new Uint8Array(pagesPerChunk * pageSize);
    const zero = new Uint8Array(pageSize);
    for (let first = 1; first <= commit; first += pagesPerChunk) {
      signal?.throwIfAborted();
      const count = Math.min(pagesPerChunk, commit - first + 1);
      const got = Math.floor((await this.db.read(chunk, (first - 1) * pageSize, count * pageSize)) / pageSize);
      for (let i = 0; i < count; i++) {
        const pgno = first + i;
        if (pgno === lock) continue;
        const offset = this.view.pages.get(pgno);
        if (offset !== undefined) await visit(pgno, await this.#walPage(pgno, offset));
        else await visit(pgno, i < got ? chunk.subarray(i * pageSize, (i + 1) * pageSize) : zero);
      }
    }
  }

  /** One page as of the position. */
  async page(pgno: number): Promise<Uint8Array> {
    const offset = this.view.pages.get(pgno);
    if (offset !== undefined) return this.#walPage(pgno, offset);
    const buf = new Uint8Array(this.pageSize);
    await this.db.read(buf, (pgno - 1) * this.pageSize);
    return buf;
  }

  async close(): Promise<void> {
    await this.wal?.close();
  }

  async #walPage(pgno: number, offset: number): Promise<Uint8Array> {
    let frame;
    try {
      frame = await readWalFrame(this.wal!, offset, this.pageSize, { file: this.walPath });
    } catch (err) {
      // A restart that truncated the WAL (PRAGMA wal_checkpoint(TRUNCATE), journal_size_limit) is a restart like any other.
      if (err instanceof WalFormatError && err.code === 'short-frame') {
        throw new WalChangedError(`${this.walPath}: the WAL was cut short below offset ${offset} while it was being read (the WAL restarted)`, { cause: err });
      }
      throw err;
    }
    if (frame.pgno !== pgno || this.view.salts === null || !sameSalts(frame, this.view.salts)) {
      throw new WalChangedError(`${this.walPath}: frame at offset ${offset} changed while it was being read (the WAL restarted)`);
    }
    return frame.data;
  }
}
