import * as VFS from '@journeyapps/wa-sqlite/src/VFS.js';

/** The parts of the Emscripten module a VFS touches. */
export interface WasmMemory {
  HEAPU8: Uint8Array;
  UTF8ToString(ptr: number): string;
}

/** What the VFS serves as the database file: read-only, page by page. */
export interface PageProvider {
  /** The state served now. */
  shape(): DatabaseShape;
  readPage(pgno: number): Promise<Uint8Array>;
}

export interface DatabaseShape {
  pageSize: number;
  pageCount: number;
  /**
   * Changes whenever the provider switches to another state of the database.
   * Written into page 1's change counter so SQLite drops its page cache at the
   * next read transaction instead of mixing pages of two states.
   */
  generation: number;
}

/** Offsets in the database header (https://sqlite.org/fileformat.html#the_database_header). */
const HEADER_WRITE_VERSION = 18;
const HEADER_READ_VERSION = 19;
const HEADER_CHANGE_COUNTER = 24;
const HEADER_PAGE_COUNT = 28;
const HEADER_VERSION_VALID_FOR = 92;
/** File format 1: rollback journal. Served instead of 2 (WAL) so SQLite never looks for a -wal or -shm. */
const LEGACY_FILE_FORMAT = 1;
const SECTOR_SIZE = 4096;

/**
 * A read-only SQLite VFS whose main database file is a PageProvider. Only
 * xRead is asynchronous (pages come from a replica), which the Asyncify build
 * of wa-sqlite turns into a suspended SQLite call. Every other file SQLite
 * asks for (journals, temp files) is refused: the connection runs with
 * `temp_store = MEMORY` and is never written.
 */
export class ReplicaVfs extends VFS.Base {
  readonly #open = new Set<number>();
  readonly #memory: WasmMemory;
  readonly #provider: PageProvider;
  /** The error behind the last SQLITE_IOERR, for the caller to report with the SQL error. */
  lastError: unknown;

  constructor(name: string, module: WasmMemory, provider: PageProvider) {
    super(name, module);
    this.#memory = module;
    this.#provider = provider;
  }

  override hasAsyncMethod(method: string): boolean {
    return method === 'xRead';
  }

  #i32(ptr: number, value: number): void {
    new DataView(this.#memory.HEAPU8.buffer).setInt32(ptr, value, true);
  }

  override xOpen(_pVfs: number, _zName: number, pFile: number, flags: number, pOutFlags: number): number {
    if ((flags & VFS.SQLITE_OPEN_MAIN_DB) === 0) return VFS.SQLITE_CANTOPEN;
    this.#open.add(pFile);
    if (pOutFlags !== 0) this.#i32(pOutFlags, VFS.SQLITE_OPEN_READONLY);
    return VFS.SQLITE_OK;
  }

  override xDelete(): number {
    return VFS.SQLITE_READONLY;
  }

  override xAccess(_pVfs: number, _zName: number, _flags: number, pResOut: number): number {
    // Only the main file exists: no hot journal, no WAL.
    this.#i32(pResOut, 0);
    return VFS.SQLITE_OK;
  }

  override xFullPathname(_pVfs: number, zName: number, nOut: number, zOut: number): number {
    const name = new TextEncoder().encode(this.#memory.UTF8ToString(zName));
    if (name.length >= nOut) return VFS.SQLITE_CANTOPEN;
    const heap = this.#memory.HEAPU8;
    heap.set(name, zOut);
    heap[zOut + name.length] = 0;
    return VFS.SQLITE_OK;
  }

  override xClose(pFile: number): number {
    this.#open.delete(pFile);
    return VFS.SQLITE_OK;
  }

  override async xRead(_pFile: number, pData: number, iAmt: number, iOffsetLo: number, iOffsetHi: number): Promise<number> {
    const offset = iOffsetHi * 2 ** 32 + (iOffsetLo >>> 0);
    try {
      const out = await this.#read(offset, iAmt);
      // Memory may have grown (and HEAPU8 been replaced) while the read was suspended.
      this.#memory.HEAPU8.set(out.bytes, pData);
      return out.short ? VFS.SQLITE_IOERR_SHORT_READ : VFS.SQLITE_OK;
    } catch (err) {
      this.lastError = err;
      return VFS.SQLITE_IOERR_READ;
    }
  }

  async #read(offset: number, length: number): Promise<{ bytes: Uint8Array; short: boolean }> {
    const p = this.#provider;
    const shape = p.shape();
    const { pageSize } = shape;
    const size = shape.pageCount * pageSize;
    const bytes = new Uint8Array(length);
    const end = Math.min(offset + length, size);
    for (let at = offset; at < end; ) {
      const pgno = Math.floor(at / pageSize) + 1;
      const pageStart = (pgno - 1) * pageSize;
      const page = pgno === 1 ? patchFirstPage(await p.readPage(1), shape) : await p.readPage(pgno);
      const from = at - pageStart;
      const n = Math.min(pageSize - from, end - at);
      bytes.set(page.subarray(from, from + n), at - offset);
      at += n;
    }
    return { bytes, short: end < offset + length };
  }

  override xWrite(): number {
    return VFS.SQLITE_READONLY;
  }

  override xTruncate(): number {
    return VFS.SQLITE_READONLY;
  }

  override xSync(): number {
    return VFS.SQLITE_OK;
  }

  override xFileSize(_pFile: number, pSize: number): number {
    const { pageCount, pageSize } = this.#provider.shape();
    new DataView(this.#memory.HEAPU8.buffer).setBigInt64(pSize, BigInt(pageCount * pageSize), true);
    return VFS.SQLITE_OK;
  }

  override xLock(): number {
    return VFS.SQLITE_OK;
  }

  override xUnlock(): number {
    return VFS.SQLITE_OK;
  }

  override xCheckReservedLock(_pFile: number, pResOut: number): number {
    this.#i32(pResOut, 0);
    return VFS.SQLITE_OK;
  }

  override xFileControl(): number {
    return VFS.SQLITE_NOTFOUND;
  }

  override xSectorSize(): number {
    return SECTOR_SIZE;
  }

  override xDeviceCharacteristics(): number {
    return 0;
  }
}

/** Page 1 as served: rollback-journal format, the generation as change counter. */
function patchFirstPage(page: Uint8Array, shape: DatabaseShape): Uint8Array {
  const out = page.slice();
  const dv = new DataView(out.buffer);
  out[HEADER_WRITE_VERSION] = LEGACY_FILE_FORMAT;
  out[HEADER_READ_VERSION] = LEGACY_FILE_FORMAT;
  const generation = shape.generation >>> 0;
  dv.setUint32(HEADER_CHANGE_COUNTER, generation);
  dv.setUint32(HEADER_VERSION_VALID_FOR, generation);
  dv.setUint32(HEADER_PAGE_COUNT, shape.pageCount);
  return out;
}
