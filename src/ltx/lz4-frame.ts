/**
 * LZ4 frames as LTX pages use them (v0.5.0/v0.5.1 "frame" encoding): one frame
 * per page, written with FLG 0x64 (version 1, independent blocks, content
 * checksum) and BD 0x40 (64 KiB blocks). The reader accepts what the Go reader
 * accepts: block sizes 64 KiB..4 MiB, block checksums, a content size field,
 * stored blocks, several blocks, skippable frames in front.
 *
 * Written by hand because the page framing must be exact to the byte (header
 * descriptor, stored-block choice, where a frame ends) and no npm LZ4 library
 * exposes that control without native code.
 */
import type { BufferedReader } from './byte-source.js';
import { LtxPageError, LtxTruncatedError, type LtxErrorContext } from './errors.js';
import { Lz4FormatError, lz4BlockBound, lz4CompressBlock, lz4DecompressBlock } from './lz4-block.js';
import { xxh32 } from './xxh32.js';

export const LZ4_FRAME_MAGIC = 0x184d2204;
/** Skippable frames use magics 0x184D2A50..0x184D2A5F. */
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** FLG as ltx v0.5.1 writes it: version 01, independent blocks, content checksum on. */
export const FRAME_FLG = 0x64;
/** BD as ltx v0.5.1 writes it: 64 KiB maximum block size. */
export const FRAME_BD = 0x40;

const FLG_VERSION_MASK = 0xc0;
const FLG_VERSION_01 = 0x40;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_RESERVED = 0x02;
const FLG_DICT_ID = 0x01;
const BD_RESERVED = 0x8f;
/** Block size bit: set means the block is stored uncompressed. */
const BLOCK_UNCOMPRESSED = 0x80000000;
const FRAME_END_MARK = 0;

/** Maximum block size for BD block-size ids 4..7. */
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];

/** magic 4 + FLG + BD + HC */
const FRAME_HEADER_SIZE = 7;
const BLOCK_SIZE_FIELD = 4;
/** EndMark + content checksum. */
const FRAME_FOOTER_SIZE = 8;

/** The header checksum byte HC for a descriptor. */
export function frameHeaderChecksum(flg: number, bd: number): number {
  return (xxh32(new Uint8Array([flg, bd])) >>> 8) & 0xff;
}

const DEFAULT_HC = frameHeaderChecksum(FRAME_FLG, FRAME_BD);

/** Largest frame writePageFrame can produce for n input bytes. */
export function maxPageFrameSize(n: number): number {
  return FRAME_HEADER_SIZE + BLOCK_SIZE_FIELD + Math.max(n, lz4BlockBound(n)) + FRAME_FOOTER_SIZE;
}

/**
 * Writes src[start, start+n) as one LZ4 frame at out[at]; returns bytes written.
 * Pages up to 64 KiB are one block; an incompressible block is stored raw, as
 * the Go writer does.
 */
export function writePageFrame(src: Uint8Array, start: number, n: number, out: Uint8Array, at: number): number {
  let p = at;
  out[p++] = 0x04;
  out[p++] = 0x22;
  out[p++] = 0x4d;
  out[p++] = 0x18;
  out[p++] = FRAME_FLG;
  out[p++] = FRAME_BD;
  out[p++] = DEFAULT_HC;
  const blockMax = BLOCK_MAX_SIZES[4]!;
  for (let off = start; off < start + n; off += blockMax) {
    const len = Math.min(blockMax, start + n - off);
    const sizeAt = p;
    p += BLOCK_SIZE_FIELD;
    const c = lz4CompressBlock(src, out, p, off, off + len);
    let field: number;
    if (c > 0 && c < len) {
      field = c;
      p += c;
    } else {
      out.set(src.subarray(off, off + len), p);
      field = (BLOCK_UNCOMPRESSED | len) >>> 0;
      p += len;
    }
    writeU32le(out, sizeAt, field);
  }
  writeU32le(out, p, FRAME_END_MARK);
  writeU32le(out, p + 4, xxh32(src, 0, start, start + n));
  return p + FRAME_FOOTER_SIZE - at;
}

/** parsePageFrame's answer when the buffer ends before the frame does. */
export const NEED_MORE = -1;

/** Extra bytes beyond the largest frame a writer produces, for descriptors with optional fields. */
const FRAME_SLACK = 64;

