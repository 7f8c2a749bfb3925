import { INDEX_SIZE_FIELD, TRAILER_SIZE } from './constants.js';
import { LtxIndexError, type LtxErrorContext } from './errors.js';
import { putUvarint, readUvarint, uvarintSize } from './varint.js';

/** Where one page's frame sits in the file. */
export interface PageIndexEntry {
  pgno: number;
  /** Absolute file offset of the page header. */
  offset: number;
  /** Bytes from the page header to the end of the page payload. */
  size: number;
}

/** Encodes the index entries (sorted by pgno), the 0 terminator and the u64 size field. */
export function encodePageIndex(entries: readonly PageIndexEntry[]): Uint8Array {
  const sorted = [...entries].sort((a, b) => a.pgno - b.pgno);
  let len = 1;
  for (const e of sorted) len += uvarintSize(e.pgno) + uvarintSize(e.offset) + uvarintSize(e.size);
  const out = new Uint8Array(len + INDEX_SIZE_FIELD);
  let at = 0;
  for (const e of sorted) {
    at = putUvarint(out, at, e.pgno);
    at = putUvarint(out, at, e.offset);
    at = putUvarint(out, at, e.size);
  }
  out[at++] = 0;
  new DataView(out.buffer).setBigUint64(at, BigInt(len));
  return out;
}

/**
 * A page index as three parallel arrays, in the order the file lists its
 * entries: about 16 bytes a page, where a Map of entry objects takes five times
 * that (a 1 GiB database has 262,144 pages).
 */
export interface PageIndexColumns {
  count: number;
  pgnos: Uint32Array;
  /** Absolute file offsets of the page headers. */
  offsets: Float64Array;
  /** Bytes from each page header to the end of its payload. */
  sizes: Uint32Array;
}

/**
 * Parses index entries from buf[start, end) up to the 0 terminator. `base` is
 * the absolute file offset of buf[0], for error messages. Returns the entries
 * and the offset just after the terminator.
 */
export function parsePageIndexColumns(
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
  ctx: LtxErrorContext,
): { index: PageIndexColumns; next: number } {
  // Every entry takes at least three bytes (three varints): an upper bound for the arrays.
  const bound = Math.floor((end - start) / 3);
  const pgnos = new Uint32Array(bound);
  const offsets = new Float64Array(bound);
  const sizes = new Uint32Array(bound);
  let count = 0;
  let at = start;
  const read = (what: string): number => {
    let r;
    try {
      r = readUvarint(buf, at, end);
    } catch (err) {
      throw new LtxIndexError(`page index: malformed ${what} varint`, { ...ctx, offset: base + at, cause: err });
    }
    if (r === null) throw new LtxIndexError(`page index: truncated ${what} varint`, { ...ctx, offset: base + at });
    at = r.next;
    return r.value;
  };
  for (;;) {
    const pgno = read('page number');
    if (pgno === 0) break;
    const offset = read('offset');
    const size = read('size');
    if (pgno > 0xffff_ffff || size > 0xffff_ffff) {
      throw new LtxIndexError(`page index: entry for page ${pgno} out of range (size ${size})`, { ...ctx, offset: base + at });
    }
    pgnos[count] = pgno;
    offsets[count] = offset;
    sizes[count] = size;
    count++;
  }
  return { index: { count, pgnos: pgnos.slice(0, count), offsets: offsets.slice(0, count), sizes: sizes.slice(0, count) }, next: at };
}

/** Index location computed from the file size and the u64 field before the trailer. */
export function pageIndexBounds(
  fileSize: number,
  indexSizeField: bigint,
  ctx: LtxErrorContext,
): { start: number; end: number } {
  const end = fileSize - TRAILER_SIZE - INDEX_SIZE_FIELD;
  if (indexSizeField > BigInt(end) || indexSizeField < 1n) {
    throw new LtxIndexError(`page index size ${indexSizeField} does not fit in a ${fileSize}-byte file`, {
      ...ctx,
      offset: end,
    });
  }
  return { start: end - Number(indexSizeField), end };
}
