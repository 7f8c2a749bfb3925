/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
 * batch, segment header and checkpoint in the event log.
 *
 * Two implementations sit behind one function:
 *
 * - a table-driven "slicing-by-16" in plain JavaScript: sixteen 256-entry
 *   tables let the inner loop consume 16 bytes per iteration with independent
 *   lookups, which V8 turns into straight-line integer code. It always works
 *   and runs at about 1 GB/s here;
 * - the SSE4.2/ARMv8 CRC instructions through `@node-rs/crc32`, an optional
 *   dependency (prebuilt N-API binaries, no compiler needed). Node 20 has no
 *   CRC-32C of its own, and the table code is what held the recovery scan
 *   well below 1 GB/s: checking payloads was 60% of opening a large log. The
 *   native code runs at 3.7 GB/s on a 2 KiB batch and 5.7 GB/s on large
 *   inputs on the benchmark machine (docs/eventlog-performance.md).
 *
 * A native call costs a fixed ~0.2 µs (the N-API crossing plus a view of the
 * range), so inputs shorter than NATIVE_CRC32C_MIN_BYTES (every header, and
 * tiny batches) stay on the table code, which is faster there. The result is
 * the same either way; only the speed differs.
 */
import { createRequire } from 'node:module';

/** The optional package that provides the hardware CRC-32C. */
export const NATIVE_CRC32C_PACKAGE = '@node-rs/crc32';
/**
 * Shortest input handed to the native code. Measured crossover on the
 * benchmark machine: at 128 bytes the table code is ~2x faster, at 256 the
 * two are even, from 512 on native wins (1.8x at 512, 3.7x at 2 KiB).
 */
export const NATIVE_CRC32C_MIN_BYTES = 256;

const POLYNOMIAL = 0x82f63b78;
const SLICES = 16;

function buildTables(): Int32Array {
  const tables = new Int32Array(256 * SLICES);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]!;
    for (let s = 1; s < SLICES; s++) {
      c = tables[c & 0xff]! ^ (c >>> 8);
      tables[s * 256 + n] = c;
    }
  }
  return tables;
}

const T = buildTables();

/** The signature of `crc32c` below. */
export type Crc32cFunction = (data: Uint8Array, crc?: number, start?: number, end?: number) => number;

/** The pure-JavaScript implementation, used for short inputs and whenever the native one is unavailable. */
export function crc32cJs(data: Uint8Array, crc = 0, start = 0, end = data.length): number {
  let c = ~crc | 0;
  let i = start;
  const fastEnd = end - ((end - start) % SLICES);
  const t = T;
  while (i < fastEnd) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      t[15 * 256 + (a & 0xff)]! ^
      t[14 * 256 + ((a >>> 8) & 0xff)]! ^
      t[13 * 256 + ((a >>> 16) & 0xff)]! ^
      t[12 * 256 + (a >>> 24)]! ^
      t[11 * 256 + data[i + 4]!]! ^
      t[10 * 256 + data[i + 5]!]! ^
      t[9 * 256 + data[i + 6]!]! ^
      t[8 * 256 + data[i + 7]!]! ^
      t[7 * 256 + data[i + 8]!]! ^
      t[6 * 256 + data[i + 9]!]! ^
      t[5 * 256 + data[i + 10]!]! ^
      t[4 * 256 + data[i + 11]!]! ^
      t[3 * 256 + data[i + 12]!]! ^
      t[2 * 256 + data[i + 13]!]! ^
      t[256 + data[i + 14]!]! ^
      t[data[i + 15]!]!;
    i += SLICES;
  }
  while (i < end) {
    c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    i++;
  }
  return ~c >>> 0;
}

/** The native entry point: the CRC of all of `data`, continuing from the unsigned `crc`. */
export type NativeCrc32c = (data: Uint8Array, crc: number) => number;

/** Which implementation serves inputs of NATIVE_CRC32C_MIN_BYTES and more, and why. */
export interface Crc32cBackend {
  implementation: 'native' | 'js';
  /** Why the native implementation is not used (null when it is). */
  reason: string | null;
}

/** Returns the module that should export `crc32c(data, crc)`; throws when it cannot be loaded. */
export type NativeCrc32cLoader = () => unknown;

