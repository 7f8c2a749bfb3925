/**
 * Raw LZ4 blocks (no frame): the page payload of LTX "block" encoding and the body of
 * each block inside an LZ4 frame.
 *
 * A block is a run of sequences `token | [literal-length ext] | literals | offset u16 LE |
 * [match-length ext]`; the token's high nibble is the literal length, the low nibble the
 * match length minus MIN_MATCH, and 15 in either nibble means extension bytes follow (each
 * adds 0-255, the first byte below 255 ends the run). The last sequence stops after its
 * literals.
 *
 * Hot-loop notes (Node 20 / TurboFan): integer sums that could leave the int32 range are
 * truncated with `| 0` so they stay Word32 operations instead of deoptimising; the
 * compressor keeps one module-level hash table and invalidates it with an epoch offset
 * rather than clearing it on every call.
 */

import { TidemarkError } from '../errors.js';

/**
 * A malformed LZ4 block. `offset` is the byte offset inside the compressed block (from
 * srcStart) where the problem was found; callers add their own file context.
 */
export class Lz4FormatError extends TidemarkError {
  override name = 'Lz4FormatError';
  readonly offset: number;
  /** What was wrong, without the offset. */
  readonly reason: string;

  constructor(reason: string, offset: number) {
    super(`${reason} (at byte ${offset} of the block)`);
    this.reason = reason;
    this.offset = offset;
  }
}

const MIN_MATCH = 4;
/** The format requires the last 5 bytes of a block to be literals. */
const LAST_LITERALS = 5;
/** No match may start within the last 12 bytes (so decoders can copy in 8-byte words). */
const MF_LIMIT = 12;
/** Shorter inputs cannot hold a legal match, so they are always literal-only. */
const MIN_COMPRESSIBLE_INPUT = MF_LIMIT + 1;
const MAX_OFFSET = 0xffff;
/** Nibble value meaning "length continues in extension bytes". */
const RUN_MASK = 15;
const EXT_BYTE_MAX = 255;
/** Largest input the reference implementation accepts (LZ4_MAX_INPUT_SIZE). */
const MAX_INPUT_SIZE = 0x7e000000;
/** Bytes lz4BlockBound adds beyond the length and its extension bytes. */
const BOUND_SLACK = 16;

/**
 * 16384 entries (64 KiB): on 4 KiB SQLite-like pages this measured about 10% faster than
 * 4096 entries (fewer false candidates to verify) at the same ratio.
 */
const HASH_LOG = 14;
const HASH_SHIFT = 32 - HASH_LOG;
/** Knuth's multiplicative constant (2^32 / golden ratio), spreads 4-byte keys well. */
const HASH_MULTIPLIER = 0x9e3779b1 | 0;
/**
 * Each unsuccessful probe advances by `misses >> SKIP_TRIGGER`, so after 64 misses in a row
 * the search starts skipping bytes; incompressible data is crossed quickly.
 */
const SKIP_TRIGGER = 6;

/** Literal runs and non-overlapping matches at least this long use the native copy. */
const NATIVE_COPY_MIN = 32;
/** Bytes the decoder's fast path may copy for a short literal run and a short match. */
const FAST_LITERAL_COPY = 16;
const FAST_MATCH_COPY = 20;
const WORD = 4;

/**
 * Hash table of `position + epochDelta`. Entries below `epochBase` belong to earlier calls
 * and read back as positions before srcStart, which the match test rejects, so the table
 * never needs clearing until the epoch counter would overflow int32.
 */
const hashTable = new Int32Array(1 << HASH_LOG);
let epochBase = 1;
const EPOCH_LIMIT = 0x7fffffff;

function checkRange(what: string, buf: Uint8Array, start: number, end: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= buf.length)) {
    throw new RangeError(`${what}: invalid range [${start}, ${end}) for a buffer of ${buf.length} bytes`);
  }
}

function checkOutputSpace(what: string, dst: Uint8Array, dstStart: number, needed: number): void {
  if (!(Number.isInteger(dstStart) && dstStart >= 0 && dst.length - dstStart >= needed)) {
    throw new RangeError(`${what}: need ${needed} bytes at offset ${dstStart}, destination holds ${dst.length}`);
  }
}

/** Worst-case compressed size for n input bytes (n + n/255 + 16 is the usual bound). */
export function lz4BlockBound(n: number): number {
  if (!(Number.isInteger(n) && n >= 0 && n <= MAX_INPUT_SIZE)) {
    throw new RangeError(`lz4BlockBound: invalid input size ${n}`);
  }
  return n + Math.floor(n / EXT_BYTE_MAX) + BOUND_SLACK;
}