/**
 * Parses one LZ4 frame at buf[pos, end) and decompresses it into dst[0, size).
 * Returns the position just after the frame, or NEED_MORE if the buffer ends
 * first (nothing is consumed then; call again with more bytes). Throws
 * LtxPageError for a malformed frame. `base` is the file offset of buf[0], for
 * error messages; `info.contentChecksum` tells whether the frame had one.
 *
 * Every block must produce at least one byte and fit what is left of the page,
 * so a frame can never need more than a bounded amount of input.
 */
export function parsePageFrame(
  buf: Uint8Array,
  pos: number,
  end: number,
  dst: Uint8Array,
  size: number,
  ctx: LtxErrorContext,
  base: number,
  info: { contentChecksum: boolean },
): number {
  const frameStart = base + pos;
  if (end - pos < FRAME_HEADER_SIZE) return NEED_MORE;
  const magic = readU32le(buf, pos);
  if (magic !== LZ4_FRAME_MAGIC) fail(ctx, `invalid LZ4 frame magic 0x${magic.toString(16).padStart(8, '0')}`, frameStart);
  const flg = buf[pos + 4]!;
  const bd = buf[pos + 5]!;
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_01) fail(ctx, `unsupported LZ4 frame version in FLG 0x${hex8(flg)}`, frameStart + 4);
  if ((flg & FLG_RESERVED) !== 0) fail(ctx, `reserved bit set in LZ4 FLG 0x${hex8(flg)}`, frameStart + 4);
  if ((flg & FLG_DICT_ID) !== 0) fail(ctx, 'LZ4 dictionary IDs are not supported', frameStart + 4);
  if ((bd & BD_RESERVED) !== 0) fail(ctx, `reserved bits set in LZ4 BD 0x${hex8(bd)}`, frameStart + 5);
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 7]!;
  if (blockMax === 0) fail(ctx, `invalid LZ4 block size id ${(bd >> 4) & 7}`, frameStart + 5);
  const descLen = 2 + ((flg & FLG_CONTENT_SIZE) !== 0 ? 8 : 0);
  if (end - pos < 4 + descLen + 1) return NEED_MORE;
  const hc = buf[pos + 4 + descLen]!;
  const expectHc = (xxh32(buf, 0, pos + 4, pos + 4 + descLen) >>> 8) & 0xff;
  if (hc !== expectHc) {
    fail(ctx, `LZ4 frame header checksum mismatch: 0x${hex8(hc)}, expected 0x${hex8(expectHc)}`, frameStart + 4 + descLen);
  }
  let p = pos + 4 + descLen + 1;

  const blockChecksum = (flg & FLG_BLOCK_CHECKSUM) !== 0;
  const trailer = blockChecksum ? 4 : 0;
  let produced = 0;
  for (;;) {
    if (end - p < BLOCK_SIZE_FIELD) return NEED_MORE;
    const blockAt = base + p;
    const field = readU32le(buf, p);
    if (field === FRAME_END_MARK) {
      p += BLOCK_SIZE_FIELD;
      break;
    }
    const stored = (field & BLOCK_UNCOMPRESSED) !== 0;
    const len = field & ~BLOCK_UNCOMPRESSED;
    if (len > blockMax) fail(ctx, `LZ4 block of ${len} bytes exceeds the frame's ${blockMax}-byte maximum`, blockAt);
    if (len === 0) fail(ctx, 'empty LZ4 block', blockAt);
    if (stored ? len > size - produced : len > lz4BlockBound(size - produced)) {
      fail(ctx, `LZ4 frame holds more than the ${size}-byte page`, blockAt);
    }
    const data = p + BLOCK_SIZE_FIELD;
    if (end - data < len + trailer) return NEED_MORE;
    const blockOut = produced;
    if (stored) {
      dst.set(buf.subarray(data, data + len), produced);
      produced += len;
    } else {
      try {
        produced += lz4DecompressBlock(buf, dst, data, data + len, produced, size - produced);
      } catch (err) {
        if (err instanceof Lz4FormatError) fail(ctx, `bad LZ4 block: ${err.reason}`, base + data + err.offset);
        throw err;
      }
      if (produced === blockOut) fail(ctx, 'LZ4 block decodes to nothing', blockAt);
    }
    if (blockChecksum) {
      // The LZ4 spec checksums the block as stored; pierrec/lz4 (the Go writer)
      // checksums the decompressed bytes. Either proves the block intact.
      const sum = readU32le(buf, data + len);
      if (sum !== xxh32(buf, 0, data, data + len) && sum !== xxh32(dst, 0, blockOut, produced)) {
        fail(ctx, 'LZ4 block checksum mismatch', blockAt);
      }
    }
    p = data + len + trailer;
  }
  if (produced !== size) fail(ctx, `LZ4 frame ends after ${produced} of ${size} page bytes`, base + p - BLOCK_SIZE_FIELD);
  info.contentChecksum = (flg & FLG_CONTENT_CHECKSUM) !== 0;
  if (info.contentChecksum) {
    if (end - p < 4) return NEED_MORE;
    if (readU32le(buf, p) !== xxh32(dst, 0, 0, size)) fail(ctx, 'LZ4 content checksum mismatch', base + p);
    p += 4;
  }
  return p;
}

