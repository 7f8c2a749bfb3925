/**
 * CRC-64/GO-ISO in WebAssembly. JavaScript has no 64-bit integer type short of
 * BigInt, so the JS loop works on two 32-bit halves and needs twice the table
 * loads; WebAssembly has native i64 loads and XORs, which roughly doubles the
 * throughput. The module is a few hundred bytes, assembled here from opcodes so
 * nothing has to be compiled at install time; crc64.ts falls back to its JS loop
 * where WebAssembly is unavailable.
 *
 * Memory layout: slicing-by-8 tables at 0 (8 × 256 × 8 bytes), the CRC register
 * at STATE_AT, input bytes from DATA_AT. `update(len)` folds DATA_AT..+len into
 * the register.
 */

const SLICES = 8;
const TABLE_BYTES = SLICES * 256 * 8;
export const WASM_STATE_AT = TABLE_BYTES;
export const WASM_DATA_AT = TABLE_BYTES + 8;
/** Input is copied into the module in chunks of this size. */
export const WASM_CHUNK = 128 * 1024;
const MEMORY_PAGES = Math.ceil((WASM_DATA_AT + WASM_CHUNK) / 65536);

const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  i64Load: 0x29,
  i64Load8U: 0x31,
  i64Store: 0x37,
  i32Const: 0x41,
  i64Const: 0x42,
  i32LtU: 0x49,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Shl: 0x74,
  i64Xor: 0x85,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  blockTypeEmpty: 0x40,
} as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const ALIGN_8 = 3;
const mem = (offset: number, align = ALIGN_8): number[] => [align, ...uleb(offset)];

/** Locals: 0 = len (param), 1 = crc (i64), 2 = p (i32), 3 = end (i32), 4 = v (i64). */
const [LEN, CRC, P, END, V] = [0, 1, 2, 3, 4];

function body(): number[] {
  const c: number[] = [];
  const e = (...bytes: number[]): void => void c.push(...bytes);
  e(op.i32Const, 0, op.i64Load, ...mem(WASM_STATE_AT), op.localSet, CRC);
  e(op.i32Const, ...sleb(WASM_DATA_AT), op.localSet, P);
  e(op.localGet, P, op.localGet, LEN, op.i32Add, op.localSet, END);
  // Eight bytes per round: crc = T7[b0] ^ T6[b1] ^ ... ^ T0[b7] of (word ^ crc).
  e(op.block, op.blockTypeEmpty, op.loop, op.blockTypeEmpty);
  e(op.localGet, END, op.localGet, P, op.i32Sub, op.i32Const, 8, op.i32LtU, op.brIf, 1);
  e(op.localGet, P, op.i64Load, ...mem(0), op.localGet, CRC, op.i64Xor, op.localSet, V);
  for (let j = 0; j < 8; j++) {
    e(op.localGet, V, op.i64Const, ...sleb(8 * j), op.i64ShrU, op.i32WrapI64);
    e(op.i32Const, ...sleb(255), op.i32And, op.i32Const, 3, op.i32Shl);
    e(op.i64Load, ...mem((7 - j) * 2048));
    if (j > 0) e(op.i64Xor);
  }
  e(op.localSet, CRC);
  e(op.localGet, P, op.i32Const, 8, op.i32Add, op.localSet, P, op.br, 0, op.end, op.end);
  // The last 0..7 bytes one at a time: crc = T0[(crc ^ b) & 255] ^ (crc >> 8).
  e(op.block, op.blockTypeEmpty, op.loop, op.blockTypeEmpty);
  e(op.localGet, P, op.localGet, END, op.i32GeU, op.brIf, 1);
  e(op.localGet, CRC, op.localGet, P, op.i64Load8U, ...mem(0, 0), op.i64Xor, op.i32WrapI64);
  e(op.i32Const, ...sleb(255), op.i32And, op.i32Const, 3, op.i32Shl, op.i64Load, ...mem(0));
  e(op.localGet, CRC, op.i64Const, 8, op.i64ShrU, op.i64Xor, op.localSet, CRC);
  e(op.localGet, P, op.i32Const, 1, op.i32Add, op.localSet, P, op.br, 0, op.end, op.end);
  e(op.i32Const, 0, op.localGet, CRC, op.i64Store, ...mem(WASM_STATE_AT));
  e(op.end);
  const I64 = 0x7e;
  const I32 = 0x7f;
  const locals = [3, 1, I64, 2, I32, 1, I64];
  return [...uleb(locals.length + c.length), ...locals, ...c];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function moduleBytes(): Uint8Array {
  const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((ch) => ch.charCodeAt(0))];
  const code = body();
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 1, 0x7f, 0]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, ...uleb(MEMORY_PAGES)]),
    ...section(7, [2, ...name('m'), 0x02, 0, ...name('u'), 0x00, 0]),
    ...section(10, [1, ...code]),
  ]);
}

/** The slice of the WebAssembly API used here (the project's TS lib settings do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

export interface Crc64Wasm {
  /** Int32 view of the module memory: tables, register, data area. */
  words: Int32Array;
  bytes: Uint8Array;
  update(len: number): void;
}

/**
 * Instantiates the module and fills its tables from the JS tables (the first
 * eight slices of the slicing-by-16 tables are the slicing-by-8 tables).
 * Returns null where WebAssembly is not available.
 */
export function createCrc64Wasm(tableLo: Int32Array, tableHi: Int32Array): Crc64Wasm | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    const instance = new api.Instance(new api.Module(moduleBytes()), {});
    const memory = instance.exports['m'] as { buffer: ArrayBuffer };
    const update = instance.exports['u'] as (len: number) => void;
    const words = new Int32Array(memory.buffer);
    for (let i = 0; i < SLICES * 256; i++) {
      words[i * 2] = tableLo[i]!;
      words[i * 2 + 1] = tableHi[i]!;
    }
    return { words, bytes: new Uint8Array(memory.buffer), update };
  } catch {
    return null;
  }
}