/** Writes the extension bytes of a length whose nibble was RUN_MASK; returns the new position. */
function writeLengthExtension(dst: Uint8Array, op: number, rest: number): number {
  if (rest >= EXT_BYTE_MAX) {
    const full = (rest / EXT_BYTE_MAX) | 0;
    dst.fill(EXT_BYTE_MAX, op, op + full);
    op += full;
    rest -= full * EXT_BYTE_MAX;
  }
  dst[op] = rest;
  return op + 1;
}

/** Size of the literal-only encoding of n bytes. */
function literalBlockSize(n: number): number {
  return 1 + (n >= RUN_MASK ? ((n - RUN_MASK) / EXT_BYTE_MAX | 0) + 1 : 0) + n;
}

/** Writes src[srcStart, srcEnd) as a literal-only LZ4 block (one sequence, no match); returns bytes written. */
export function lz4LiteralBlock(
  src: Uint8Array,
  dst: Uint8Array,
  dstStart = 0,
  srcStart = 0,
  srcEnd: number = src.length,
): number {
  checkRange('lz4LiteralBlock', src, srcStart, srcEnd);
  const n = srcEnd - srcStart;
  checkOutputSpace('lz4LiteralBlock', dst, dstStart, literalBlockSize(n));
  let op = dstStart;
  if (n >= RUN_MASK) {
    dst[op++] = RUN_MASK << 4;
    op = writeLengthExtension(dst, op, n - RUN_MASK);
  } else {
    dst[op++] = n << 4;
  }
  dst.set(src.subarray(srcStart, srcEnd), op);
  return op + n - dstStart;
}

/**
 * Compresses src[srcStart, srcEnd) as one raw LZ4 block into dst starting at dstStart.
 * Returns the number of bytes written, or 0 if the compressed form would not be smaller than the input
 * (the caller then stores the data raw (frame) or calls lz4LiteralBlock (block encoding)).
 * dst must have at least lz4BlockBound(n) bytes free after dstStart.
 *
 * Greedy single-probe matching, like the reference "fast" level. Sharing one hash table is
 * safe: a call runs to completion on its thread and every worker has its own module instance.
 * Positions are kept in int32, so srcEnd must stay below 2^31.
 */
export function lz4CompressBlock(
  src: Uint8Array,
  dst: Uint8Array,
  dstStart = 0,
  srcStart = 0,
  srcEnd: number = src.length,
): number {
  checkRange('lz4CompressBlock', src, srcStart, srcEnd);
  const n = srcEnd - srcStart;
  checkOutputSpace('lz4CompressBlock', dst, dstStart, lz4BlockBound(n));
  if (srcEnd > EPOCH_LIMIT) throw new RangeError(`lz4CompressBlock: input end ${srcEnd} is beyond 2^31 - 1`);
  if (n < MIN_COMPRESSIBLE_INPUT) return 0;

  const table = hashTable;
  if (epochBase > EPOCH_LIMIT - n - 1) {
    table.fill(0);
    epochBase = 1;
  }
  const delta = epochBase - srcStart;
  epochBase += n + 1;

  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  // Reaching outLimit means the block is at least as large as the input: give up.
  const outLimit = dstStart + n;
  const lastMatchStart = srcEnd - MF_LIMIT;
  const matchEndLimit = srcEnd - LAST_LITERALS;
  let anchor = srcStart;
  let ip = srcStart;
  let op = dstStart;

  table[Math.imul(sv.getInt32(ip, true), HASH_MULTIPLIER) >>> HASH_SHIFT] = ip + delta;
  ip++;

  search: for (;;) {
    let ref: number;
    let misses = 1 << SKIP_TRIGGER;
    for (;;) {
      const seq = sv.getInt32(ip, true);
      const h = Math.imul(seq, HASH_MULTIPLIER) >>> HASH_SHIFT;
      ref = (table[h]! - delta) | 0;
      table[h] = (ip + delta) | 0;
      if (ref >= srcStart && ip - ref <= MAX_OFFSET && sv.getInt32(ref, true) === seq) break;
      ip += misses++ >> SKIP_TRIGGER;
      if (ip > lastMatchStart) break search;
    }

    while (ip > anchor && ref > srcStart && src[ip - 1] === src[ref - 1]) {
      ip--;
      ref--;
    }

    // Extend a word at a time; the lowest set bit of the XOR marks the first differing
    // byte (little-endian reads).
    let mEnd = ip + MIN_MATCH;
    let rp = ref + MIN_MATCH;
    for (;;) {
      if (mEnd > matchEndLimit - WORD) {
        while (mEnd < matchEndLimit && src[mEnd] === src[rp]) {
          mEnd++;
          rp++;
        }
        break;
      }
      const diff = sv.getInt32(mEnd, true) ^ sv.getInt32(rp, true);
      if (diff !== 0) {
        mEnd += (31 - Math.clz32(diff & -diff)) >>> 3;
        break;
      }
      mEnd += WORD;
      rp += WORD;
    }

    const litLen = ip - anchor;
    const tokenPos = op++;
    let token: number;
    if (litLen >= RUN_MASK) {
      token = RUN_MASK << 4;
      op = writeLengthExtension(dst, op, litLen - RUN_MASK);
    } else {
      token = litLen << 4;
    }
    // The word copies may run up to 8 bytes past the literals in both arrays. The source
    // has at least MF_LIMIT bytes after ip. The output so far is at most the input consumed
    // plus 1/255 of it, so with ip <= srcEnd - MF_LIMIT the copy stays inside lz4BlockBound.
    if (litLen <= 2 * WORD) {
      dv.setInt32(op, sv.getInt32(anchor, true), true);
      dv.setInt32(op + 4, sv.getInt32(anchor + 4, true), true);
    } else if (litLen < NATIVE_COPY_MIN) {
      for (let k = 0; k < litLen; k += WORD) dv.setInt32(op + k, sv.getInt32(anchor + k, true), true);
    } else {
      dst.set(src.subarray(anchor, ip), op);
    }
    op += litLen;
    const offset = ip - ref;
    dst[op++] = offset & 0xff;
    dst[op++] = offset >>> 8;
    const matchCode = mEnd - ip - MIN_MATCH;
    if (matchCode >= RUN_MASK) {
      token |= RUN_MASK;
      op = writeLengthExtension(dst, op, matchCode - RUN_MASK);
    } else {
      token |= matchCode;
    }
    dst[tokenPos] = token;
    if (op >= outLimit) return 0;

    ip = mEnd;
    anchor = ip;
    if (ip > lastMatchStart) break;
    // Indexing a position inside the match just taken lets the next search find repeats
    // that start right before the current position, as the reference compressor does.
    const back = ip - 2;
    table[Math.imul(sv.getInt32(back, true), HASH_MULTIPLIER) >>> HASH_SHIFT] = (back + delta) | 0;
  }

  const lastLen = srcEnd - anchor;
  if (op - dstStart + literalBlockSize(lastLen) >= n) return 0;
  if (lastLen >= RUN_MASK) {
    dst[op++] = RUN_MASK << 4;
    op = writeLengthExtension(dst, op, lastLen - RUN_MASK);
  } else {
    dst[op++] = lastLen << 4;
  }
  dst.set(src.subarray(anchor, srcEnd), op);
  op += lastLen;
  return op - dstStart;
}

