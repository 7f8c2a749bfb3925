/**
 * Decoding of one LZ4 block whose matches may reach into the output of the
 * blocks before it: frames written with linked blocks (FLG bit B.Indep = 0,
 * `lz4 -BD`). The fast decoder in src/ltx refuses such references on purpose
 * (LTX pages are independent), so linked frames come here. They are rare in
 * v0.3 backups (the Go writer links no blocks), so this favours plainness
 * over speed.
 */
import { Lz4FormatError } from '../../ltx/lz4-block.js';

const MIN_MATCH = 4;
/** Token nibble meaning "the length continues in extension bytes". */
const RUN_MASK = 15;
const EXT_BYTE_MAX = 255;

/**
 * Decodes src[srcStart, srcEnd) into dst starting at dstStart, writing at most
 * dstCapacity bytes. Matches may copy from dst[dictStart, dstStart), the
 * previous blocks' output placed just before, as well as from this block's
 * own output. Returns the bytes written. Throws Lz4FormatError, with the
 * offset inside the block, for anything malformed.
 */
export function lz4DecompressLinkedBlock(
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
  dst: Uint8Array,
  dictStart: number,
  dstStart: number,
  dstCapacity: number,
): number {
  if (!(0 <= srcStart && srcStart <= srcEnd && srcEnd <= src.length)) throw new RangeError('lz4DecompressLinkedBlock: bad input range');
  if (!(0 <= dictStart && dictStart <= dstStart && dstCapacity >= 0 && dstStart + dstCapacity <= dst.length)) {
    throw new RangeError('lz4DecompressLinkedBlock: bad output range');
  }
  const oend = dstStart + dstCapacity;
  let ip = srcStart;
  let op = dstStart;
  for (;;) {
    if (ip >= srcEnd) {
      throw new Lz4FormatError(
        ip === srcStart ? 'empty block, expected a token' : 'block ends after a match; the last sequence must hold only literals',
        ip - srcStart,
      );
    }
    const token = src[ip++]!;
    let litLen = token >>> 4;
    if (litLen === RUN_MASK) {
      let b: number;
      do {
        if (ip >= srcEnd) throw new Lz4FormatError('literal length extension is truncated', ip - srcStart);
        b = src[ip++]!;
        litLen += b;
      } while (b === EXT_BYTE_MAX);
    }
    if (litLen > srcEnd - ip) throw new Lz4FormatError(`literal run of ${litLen} bytes overruns the input`, ip - srcStart);
    if (litLen > oend - op) throw new Lz4FormatError(`literal run of ${litLen} bytes overruns the output`, ip - srcStart);
    dst.set(src.subarray(ip, ip + litLen), op);
    ip += litLen;
    op += litLen;
    if (ip === srcEnd) return op - dstStart;

    if (srcEnd - ip < 2) throw new Lz4FormatError('match offset is truncated', ip - srcStart);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    if (offset === 0) throw new Lz4FormatError('match offset is 0', ip - srcStart);
    if (offset > op - dictStart) {
      throw new Lz4FormatError(`match offset ${offset} points before the data decoded so far (${op - dictStart} bytes)`, ip - srcStart);
    }
    ip += 2;
    let matchLen = token & RUN_MASK;
    if (matchLen === RUN_MASK) {
      let b: number;
      do {
        if (ip >= srcEnd) throw new Lz4FormatError('match length extension is truncated', ip - srcStart);
        b = src[ip++]!;
        matchLen += b;
      } while (b === EXT_BYTE_MAX);
    }
    matchLen += MIN_MATCH;
    if (matchLen > oend - op) throw new Lz4FormatError(`match of ${matchLen} bytes overruns the output`, ip - srcStart);
    // Byte by byte, because an overlapping match repeats what it has just written.
    let mp = op - offset;
    const mEnd = op + matchLen;
    while (op < mEnd) dst[op++] = dst[mp++]!;
  }
}
