/** Big-endian u32 at b[at] (the byte order of every LTX integer), as an unsigned number. */
export function readU32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