/**
 * Decompresses one raw LZ4 block src[srcStart, srcEnd) into dst[dstStart, dstStart+dstCapacity).
 * Returns bytes written. Throws Lz4FormatError (never anything else, never reads/writes out of bounds, never loops forever)
 * on: a literal run or match that would overrun the input or output, an offset of 0 or pointing before dstStart,
 * a truncated token/extension/offset, output exceeding dstCapacity.
 *
 * Argument mistakes (ranges outside the arrays) are programming errors and throw RangeError
 * before any byte is read. src and dst must not share memory.
 *
 * A block must end with a literal-only sequence (possibly of zero literals); one that ends
 * right after a match is rejected, as liblz4 does. Matches may reach back to `windowStart`
 * (default dstStart, as LTX pages are independent): a block of a frame with linked blocks
 * (FLG B.Indep = 0) is decoded with the previous blocks' output placed in
 * dst[windowStart, dstStart), which is read but never written.
 * The writer-side end conditions (last 5 bytes literal, no match in the last 12 bytes) are
 * not enforced, so this accepts a few blocks that liblz4's safe decoder refuses.
 *
 * For speed, short sequences are copied in fixed 16/20-byte chunks, so bytes of
 * dst[dstStart + returned length, dstStart + dstCapacity) may be overwritten with garbage;
 * nothing outside [dstStart, dstStart + dstCapacity) is ever touched.
 */
