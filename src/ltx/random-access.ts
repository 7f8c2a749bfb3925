import { readU32be } from './bytes.js';
import { BufferedReader, MemorySource } from './byte-source.js';
import { HEADER_SIZE, INDEX_SIZE_FIELD, PAGE_FLAG_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE } from './constants.js';
import { LtxIndexError, LtxPageError, LtxTruncatedError, type LtxErrorContext } from './errors.js';
import { decodeHeader, validateHeader, type DecodedLtxHeader } from './header.js';
import { pageIndexBounds, parsePageIndexColumns, type PageIndexColumns, type PageIndexEntry } from './page-index.js';
import { readPagePayload } from './page-payload.js';
import type { LtxTrailer } from './decoder.js';

/** How much of a file's tail to fetch first, hoping it holds the whole index (Litestream's estimate). */
export const ESTIMATED_PAGE_INDEX_SIZE = 32 * 1024;

/** A file that can be read at any offset: a local file, or an object store with byte ranges. */
export interface RandomAccessFile {
  readonly size: number;
  /** Resolves exactly `length` bytes from `offset` (or throws). */
  readAt(offset: number, length: number): Promise<Uint8Array>;
}

/** A file's header, trailer and page index, the index as parallel arrays. */
export interface LtxPageIndex {
  header: DecodedLtxHeader;
  trailer: LtxTrailer;
  index: PageIndexColumns;
}

export interface LtxPageMap {
  header: DecodedLtxHeader;
  trailer: LtxTrailer;
  /** Page index entries by page number. */
  pages: Map<number, PageIndexEntry>;
}

/**
 * Reads the header and the page index from the tail of a file without reading
 * the pages: two range reads for files whose index fits in 32 KiB, three otherwise.
 * The index is trusted as stored; `decodeLtx` with `strict` checks it against the pages.
 */
export async function readPageMap(f: RandomAccessFile, ctx: LtxErrorContext = {}): Promise<LtxPageMap> {
  const { header, trailer, index } = await readPageIndex(f, ctx);
  const pages = new Map<number, PageIndexEntry>();
  for (let i = 0; i < index.count; i++) pages.set(index.pgnos[i]!, { pgno: index.pgnos[i]!, offset: index.offsets[i]!, size: index.sizes[i]! });
  return { header, trailer, pages };
}

/** As readPageMap, with the index kept compact (for indexes held in memory at length). */
export async function readPageIndex(f: RandomAccessFile, ctx: LtxErrorContext = {}): Promise<LtxPageIndex> {
  const minSize = HEADER_SIZE + PAGE_HEADER_SIZE + 1 + INDEX_SIZE_FIELD + TRAILER_SIZE;
  if (f.size < minSize) {
    throw new LtxTruncatedError(`file of ${f.size} bytes is too short for an LTX file with a page index`, { ...ctx, offset: 0 });
  }
  const header = decodeHeader(await f.readAt(0, HEADER_SIZE), ctx);
  validateHeader(header, ctx);
  const tailLen = Math.min(f.size - HEADER_SIZE, ESTIMATED_PAGE_INDEX_SIZE);
  let tailStart = f.size - tailLen;
  let tail = await f.readAt(tailStart, tailLen);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.length);
  const sizeField = dv.getBigUint64(tail.length - TRAILER_SIZE - INDEX_SIZE_FIELD);
  const trailer: LtxTrailer = {
    postApplyChecksum: dv.getBigUint64(tail.length - TRAILER_SIZE),
    fileChecksum: dv.getBigUint64(tail.length - 8),
  };
  const bounds = pageIndexBounds(f.size, sizeField, ctx);
  if (bounds.start < HEADER_SIZE + PAGE_HEADER_SIZE) {
    throw new LtxIndexError(`page index size ${sizeField} reaches into the header`, { ...ctx, offset: bounds.end });
  }
  if (bounds.start < tailStart) {
    tailStart = bounds.start;
    tail = await f.readAt(tailStart, bounds.end - bounds.start);
  }
  const from = bounds.start - tailStart;
  const to = bounds.end - tailStart;
  const { index, next } = parsePageIndexColumns(tail, from, to, tailStart, ctx);
  if (next !== to) {
    throw new LtxIndexError(`page index ends ${to - next} bytes before its stated size`, { ...ctx, offset: tailStart + next });
  }
  return { header, trailer, index };
}

/**
 * Fetches and decodes one page by its index entry with a single range read.
 * Returns null if the page is not in the file.
 */
export async function fetchPage(
  f: RandomAccessFile,
  map: LtxPageMap,
  pgno: number,
  ctx: LtxErrorContext = {},
): Promise<Uint8Array | null> {
  const e = map.pages.get(pgno);
  if (!e) return null;
  if (e.offset < HEADER_SIZE || e.offset + e.size > f.size || e.size < PAGE_HEADER_SIZE) {
    throw new LtxIndexError(`page index entry for page ${pgno} points outside the page block`, { ...ctx, offset: e.offset });
  }
  return decodePageData(await f.readAt(e.offset, e.size), map.header.pageSize, { ...ctx, pgno, base: e.offset });
}

/**
 * Decodes one page frame (page header + payload) held in memory, as fetched by
 * a range read. Checks the page number when `pgno` is given.
 */
export async function decodePageData(
  bytes: Uint8Array,
  pageSize: number,
  opts: LtxErrorContext & { pgno?: number; base?: number } = {},
): Promise<Uint8Array> {
  const base = opts.base ?? 0;
  const ctx: LtxErrorContext = opts.file === undefined ? {} : { file: opts.file };
  if (bytes.length < PAGE_HEADER_SIZE) throw new LtxTruncatedError('page: frame shorter than a page header', { ...ctx, offset: base });
  const pgno = readU32be(bytes, 0);
  const flags = (bytes[4]! << 8) | bytes[5]!;
  if (opts.pgno !== undefined && pgno !== opts.pgno) {
    throw new LtxPageError(`page: expected page ${opts.pgno}, frame holds page ${pgno}`, { ...ctx, offset: base });
  }
  if (pgno === 0) throw new LtxPageError('page: page number required', { ...ctx, offset: base });
  if (flags !== 0 && flags !== PAGE_FLAG_SIZE) {
    throw new LtxPageError(`page: invalid page header flags: 0x${flags.toString(16).padStart(4, '0')}`, { ...ctx, offset: base + 4 });
  }
  const r = new BufferedReader(new MemorySource(bytes.subarray(PAGE_HEADER_SIZE)), bytes.length);
  const data = new Uint8Array(pageSize);
  try {
    await readPagePayload(r, flags, pgno, data, ctx);
  } catch (err) {
    if (err instanceof LtxPageError || err instanceof LtxTruncatedError) {
      const cls = err instanceof LtxTruncatedError ? LtxTruncatedError : LtxPageError;
      throw new cls(err.reason, { ...ctx, offset: base + PAGE_HEADER_SIZE + (err.offset ?? 0), cause: err });
    }
    throw err;
  }
  if (r.available !== 0) {
    throw new LtxPageError(`page ${pgno}: ${r.available} unexpected bytes after the page payload`, { ...ctx, offset: base + PAGE_HEADER_SIZE + r.offset });
  }
  return data;
}
