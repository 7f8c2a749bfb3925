/**
 * CRC-64/GO-ISO: Go's `hash/crc64` with the ISO table, the checksum behind every
 * LTX file and page checksum (reflected polynomial 0xD800000000000000, init and
 * xorout all ones; check value 0xB90956C775A41001 for "123456789").
 *
 * JavaScript has no fast 64-bit integers (BigInt allocates), so the 64-bit state
 * lives in two int32 halves and the table is split the same way. Slicing-by-16
 * tables let the inner loop consume 16 bytes per iteration with independent
 * lookups, which is what gets a plain JS loop past 1 GB/s. Inputs of a few
 * hundred bytes and more go through the WebAssembly version (crc64-wasm.ts).
 */

import { WASM_CHUNK, WASM_DATA_AT, WASM_STATE_AT, createCrc64Wasm } from './crc64-wasm.js';

/** Reflected ISO polynomial, high 32 bits (the low 32 bits are zero). */
const POLY_HI = 0xd8000000;
const SLICES = 16;

const TABLE_LO = new Int32Array(256 * SLICES);
const TABLE_HI = new Int32Array(256 * SLICES);

(function buildTables() {
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = (lo >>> 1) | ((hi & 1) << 31);
      hi = hi >>> 1;
      if (bit) hi ^= POLY_HI;
    }
    TABLE_LO[i] = lo;
    TABLE_HI[i] = hi;
  }
  for (let t = 1; t < SLICES; t++) {
    for (let i = 0; i < 256; i++) {
      const plo = TABLE_LO[(t - 1) * 256 + i]!;
      const phi = TABLE_HI[(t - 1) * 256 + i]!;
      const idx = plo & 0xff;
      TABLE_LO[t * 256 + i] = ((plo >>> 8) | (phi << 24)) ^ TABLE_LO[idx]!;
      TABLE_HI[t * 256 + i] = (phi >>> 8) ^ TABLE_HI[idx]!;
    }
  }
})();

/**
 * Incremental CRC-64/GO-ISO. `update` may be called with any split of the input;
 * the result equals one pass over the concatenation.
 */
export class Crc64 {
  // Stored inverted, as the register runs during the update loop.
  private lo = -1;
  private hi = -1;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    const r = crc64Update(this.lo, this.hi, buf, start, end);
    this.lo = r.lo;
    this.hi = r.hi;
    return this;
  }

  /** The checksum so far, as an unsigned 64-bit bigint. */
  digest(): bigint {
    return (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
  }

  reset(): this {
    this.lo = -1;
    this.hi = -1;
    return this;
  }
}

/** One-shot CRC-64/GO-ISO of buf[start, end). */
export function crc64(buf: Uint8Array, start = 0, end = buf.length): bigint {
  return new Crc64().update(buf, start, end).digest();
}

const scratch = { lo: 0, hi: 0 };

const wasm = createCrc64Wasm(TABLE_LO, TABLE_HI);
/** Below this many bytes the copy into WebAssembly memory costs more than it saves. */
const WASM_MIN_BYTES = 256;

function crc64Update(
  lo0: number,
  hi0: number,
  buf: Uint8Array,
  start: number,
  end: number,
): { lo: number; hi: number } {
  if (wasm === null || end - start < WASM_MIN_BYTES) return crc64UpdateJs(lo0, hi0, buf, start, end);
  const w = wasm.words;
  const stateWord = WASM_STATE_AT >> 2;
  w[stateWord] = lo0;
  w[stateWord + 1] = hi0;
  for (let at = start; at < end; at += WASM_CHUNK) {
    const n = Math.min(WASM_CHUNK, end - at);
    wasm.bytes.set(buf.subarray(at, at + n), WASM_DATA_AT);
    wasm.update(n);
  }
  scratch.lo = w[stateWord]!;
  scratch.hi = w[stateWord + 1]!;
  return scratch;
}

function crc64UpdateJs(
  lo0: number,
  hi0: number,
  buf: Uint8Array,
  start: number,
  end: number,
): { lo: number; hi: number } {
  let lo = lo0;
  let hi = hi0;
  let i = start;
  const TL = TABLE_LO;
  const TH = TABLE_HI;

  // Walk bytes until the input is 4-byte aligned so 32-bit words can be read
  // through an Int32Array view (little-endian, as every platform Node runs on).
  while (i < end && ((buf.byteOffset + i) & 3) !== 0) {
    const idx = (lo ^ buf[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ TL[idx]!;
    hi = (hi >>> 8) ^ TH[idx]!;
    i++;
  }

  const blocks = (end - i) >> 4;
  if (blocks > 0) {
    const words = new Int32Array(buf.buffer, buf.byteOffset + i, blocks * 4);
    const n = words.length;
    for (let w = 0; w < n; w += 4) {
      const a = words[w]! ^ lo;
      const b = words[w + 1]! ^ hi;
      const c = words[w + 2]!;
      const d = words[w + 3]!;
      const t0 = 3840 + (a & 255);
      const t1 = 3584 + ((a >>> 8) & 255);
      const t2 = 3328 + ((a >>> 16) & 255);
      const t3 = 3072 + (a >>> 24);
      const t4 = 2816 + (b & 255);
      const t5 = 2560 + ((b >>> 8) & 255);
      const t6 = 2304 + ((b >>> 16) & 255);
      const t7 = 2048 + (b >>> 24);
      const t8 = 1792 + (c & 255);
      const t9 = 1536 + ((c >>> 8) & 255);
      const t10 = 1280 + ((c >>> 16) & 255);
      const t11 = 1024 + (c >>> 24);
      const t12 = 768 + (d & 255);
      const t13 = 512 + ((d >>> 8) & 255);
      const t14 = 256 + ((d >>> 16) & 255);
      const t15 = d >>> 24;
      lo =
        TL[t0]! ^ TL[t1]! ^ TL[t2]! ^ TL[t3]! ^ TL[t4]! ^ TL[t5]! ^ TL[t6]! ^ TL[t7]! ^
        TL[t8]! ^ TL[t9]! ^ TL[t10]! ^ TL[t11]! ^ TL[t12]! ^ TL[t13]! ^ TL[t14]! ^ TL[t15]!;
      hi =
        TH[t0]! ^ TH[t1]! ^ TH[t2]! ^ TH[t3]! ^ TH[t4]! ^ TH[t5]! ^ TH[t6]! ^ TH[t7]! ^
        TH[t8]! ^ TH[t9]! ^ TH[t10]! ^ TH[t11]! ^ TH[t12]! ^ TH[t13]! ^ TH[t14]! ^ TH[t15]!;
    }
    i += blocks * 16;
  }

  while (i < end) {
    const idx = (lo ^ buf[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ TL[idx]!;
    hi = (hi >>> 8) ^ TH[idx]!;
    i++;
  }
  scratch.lo = lo;
  scratch.hi = hi;
  return scratch;
}