const requireFromHere = createRequire(import.meta.url);
const loadPackage: NativeCrc32cLoader = () => requireFromHere(NATIVE_CRC32C_PACKAGE);

const CHECK_INPUT = Buffer.from('123456789', 'latin1');
const CHECK_VALUE = 0xe3069283;
/** Long enough to go through the wide path of any SIMD implementation, with an odd length and offset. */
const SELF_TEST = Uint8Array.from({ length: 1031 }, (_, i) => (i * 151 + 7) & 0xff);

/**
 * Loads the native implementation and checks it against the definition
 * before trusting it: a binary built for another CPU level or a changed API
 * must fall back to the table code, never produce different checksums.
 */
export function loadNativeCrc32c(loader: NativeCrc32cLoader): { fn: NativeCrc32c | null; reason: string | null } {
  let fn: NativeCrc32c;
  try {
    const mod = loader() as { crc32c?: unknown } | null;
    if (typeof mod?.crc32c !== 'function') return { fn: null, reason: `${NATIVE_CRC32C_PACKAGE} has no crc32c function` };
    fn = mod.crc32c as NativeCrc32c;
  } catch (err) {
    return { fn: null, reason: `${NATIVE_CRC32C_PACKAGE} could not be loaded: ${(err as Error)?.message ?? String(err)}` };
  }
  try {
    const body = SELF_TEST.subarray(3);
    const ok =
      fn(CHECK_INPUT, 0) === CHECK_VALUE &&
      fn(CHECK_INPUT.subarray(4), fn(CHECK_INPUT.subarray(0, 4), 0)) === CHECK_VALUE &&
      fn(body, 0x12345678) === crc32cJs(body, 0x12345678) &&
      fn(new Uint8Array(0), 0xdeadbeef) === 0xdeadbeef;
    if (!ok) return { fn: null, reason: `${NATIVE_CRC32C_PACKAGE} returned wrong checksums` };
  } catch (err) {
    return { fn: null, reason: `${NATIVE_CRC32C_PACKAGE} failed its self-test: ${(err as Error)?.message ?? String(err)}` };
  }
  return { fn, reason: null };
}

/**
 * Builds a `crc32c` that uses the native implementation from `loader` for
 * inputs of NATIVE_CRC32C_MIN_BYTES and more when it loads and passes its
 * self-test, and the table code otherwise. The loader is called once, on
 * the first input long enough to need it (or by `backend()`), so a process
 * that never checksums much never loads the addon.
 */
export function createCrc32c(loader: NativeCrc32cLoader): { crc32c: Crc32cFunction; backend: () => Crc32cBackend } {
  let native: NativeCrc32c | null = null;
  let chosen: Crc32cBackend | null = null;
  const choose = (): Crc32cBackend => {
    if (chosen === null) {
      const r = loadNativeCrc32c(loader);
      native = r.fn;
      chosen = { implementation: r.fn ? 'native' : 'js', reason: r.reason };
    }
    return chosen;
  };
  const crc32c: Crc32cFunction = (data, crc = 0, start = 0, end = data.length) => {
    // Ranges the table code would read outside of `data` (or fractional
    // indices) stay with it, so that every call means exactly what it meant
    // before the native path existed.
    if (
      end - start >= NATIVE_CRC32C_MIN_BYTES &&
      start >= 0 &&
      end <= data.length &&
      Number.isInteger(start) &&
      Number.isInteger(end)
    ) {
      if (chosen === null) choose();
      if (native !== null) return native(new Uint8Array(data.buffer, data.byteOffset + start, end - start), crc >>> 0);
    }
    return crc32cJs(data, crc, start, end);
  };
  return { crc32c, backend: choose };
}

const shared = createCrc32c(loadPackage);

/**
 * Continues a CRC-32C over `data[start, end)`. Pass the previous result as
 * `crc` to checksum discontiguous pieces; start with 0.
 * Returns the CRC as an unsigned 32-bit integer.
 */
export const crc32c: Crc32cFunction = shared.crc32c;

/**
 * Settles (loading the native package if it is there) and reports which
 * implementation `crc32c` uses. Loading takes a few milliseconds of
 * synchronous work once per process; calling this before a long scan keeps
 * that off the event-loop turn that checks the first chunk.
 */
export const crc32cBackend: () => Crc32cBackend = shared.backend;
