/** Byte sizes and flag values of the LTX format (docs/ltx-format.md). */

export const MAGIC = 'LTX1';
export const HEADER_SIZE = 100;
export const PAGE_HEADER_SIZE = 6;
/** u32 compressed-size prefix that follows the page header in the block encoding. */
export const BLOCK_SIZE_PREFIX = 4;
export const TRAILER_SIZE = 16;
/** The u64 page-index size field that sits between the index entries and the trailer. */
export const INDEX_SIZE_FIELD = 8;

/** Header flag: the file carries no pre/post-apply database checksums (how Litestream writes). */
export const HEADER_FLAG_NO_CHECKSUM = 0x2;
export const HEADER_FLAG_MASK = HEADER_FLAG_NO_CHECKSUM;
/** Header flag bit 0 of the legacy v2 layout: the body is one LZ4 stream. Invalid in v3 files. */
export const LEGACY_HEADER_FLAG_COMPRESS_LZ4 = 0x1;

/** Page header flag: the payload is a u32 size plus one LZ4 block (v0.5.2+); clear means one LZ4 frame. */
export const PAGE_FLAG_SIZE = 0x0001;

/** Top bit set on every checksum the format stores, so a stored zero always means "absent". */
export const CHECKSUM_FLAG = 1n << 63n;

export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 65536;

/** SQLite's PENDING_BYTE: the page holding this byte is the lock page and is never stored. */
export const PENDING_BYTE = 0x40000000;

export type PageEncoding = 'frame' | 'block';

export function isValidPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_PAGE_SIZE && n <= MAX_PAGE_SIZE && (n & (n - 1)) === 0;
}

/** The page number of the lock page for a page size. */
export function lockPgno(pageSize: number): number {
  return Math.floor(PENDING_BYTE / pageSize) + 1;
}
