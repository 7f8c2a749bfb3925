/**
 * Unsigned LEB128 varints (Go's `binary.PutUvarint`), as used by the page index.
 * Values are JS numbers: index entries are page numbers, file offsets and sizes,
 * all far below 2^53; a varint that would exceed that is reported as malformed.
 */

/** The longest encoding of a value below 2^53. */
export const MAX_VARINT_BYTES = 8;

export function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes v at out[at]; returns the offset after it. */
export function putUvarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

export interface VarintRead {
  value: number;
  next: number;
}

/**
 * Reads a uvarint at buf[at] that must end before `end`. Returns null when the
 * bytes run out first, throws RangeError when the value exceeds 2^53.
 */
export function readUvarint(buf: Uint8Array, at: number, end = buf.length): VarintRead | null {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (at + i >= end) return null;
    const b = buf[at + i]!;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) throw new RangeError('varint exceeds 2^53');
      return { value, next: at + i + 1 };
    }
    scale *= 128;
  }
  throw new RangeError(`varint longer than ${MAX_VARINT_BYTES} bytes`);
}
