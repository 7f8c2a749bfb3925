import { open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { fsyncDir, isErrno } from '../../io/durable-fs.js';
import { lockPgno } from '../../ltx/constants.js';
import { RestoreError } from '../errors.js';
import { encodeJournalHeader, encodeJournalRecord } from './rollback-journal.js';

/** Each attempt at SQLite's exclusive lock waits this long for readers, so the event loop is never held longer. */
const LOCK_ATTEMPT_MS = 10;
/** Readers get this long to finish before an apply gives up; a reader that holds its transaction longer blocks following. */
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

/** Offsets in page 1 (the database header) that a follower rewrites. */
const HEADER_WRITE_VERSION = 18;
const HEADER_READ_VERSION = 19;
const HEADER_CHANGE_COUNTER = 24;
const HEADER_PAGE_COUNT = 28;
const HEADER_VERSION_VALID_FOR = 92;
/** File format versions 1 and 1: a rollback-journal database, which readers open without a -wal or -shm. */
const ROLLBACK_FORMAT = 1;

/** One transaction's worth of pages for the database file. */
export interface PageChange {
  pageSize: number;
  /** Database size in pages afterwards. */
  commit: number;
  /** New page contents by page number. */
  pages: ReadonlyMap<number, Uint8Array>;
}

/**
 * Marks a database header as a rollback-journal database whose in-header
 * size is `commit` pages, with a change counter one past `previousCounter`
 * (so every reader's page cache and schema are invalidated).
 */
export function patchFollowerHeader(page1: Uint8Array, commit: number, previousCounter: number): void {
  const v = new DataView(page1.buffer, page1.byteOffset, page1.byteLength);
  page1[HEADER_WRITE_VERSION] = ROLLBACK_FORMAT;
  page1[HEADER_READ_VERSION] = ROLLBACK_FORMAT;
  const counter = (previousCounter + 1) >>> 0;
  v.setUint32(HEADER_CHANGE_COUNTER, counter);
  v.setUint32(HEADER_VERSION_VALID_FOR, counter);
  v.setUint32(HEADER_PAGE_COUNT, commit);
}

/** The change counter of a database header. */
export function headerChangeCounter(page1: Uint8Array): number {
  return new DataView(page1.buffer, page1.byteOffset, page1.byteLength).getUint32(HEADER_CHANGE_COUNTER);
}

/**
 * Writes pages into a SQLite database that readers have open, all or
 * nothing for them and across a crash: under SQLite's own exclusive lock
 * (taken through a SQLite connection, so readers wait as for any writer), the
 * old contents go to a rollback journal that is made durable first; then the
 * pages are written and synced, and deleting the journal commits. A crash
 * before that leaves a hot journal, which the next connection plays back.
 *
 * The database must be a rollback-journal database (see patchFollowerHeader):
 * readers then never keep pages in a WAL that these writes would bypass.
 *
 * The file descriptor stays open for the writer's lifetime: closing any
 * descriptor of a file drops every POSIX lock the process holds on it,
 * SQLite's included.
 */
export class DatabasePageWriter {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly db: Database.Database,
    private readonly lockTimeoutMs: number,
  ) {}

  static async open(path: string, opts: { lockTimeoutMs?: number } = {}): Promise<DatabasePageWriter> {
    const fh = await open(path, 'r+');
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: true });
      db.pragma(`busy_timeout = ${LOCK_ATTEMPT_MS}`);
      db.pragma('journal_mode = DELETE');
    } catch (err) {
      await fh.close();
      throw new RestoreError(`cannot open ${path} to follow: ${(err as Error).message}`, { cause: err });
    }
    return new DatabasePageWriter(path, fh, db, opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  }

  /** Applies the change; `failAfterPages` stops midway with an error, leaving the journal hot (tests of recovery). */
  async apply(change: PageChange, opts: { failAfterPages?: number } = {}): Promise<void> {
    await this.lock();
    try {
      await this.applyLocked(change, opts.failAfterPages);
    } finally {
      // The connection changed nothing itself: ending its transaction only releases the lock.
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    }
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        this.db.exec('BEGIN EXCLUSIVE');
        return;
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (!code.startsWith('SQLITE_BUSY') && !code.startsWith('SQLITE_LOCKED')) {
          throw new RestoreError(`cannot lock ${this.path} to apply changes: ${(err as Error).message}`, { cause: err });
        }
        if (Date.now() > deadline) {
          throw new RestoreError(`cannot lock ${this.path} to apply changes: readers held it for more than ${this.lockTimeoutMs} ms`, { cause: err });
        }
        await sleep(1);
      }
    }
  }

  private async readPage(pgno: number, pageSize: number): Promise<Uint8Array> {
    const buf = new Uint8Array(pageSize);
    const { bytesRead } = await this.fh.read(buf, 0, pageSize, (pgno - 1) * pageSize);
    if (bytesRead !== pageSize) throw new RestoreError(`${this.path}: short read of page ${pgno} (${bytesRead} of ${pageSize} bytes)`);
    return buf;
  }

  private async applyLocked(change: PageChange, failAfterPages: number | undefined): Promise<void> {
    const { pageSize, commit } = change;
    const size = (await this.fh.stat()).size;
    if (size % pageSize !== 0) throw new RestoreError(`${this.path}: size ${size} is not a multiple of the page size ${pageSize}`);
    const oldCount = size / pageSize;
    const currentPage1 = await this.readPage(1, pageSize);
    const page1 = new Uint8Array(change.pages.get(1) ?? currentPage1);
    patchFollowerHeader(page1, commit, headerChangeCounter(currentPage1));
    const writes = new Map(change.pages);
    writes.set(1, page1);
    const lock = lockPgno(pageSize);
    writes.delete(lock);

    // Everything the change overwrites or cuts off, as it is now.
    const saved = new Set<number>();
    for (const pgno of writes.keys()) if (pgno <= oldCount) saved.add(pgno);
    for (let pgno = commit + 1; pgno <= oldCount; pgno++) if (pgno !== lock) saved.add(pgno);
    const nonce = (Math.random() * 0x1_0000_0000) >>> 0;
    const journalPath = `${this.path}-journal`;
    const journal = await open(journalPath, 'w');
    try {
      const order = [...saved].sort((a, b) => a - b);
      let at = 0;
      const put = async (bytes: Uint8Array): Promise<void> => {
        await journal.write(bytes, 0, bytes.length, at);
        at += bytes.length;
      };
      await put(encodeJournalHeader({ records: order.length, nonce, pageCount: oldCount, pageSize }));
      for (const pgno of order) await put(encodeJournalRecord(pgno, await this.readPage(pgno, pageSize), nonce));
      await journal.sync();
    } finally {
      await journal.close();
    }
    await fsyncDir(dirname(this.path));

    let written = 0;
    for (const pgno of [...writes.keys()].sort((a, b) => a - b)) {
      if (pgno > commit) continue;
      if (failAfterPages !== undefined && written >= failAfterPages) throw new RestoreError(`${this.path}: stopped after ${written} pages, as asked`);
      const data = writes.get(pgno)!;
      if (data.length !== pageSize) throw new RestoreError(`${this.path}: page ${pgno} is ${data.length} bytes, not ${pageSize}`);
      await this.fh.write(data, 0, pageSize, (pgno - 1) * pageSize);
      written++;
    }
    if (commit < oldCount) await this.fh.truncate(commit * pageSize);
    await this.fh.sync();
    try {
      await unlink(journalPath);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    await fsyncDir(dirname(this.path));
  }

  async close(): Promise<void> {
    this.db.close();
    await this.fh.close();
  }
}
