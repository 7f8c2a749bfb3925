/**
 * SQLite's WAL checksum: a running pair (s0, s1) over 32-bit words taken two at
 * a time, s0 += w0 + s1; s1 += w1 + s0 (mod 2^32). The header's checksum seeds
 * the first frame's, and each frame's seeds the next, so one bad frame breaks
 * every frame after it. The words are read in the byte order the WAL magic names,
 * which is the writer's native order.
 */

/** A running WAL checksum: two unsigned 32-bit words. */
export interface WalChecksum {
  readonly s0: number;
  readonly s1: number;
}

/** The seed of the header checksum. */
export const WAL_CHECKSUM_SEED: WalChecksum = Object.freeze({ s0: 0, s1: 0 });

/** The checksum consumes words in pairs, so every checksummed range is a multiple of 8 bytes. */
export const WAL_CHECKSUM_UNIT = 8;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Continues `seed` over bytes[start, end). `bigEndian` is the WAL's word order
 * (magic 0x377f0683). When the WAL's order is the host's and the range is
 * 4-byte aligned (always so for frames in a buffer that starts on a frame), the
 * words come straight from an Int32Array view; otherwise through a DataView.
 */
export function walChecksum(
  bytes: Uint8Array,
  bigEndian: boolean,
  seed: WalChecksum = WAL_CHECKSUM_SEED,
  start = 0,
  end = bytes.length,
): WalChecksum {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > bytes.length || start > end) {
    throw new RangeError(`walChecksum: range [${start}, ${end}) is outside a ${bytes.length}-byte buffer`);
  }
  if ((end - start) % WAL_CHECKSUM_UNIT !== 0) {
    throw new RangeError(`walChecksum: length ${end - start} is not a multiple of ${WAL_CHECKSUM_UNIT}`);
  }
  // Int32 sums of three terms stay well inside 2^53, so `| 0` wraps them exactly mod 2^32.
  let s0 = seed.s0 | 0;
  let s1 = seed.s1 | 0;
  const at = bytes.byteOffset + start;
  if (at % 4 === 0 && bigEndian !== HOST_LITTLE_ENDIAN) {
    const words = new Int32Array(bytes.buffer, at, (end - start) >>> 2);
    const n = words.length;
    for (let i = 0; i < n; i += 2) {
      s0 = (s0 + words[i]! + s1) | 0;
      s1 = (s1 + words[i + 1]! + s0) | 0;
    }
  } else {
    const view = new DataView(bytes.buffer, at, end - start);
    const littleEndian = !bigEndian;
    const n = view.byteLength;
    for (let i = 0; i < n; i += WAL_CHECKSUM_UNIT) {
      s0 = (s0 + view.getInt32(i, littleEndian) + s1) | 0;
      s1 = (s1 + view.getInt32(i + 4, littleEndian) + s0) | 0;
    }
  }
  return { s0: s0 >>> 0, s1: s1 >>> 0 };
}

/** Whether two checksums are equal. */
export function sameWalChecksum(a: WalChecksum, b: WalChecksum): boolean {
  return a.s0 === b.s0 && a.s1 === b.s1;
}
