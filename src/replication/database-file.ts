import { open, type FileHandle } from 'node:fs/promises';
import { readAt } from '../sqlite/wal-file.js';
import { SQLITE_HEADER_SIZE, sqlitePageSize } from '../sqlite/database-file.js';
import { DatabaseSetupError } from './errors.js';

/**
 * The one file descriptor this process holds on a replicated database file
 * for reading its pages.
 *
 * SQLite guards a database with POSIX advisory locks, and POSIX drops every
 * such lock a process holds on a file as soon as the process closes *any*
 * descriptor of that file. SQLite's own connections work around this, but a
 * Node `open()`/`close()` of the database file from the same process would
 * silently release the SHARED lock the replicator's connections hold. The
 * next application to close its connection would then find itself the last
 * one, checkpoint, and delete the WAL under the replicator. So every read of
 * the database file goes through this handle, which is opened before the
 * replicator's SQLite connections and closed only after them.
 */
export class DatabaseFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  /**
   * Opens the file read-only and checks that it is a SQLite database (an
   * empty file is a new database). Call before any SQLite connection of this
   * process opens it.
   */
  static async open(path: string): Promise<DatabaseFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw new DatabaseSetupError(`${path}: cannot open database: ${(err as Error).message}`, { cause: err });
    }
    const file = new DatabaseFile(path, fh);
    try {
      const head = new Uint8Array(SQLITE_HEADER_SIZE);
      const n = await file.read(head, 0);
      if (n > 0) sqlitePageSize(head.subarray(0, n), path);
      return file;
    } catch (err) {
      await fh.close();
      if (err instanceof DatabaseSetupError) throw err;
      throw new DatabaseSetupError((err as Error).message, { cause: err });
    }
  }

  /** Reads into `buf` from byte `position`; fewer bytes only at the end of the file. */
  read(buf: Uint8Array, position: number, length = buf.length): Promise<number> {
    return readAt(this.fh, buf, 0, length, position);
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  /** Only after every SQLite connection of this process to the file is closed. */
  close(): Promise<void> {
    return this.fh.close();
  }
}