const frameInfo = { contentChecksum: true };

/**
 * Reads one LZ4 frame (after any skippable frames) from the reader into
 * dst[0, size): synchronously when the frame is already buffered, which is the
 * common case, so a page costs no extra promise. Returns whether the frame had
 * a content checksum (frames without one break newer readers).
 */
export function readPageFrame(r: BufferedReader, dst: Uint8Array, size: number, ctx: LtxErrorContext): boolean | Promise<boolean> {
  if (r.end - r.pos >= 4 && (readU32le(r.buf, r.pos) & SKIPPABLE_MAGIC_MASK) >>> 0 !== SKIPPABLE_MAGIC) {
    const next = parsePageFrame(r.buf, r.pos, r.end, dst, size, ctx, r.offset - r.pos, frameInfo);
    if (next !== NEED_MORE) {
      r.pos = next;
      return frameInfo.contentChecksum;
    }
  }
  return readPageFrameSlow(r, dst, size, ctx);
}

async function readPageFrameSlow(r: BufferedReader, dst: Uint8Array, size: number, ctx: LtxErrorContext): Promise<boolean> {
  for (;;) {
    if (r.end - r.pos < 4) await need(r, 4, 'frame magic', ctx);
    if ((readU32le(r.buf, r.pos) & SKIPPABLE_MAGIC_MASK) >>> 0 !== SKIPPABLE_MAGIC) break;
    if (r.end - r.pos < 8) await need(r, 8, 'skippable frame header', ctx);
    let left = readU32le(r.buf, r.pos + 4);
    r.consume(8);
    // Skip in bounded steps so a huge declared length cannot make the buffer grow.
    while (left > 0) {
      const step = Math.min(left, 64 * 1024);
      if (r.end - r.pos < step) await need(r, step, 'skippable frame', ctx);
      r.consume(step);
      left -= step;
    }
  }
  let want = maxPageFrameSize(size) + FRAME_SLACK;
  for (;;) {
    if (r.end - r.pos < want) await r.fill(want);
    const next = parsePageFrame(r.buf, r.pos, r.end, dst, size, ctx, r.offset - r.pos, frameInfo);
    if (next !== NEED_MORE) {
      r.pos = next;
      return frameInfo.contentChecksum;
    }
    if (r.end - r.pos < want) {
      throw new LtxTruncatedError('page: unexpected end of data in LZ4 frame', { ...ctx, offset: r.offset + (r.end - r.pos) });
    }
    // Frames with many small blocks or block checksums can outgrow the estimate.
    want *= 2;
  }
}

/** Makes n bytes available or throws: the slow path, taken only when the read buffer runs dry. */
async function need(r: BufferedReader, n: number, what: string, ctx: LtxErrorContext): Promise<void> {
  if (!(await r.fill(n))) {
    throw new LtxTruncatedError(`page: unexpected end of data in LZ4 ${what}`, { ...ctx, offset: r.offset });
  }
}

function fail(ctx: LtxErrorContext, reason: string, at: number): never {
  throw new LtxPageError(`page: ${reason}`, { ...ctx, offset: at });
}

function readU32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function writeU32le(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}

function hex8(n: number): string {
  return n.toString(16).padStart(2, '0');
}
