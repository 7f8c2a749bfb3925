import type { BufferedReader } from './byte-source.js';
import { BLOCK_SIZE_PREFIX, PAGE_FLAG_SIZE } from './constants.js';
import type { Crc64 } from './crc64.js';
import { LtxPageError, LtxTruncatedError, type LtxErrorContext } from './errors.js';
import { Lz4FormatError, lz4BlockBound, lz4DecompressBlock } from './lz4-block.js';
import { readU32be } from './bytes.js';
import { parsePageFrame, readPageFrame } from './lz4-frame.js';

/**
 * Reads the payload that follows a v3 page header (flags 0: one LZ4 frame;
 * flags 1: u32 size + one LZ4 block) into `data`, which must be one page long.
 * Feeds the bytes the file checksum covers into `crc`: the size prefix of the
 * block encoding and the decompressed page. Resolves false only for a frame
 * without a content checksum.
 */
export function readPagePayload(
  r: BufferedReader,
  flags: number,
  pgno: number,
  data: Uint8Array,
  ctx: LtxErrorContext,
  crc?: Crc64,
): boolean | Promise<boolean> {
  if (flags !== PAGE_FLAG_SIZE) {
    const res = readPageFrame(r, data, data.length, ctx);
    if (typeof res === 'boolean') {
      crc?.update(data);
      return res;
    }
    return res.then((hasContentChecksum) => {
      crc?.update(data);
      return hasContentChecksum;
    });
  }
  if (r.end - r.pos >= BLOCK_SIZE_PREFIX) {
    const b = r.buf;
    const n = readU32be(b, r.pos);
    if (n <= lz4BlockBound(data.length) && r.end - r.pos >= BLOCK_SIZE_PREFIX + n) {
      readBlockPayload(r, pgno, data, ctx, crc);
      return true;
    }
  }
  return readBlockPayloadSlow(r, pgno, data, ctx, crc);
}

async function readBlockPayloadSlow(r: BufferedReader, pgno: number, data: Uint8Array, ctx: LtxErrorContext, crc?: Crc64): Promise<boolean> {
  const pageSize = data.length;
  const sizeAt = r.offset;
  if (r.end - r.pos < BLOCK_SIZE_PREFIX && !(await r.fill(BLOCK_SIZE_PREFIX))) {
    throw new LtxTruncatedError(`page ${pgno}: unexpected end of data in block size`, { ...ctx, offset: sizeAt });
  }
  const b = r.buf;
  const n = readU32be(b, r.pos);
  // A block larger than the worst case for one page cannot be valid; refusing it
  // here also keeps a corrupt size field from growing the read buffer.
  if (n > lz4BlockBound(pageSize)) {
    throw new LtxPageError(`page ${pgno}: compressed size ${n} exceeds the bound for a ${pageSize}-byte page`, {
      ...ctx,
      offset: sizeAt,
    });
  }
  if (r.end - r.pos < BLOCK_SIZE_PREFIX + n && !(await r.fill(BLOCK_SIZE_PREFIX + n))) {
    throw new LtxTruncatedError(`page ${pgno}: unexpected end of data in LZ4 block`, { ...ctx, offset: sizeAt + BLOCK_SIZE_PREFIX });
  }
  readBlockPayload(r, pgno, data, ctx, crc);
  return true;
}

/** Decodes a block payload whose size prefix and block are both buffered and within bounds. */
function readBlockPayload(r: BufferedReader, pgno: number, data: Uint8Array, ctx: LtxErrorContext, crc?: Crc64): void {
  const end = r.pos + BLOCK_SIZE_PREFIX + readU32be(r.buf, r.pos);
  decodePagePayloadAt(r.buf, r.pos, end, PAGE_FLAG_SIZE, pgno, data, ctx, r.offset - r.pos);
  crc?.update(r.buf, r.pos, r.pos + BLOCK_SIZE_PREFIX);
  crc?.update(data);
  r.consume(end - r.pos);
}

/**
 * Decodes a payload known to span exactly buf[start, end) into dst (one page),
 * synchronously. Returns whether a frame carried a content checksum. `base`
 * is the file offset of buf[0].
 */
function decodePagePayloadAt(
  buf: Uint8Array,
  start: number,
  end: number,
  flags: number,
  pgno: number,
  dst: Uint8Array,
  ctx: LtxErrorContext,
  base: number,
): boolean {
  if (flags !== PAGE_FLAG_SIZE) {
    const info = { contentChecksum: true };
    const next = parsePageFrame(buf, start, end, dst, dst.length, ctx, base, info);
    if (next !== end) throw new LtxPageError(`page ${pgno}: LZ4 frame does not end where its blocks say`, { ...ctx, offset: base + start });
    return info.contentChecksum;
  }
  const blockAt = start + BLOCK_SIZE_PREFIX;
  let got: number;
  try {
    got = lz4DecompressBlock(buf, dst, blockAt, end, 0, dst.length);
  } catch (err) {
    if (err instanceof Lz4FormatError) {
      throw new LtxPageError(`page ${pgno}: bad LZ4 block: ${err.reason}`, { ...ctx, offset: base + blockAt + err.offset, cause: err });
    }
    throw err;
  }
  if (got !== dst.length) {
    throw new LtxPageError(`page ${pgno}: LZ4 block decodes to ${got} bytes, page size is ${dst.length}`, { ...ctx, offset: base + blockAt });
  }
  return true;
}