export function lz4DecompressBlock(
  src: Uint8Array,
  dst: Uint8Array,
  srcStart = 0,
  srcEnd: number = src.length,
  dstStart = 0,
  dstCapacity: number = dst.length - dstStart,
  windowStart: number = dstStart,
): number {
  checkRange('lz4DecompressBlock (input)', src, srcStart, srcEnd);
  checkRange('lz4DecompressBlock (output)', dst, dstStart, dstStart + dstCapacity);
  checkRange('lz4DecompressBlock (window)', dst, windowStart, dstStart);
  const oend = dstStart + dstCapacity;
  let ip = srcStart;
  let op = dstStart;

  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  // While ip <= srcFastEnd and op <= dstFastEnd, a short sequence can be copied with
  // fixed-size word copies (16 bytes of literals, then 20 bytes of match) without
  // leaving the input or the output capacity, so no per-length checks are needed.
  const srcFastEnd = srcEnd - FAST_LITERAL_COPY;
  const dstFastEnd = oend - FAST_LITERAL_COPY - FAST_MATCH_COPY;

  for (;;) {
    if (ip >= srcEnd) {
      throw new Lz4FormatError(
        ip === srcStart ? 'empty block, expected a token' : 'block ends after a match; the last sequence must hold only literals',
        ip - srcStart,
      );
    }
    const token = src[ip++]!;
    let litLen = token >>> 4;

    if (litLen !== RUN_MASK && ip <= srcFastEnd && op <= dstFastEnd) {
      // The extra bytes copied past the real length land inside the capacity and are
      // overwritten by whatever is decoded next.
      dv.setInt32(op, sv.getInt32(ip, true), true);
      dv.setInt32(op + 4, sv.getInt32(ip + 4, true), true);
      if (litLen > 2 * WORD) {
        dv.setInt32(op + 8, sv.getInt32(ip + 8, true), true);
        dv.setInt32(op + 12, sv.getInt32(ip + 12, true), true);
      }
      ip += litLen;
      op += litLen;
      // At least 2 input bytes remain here (litLen <= 14), so the offset is present.
      const offset = src[ip]! | (src[ip + 1]! << 8);
      const matchCode = token & RUN_MASK;
      if (matchCode !== RUN_MASK && offset >= WORD && offset <= op - windowStart) {
        ip += 2;
        // Word copies in ascending order are exact even when source and destination
        // overlap, because with offset >= 4 every word read lies wholly before the word
        // being written.
        let mp = op - offset;
        dv.setInt32(op, dv.getInt32(mp, true), true);
        dv.setInt32(op + 4, dv.getInt32(mp + 4, true), true);
        dv.setInt32(op + 8, dv.getInt32(mp + 8, true), true);
        if (matchCode > 2 * WORD) {
          mp += 3 * WORD;
          dv.setInt32(op + 12, dv.getInt32(mp, true), true);
          dv.setInt32(op + 16, dv.getInt32(mp + 4, true), true);
        }
        op += matchCode + MIN_MATCH;
        continue;
      }
    } else {
      if (litLen === RUN_MASK) {
        let b: number;
        do {
          if (ip >= srcEnd) throw new Lz4FormatError('literal length extension is truncated', ip - srcStart);
          b = src[ip++]!;
          litLen += b;
        } while (b === EXT_BYTE_MAX);
      }
      if (litLen > srcEnd - ip) {
        throw new Lz4FormatError(
          `literal run of ${litLen} bytes overruns the input (${srcEnd - ip} bytes left)`,
          ip - srcStart,
        );
      }
      if (litLen > oend - op) {
        throw new Lz4FormatError(
          `literal run of ${litLen} bytes overruns the output (${oend - op} bytes of capacity left)`,
          ip - srcStart,
        );
      }
      if (litLen >= NATIVE_COPY_MIN) {
        dst.set(src.subarray(ip, ip + litLen), op);
        ip += litLen;
        op += litLen;
      } else {
        const litEnd = ip + litLen;
        while (ip < litEnd) dst[op++] = src[ip++]!;
      }
      if (ip === srcEnd) return op - dstStart;
    }

    if (srcEnd - ip < 2) throw new Lz4FormatError('match offset is truncated', ip - srcStart);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    if (offset === 0) throw new Lz4FormatError('match offset is 0', ip - srcStart);
    if (offset > op - windowStart) {
      throw new Lz4FormatError(
        `match offset ${offset} points before the start of the output (${op - windowStart} bytes decoded)`,
        ip - srcStart,
      );
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
    if (matchLen > oend - op) {
      throw new Lz4FormatError(
        `match of ${matchLen} bytes overruns the output (${oend - op} bytes of capacity left)`,
        ip - srcStart,
      );
    }

    let mp = op - offset;
    const mEnd = op + matchLen;
    if (offset === 1) {
      // A run of one repeated byte, typically the zero padding of a page.
      dst.fill(dst[mp]!, op, mEnd);
      op = mEnd;
    } else if (matchLen >= NATIVE_COPY_MIN) {
      // Each native copy may take everything written since mp, so for overlapping
      // (repeating-pattern) matches the copied span doubles every round.
      while (op < mEnd) {
        const chunk = Math.min(op - mp, mEnd - op);
        dst.copyWithin(op, mp, mp + chunk);
        op += chunk;
      }
    } else if (offset >= WORD && mEnd + WORD <= oend) {
      while (op < mEnd) {
        dv.setInt32(op, dv.getInt32(mp, true), true);
        op += WORD;
        mp += WORD;
      }
      op = mEnd;
    } else {
      while (op < mEnd) dst[op++] = dst[mp++]!;
    }
  }
}
