/**
 * Just enough of the LZ4 frame format to watch a Litestream v0.3 replica:
 * the decompressed length of a `.wal.lz4` segment, and its first bytes (the
 * WAL header with the salts). Lengths come from walking the sequences of each
 * block without producing output, so a segment of hundreds of MB is measured
 * for the cost of reading its compressed bytes once.
 */
import { lz4DecompressBlock } from '../../src/ltx/lz4-block.js';

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_DICT_ID = 0x01;
const BLOCK_UNCOMPRESSED = 0x80000000;
const MIN_MATCH = 4;
const RUN_MASK = 15;
const EXT_BYTE_MAX = 255;
/** Maximum block size for BD block-size ids 4..7. */
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];

export class Lz4ScanError extends Error {
  override name = 'Lz4ScanError';

  constructor(what: string, offset: number, options?: { cause?: unknown }) {
    super(`${what} at byte ${offset}`, options);
  }
}

interface Block {
  /** Offset of the block's data in the buffer. */
  at: number;
  len: number;
  stored: boolean;
  blockMax: number;
}

/** Calls `onBlock` for every data block of every frame in `buf`, in order; stops early when it returns false. */
function forEachBlock(buf: Uint8Array, onBlock: (b: Block) => boolean): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  while (p < buf.length) {
    if (p + 4 > buf.length) throw new Lz4ScanError('truncated LZ4 frame magic', p);
    const magic = view.getUint32(p, true);
    if ((magic & SKIPPABLE_MAGIC_MASK) === SKIPPABLE_MAGIC) {
      p += 8 + view.getUint32(p + 4, true);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new Lz4ScanError(`not an LZ4 frame (magic 0x${magic.toString(16)})`, p);
    const flg = buf[p + 4]!;
    const bd = buf[p + 5]!;
    const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 7]!;
    if (blockMax === 0) throw new Lz4ScanError('invalid LZ4 block size id', p + 5);
    p += 6 + ((flg & FLG_CONTENT_SIZE) !== 0 ? 8 : 0) + ((flg & FLG_DICT_ID) !== 0 ? 4 : 0) + 1;
    const trailer = (flg & FLG_BLOCK_CHECKSUM) !== 0 ? 4 : 0;
    for (;;) {
      if (p + 4 > buf.length) throw new Lz4ScanError('truncated LZ4 block size', p);
      const field = view.getUint32(p, true);
      p += 4;
      if (field === 0) break;
      const len = field & ~BLOCK_UNCOMPRESSED;
      if (p + len + trailer > buf.length) throw new Lz4ScanError('truncated LZ4 block', p);
      if (!onBlock({ at: p, len, stored: (field & BLOCK_UNCOMPRESSED) !== 0, blockMax })) return;
      p += len + trailer;
    }
    if ((flg & FLG_CONTENT_CHECKSUM) !== 0) p += 4;
  }
}

/** Decompressed length of one LZ4 block, from its sequence lengths alone. */
function blockLength(src: Uint8Array, start: number, end: number): number {
  let ip = start;
  let out = 0;
  for (;;) {
    if (ip >= end) throw new Lz4ScanError('LZ4 block ends inside a sequence', ip);
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === RUN_MASK) {
      let b: number;
      do {
        b = src[ip++]!;
        lit += b;
      } while (b === EXT_BYTE_MAX && ip < end);
    }
    ip += lit;
    out += lit;
    // The last sequence of a block stops after its literals.
    if (ip >= end) {
      if (ip > end) throw new Lz4ScanError('LZ4 literals run past the block', ip);
      return out;
    }
    ip += 2;
    let match = token & RUN_MASK;
    if (match === RUN_MASK) {
      let b: number;
      do {
        b = src[ip++]!;
        match += b;
      } while (b === EXT_BYTE_MAX && ip < end);
    }
    out += match + MIN_MATCH;
  }
}

/** Total decompressed length of the LZ4 frame(s) in `buf`. */
export function lz4FrameLength(buf: Uint8Array): number {
  let total = 0;
  forEachBlock(buf, (b) => {
    total += b.stored ? b.len : blockLength(buf, b.at, b.at + b.len);
    return true;
  });
  return total;
}

/** The first `n` decompressed bytes of the LZ4 frame(s) in `buf` (fewer if the content is shorter). */
export function lz4FramePrefix(buf: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let have = 0;
  forEachBlock(buf, (b) => {
    let bytes: Uint8Array;
    if (b.stored) {
      bytes = buf.subarray(b.at, b.at + b.len);
    } else {
      // Decoded whole: a block's matches may reach anywhere before them in the block.
      const dst = new Uint8Array(b.blockMax);
      bytes = dst.subarray(0, lz4DecompressBlock(buf, dst, b.at, b.at + b.len));
    }
    const take = Math.min(n - have, bytes.length);
    out.set(bytes.subarray(0, take), have);
    have += take;
    return have < n;
  });
  return out.subarray(0, have);
}
