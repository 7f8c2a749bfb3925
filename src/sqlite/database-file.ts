import { open } from 'node:fs/promises';
import { DatabaseChecksum } from '../ltx/checksum.js';
import { CHECKSUM_FLAG, isValidPageSize } from '../ltx/constants.js';
import { TidemarkError } from '../errors.js';

/** The SQLite database header is the first 100 bytes of page 1. */
export const SQLITE_HEADER_SIZE = 100;
const SQLITE_MAGIC = 'SQLite format 3\0';
const PAGE_SIZE_OFFSET = 16;
/** Page size field value that stands for 65536 (it does not fit in a u16). */
const PAGE_SIZE_65536_CODE = 1;
/** Bytes read per call when scanning a database file. */
export const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;

export class SqliteFormatError extends TidemarkError {
  override name = 'SqliteFormatError';
}

/** Reads the page size from a SQLite database header; throws SqliteFormatError if it is not one. */
export function sqlitePageSize(header: Uint8Array, file = 'database'): number {
  if (header.length < SQLITE_HEADER_SIZE) {
    throw new SqliteFormatError(`${file}: not a SQLite database (file is ${header.length} bytes, shorter than the 100-byte header)`);
  }
  for (let i = 0; i < SQLITE_MAGIC.length; i++) {
    if (header[i] !== SQLITE_MAGIC.charCodeAt(i)) {
      throw new SqliteFormatError(`${file}: not a SQLite database (bad magic at offset 0)`);
    }
  }
  const raw = (header[PAGE_SIZE_OFFSET]! << 8) | header[PAGE_SIZE_OFFSET + 1]!;
  const size = raw === PAGE_SIZE_65536_CODE ? 65536 : raw;
  if (!isValidPageSize(size)) {
    throw new SqliteFormatError(`${file}: invalid SQLite page size ${raw} at offset ${PAGE_SIZE_OFFSET}`);
  }
  return size;
}

/**
 * The rolling LTX checksum of a database file (every page but the lock page),
 * read in chunks so memory stays bounded. An empty file is an empty database:
 * CHECKSUM_FLAG. A file that is not a whole number of pages is refused.
 */
export async function checksumDatabaseFile(path: string): Promise<{ checksum: bigint; pageSize: number; pageCount: number }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return { checksum: CHECKSUM_FLAG, pageSize: 0, pageCount: 0 };
    const head = new Uint8Array(Math.min(size, SQLITE_HEADER_SIZE));
    await fh.read(head, 0, head.length, 0);
    const pageSize = sqlitePageSize(head, path);
    if (size % pageSize !== 0) {
      throw new SqliteFormatError(`${path}: file size ${size} is not a multiple of the ${pageSize}-byte page size`);
    }
    const sum = new DatabaseChecksum(pageSize);
    const chunk = new Uint8Array(Math.max(pageSize, SCAN_CHUNK_BYTES - (SCAN_CHUNK_BYTES % pageSize)));
    let pos = 0;
    let pgno = 1;
    while (pos < size) {
      const want = Math.min(chunk.length, size - pos);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(chunk, got, want - got, pos + got);
        if (bytesRead === 0) throw new SqliteFormatError(`${path}: file shrank while being read at offset ${pos + got}`);
        got += bytesRead;
      }
      for (let off = 0; off < want; off += pageSize) sum.toggle(pgno++, chunk, off, off + pageSize);
      pos += want;
    }
    return { checksum: sum.digest(), pageSize, pageCount: size / pageSize };
  } finally {
    await fh.close();
  }
}
