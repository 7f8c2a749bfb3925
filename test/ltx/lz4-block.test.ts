import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Lz4FormatError,
  lz4BlockBound,
  lz4CompressBlock,
  lz4DecompressBlock,
  lz4LiteralBlock,
} from '../../src/ltx/lz4-block.js';
import { readManifest, readVector, xorshift, type ManifestEntry } from '../helpers/testdata.js';

const LTX_HEADER_SIZE = 100;
const PAGE_HEADER_SIZE = 6;
const BLOCK_SIZE_PREFIX = 4;
const FRAME_HEADER_SIZE = 7;
const FRAME_STORED_BIT = 0x80000000;
const SENTINEL = 0xa5;

// ---------------------------------------------------------------------------------------
// Independent reference decoder: byte by byte, no fast paths, written from the block
// format description. It records every match so tests can check the writer rules.

interface Match {
  /** Output position where the match starts. */
  matchStart: number;
  matchLen: number;
  offset: number;
}

type RefResult = { ok: true; out: Uint8Array; matches: Match[] } | { ok: false };

function refDecompress(block: Uint8Array, capacity: number): RefResult {
  const out: number[] = [];
  const matches: Match[] = [];
  let i = 0;
  const readLength = (base: number): number | undefined => {
    let len = base;
    if (base !== 15) return len;
    for (;;) {
      if (i >= block.length) return undefined;
      const b = block[i++]!;
      len += b;
      if (b !== 255) return len;
    }
  };
  for (;;) {
    if (i >= block.length) return { ok: false };
    const token = block[i++]!;
    const litLen = readLength(token >> 4);
    if (litLen === undefined) return { ok: false };
    if (i + litLen > block.length || out.length + litLen > capacity) return { ok: false };
    for (let k = 0; k < litLen; k++) out.push(block[i++]!);
    if (i === block.length) return { ok: true, out: Uint8Array.from(out), matches };
    if (i + 2 > block.length) return { ok: false };
    const offset = block[i]! + block[i + 1]! * 256;
    i += 2;
    if (offset === 0 || offset > out.length) return { ok: false };
    const code = readLength(token & 15);
    if (code === undefined) return { ok: false };
    const matchLen = code + 4;
    if (out.length + matchLen > capacity) return { ok: false };
    matches.push({ matchStart: out.length, matchLen, offset });
    for (let k = 0; k < matchLen; k++) out.push(out[out.length - offset]!);
  }
}

/** The rules every LZ4 writer must follow so that any decoder accepts the block. */
function assertWriterRules(matches: Match[], n: number, label: string): void {
  for (const m of matches) {
    assert.ok(m.offset >= 1 && m.offset <= 0xffff, `${label}: offset ${m.offset}`);
    assert.ok(m.matchLen >= 4, `${label}: match length ${m.matchLen}`);
    assert.ok(m.matchStart <= n - 12, `${label}: match starts at ${m.matchStart}, within the last 12 bytes of ${n}`);
    assert.ok(m.matchStart + m.matchLen <= n - 5, `${label}: match ends inside the last 5 bytes of ${n}`);
  }
}

// ---------------------------------------------------------------------------------------
// Test data

function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

function textLike(n: number, seed: number): Uint8Array {
  const words = ['the', 'quick', 'brown', 'fox', 'lorem', 'ipsum', 'page', 'record', 'SELECT', 'INSERT', 'null', '42'];
  const r = rng(seed);
  const out = new Uint8Array(n);
  let p = 0;
  while (p < n) {
    const w = words[Math.floor(r() * words.length)]!;
    for (let k = 0; k < w.length && p < n; k++) out[p++] = w.charCodeAt(k);
    if (p < n) out[p++] = r() < 0.1 ? 10 : 32;
  }
  return out;
}

/**
 * A table b-tree leaf page laid out like SQLite's: header, cell pointers, a zero gap, and
 * records packed at the end.
 */
function sqliteLikePage(pageSize: number, seed: number, fill: number): Uint8Array {
  const r = rng(seed);
  const page = new Uint8Array(pageSize);
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'mallory'];
  const enc = new TextEncoder();
  let content = pageSize;
  let cells = 0;
  let rowid = 1000 + Math.floor(r() * 1000);
  for (;;) {
    const name = names[Math.floor(r() * names.length)]!;
    const text = enc.encode(`${name}|${name}${Math.floor(r() * 100)}@example.com|2024-05-${10 + Math.floor(r() * 20)}`);
    const cell = [text.length + 4, rowid & 0x7f, 4, 0, 1, 13 + 2 * text.length, ...text];
    if (8 + 2 * (cells + 1) + (pageSize - content) + cell.length > pageSize * fill) break;
    content -= cell.length;
    page.set(cell, content);
    page[8 + 2 * cells] = content >>> 8;
    page[9 + 2 * cells] = content & 0xff;
    cells++;
    rowid += 1 + Math.floor(r() * 3);
  }
  page[0] = 0x0d;
  page[3] = cells >>> 8;
  page[4] = cells & 0xff;
  page[5] = (content >>> 8) & 0xff;
  page[6] = content & 0xff;
  return page;
}

/** Literals mixed with copies of earlier data, like what an LZ77 encoder sees. */
function lz77Like(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  let p = 0;
  while (p < n) {
    if (p < 8 || r() < 0.3) {
      out[p++] = Math.floor(r() * 256);
    } else {
      const dist = 1 + Math.floor(r() * Math.min(p, r() < 0.5 ? 8 : 70000));
      const len = Math.min(n - p, 1 + Math.floor(r() * 40));
      for (let k = 0; k < len; k++, p++) out[p] = out[p - dist]!;
    }
  }
  return out;
}

function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

// ---------------------------------------------------------------------------------------
// Helpers around the API under test

/**
 * Compresses like the LTX block encoding does: a compressed block, else a literal one.
 * Also checks that nothing is written past lz4BlockBound, even by a failed attempt.
 */
function encodeBlock(data: Uint8Array): { block: Uint8Array; compressed: boolean } {
  const bound = lz4BlockBound(data.length);
  const buf = new Uint8Array(bound + 16).fill(SENTINEL);
  const n = lz4CompressBlock(data, buf);
  for (let i = bound; i < buf.length; i++) assert.equal(buf[i], SENTINEL, `compressor wrote past the bound at ${i}`);
  if (n > 0) return { block: buf.subarray(0, n), compressed: true };
  return { block: buf.subarray(0, lz4LiteralBlock(data, buf)), compressed: false };
}

/** Round trip through our decoder and the reference, checking the writer rules. */
function assertRoundTrip(data: Uint8Array, label: string): { block: Uint8Array; compressed: boolean } {
  const res = encodeBlock(data);
  const n = data.length;
  if (res.compressed) assert.ok(res.block.length < n, `${label}: ${res.block.length} bytes is not smaller than ${n}`);
  if (n < 13) assert.equal(res.compressed, false, `${label}: inputs under 13 bytes cannot hold a match`);

  const out = new Uint8Array(n);
  assert.equal(lz4DecompressBlock(res.block, out), n, label);
  assert.ok(Buffer.from(out).equals(Buffer.from(data)), `${label}: our decoder`);

  const ref = refDecompress(res.block, n);
  assert.ok(ref.ok, `${label}: reference decoder refused the block`);
  assert.ok(Buffer.from(ref.out).equals(Buffer.from(data)), `${label}: reference decoder`);
  assertWriterRules(ref.matches, n, label);
  return res;
}

/** Our decoder and the reference agree on success, length and bytes; nothing outside the window is touched. */
function assertDecodersAgree(block: Uint8Array, capacity: number, dstStart: number): void {
  const dst = new Uint8Array(dstStart + capacity + 40).fill(SENTINEL);
  const ref = refDecompress(block, capacity);
  let got: number | undefined;
  try {
    got = lz4DecompressBlock(block, dst, 0, block.length, dstStart, capacity);
  } catch (err) {
    assert.ok(err instanceof Lz4FormatError, `unexpected ${String(err)}`);
    assert.ok(Number.isInteger(err.offset) && err.offset >= 0 && err.offset <= block.length, `offset ${err.offset}`);
  }
  for (let i = 0; i < dstStart; i++) assert.equal(dst[i], SENTINEL, `wrote before dstStart at ${i}`);
  for (let i = dstStart + capacity; i < dst.length; i++) assert.equal(dst[i], SENTINEL, `wrote past capacity at ${i}`);
  if (!ref.ok) {
    assert.equal(got, undefined, `accepted a block the reference refuses: ${toHex(block)}`);
    return;
  }
  assert.equal(got, ref.out.length, `refused or mis-sized a block the reference accepts: ${toHex(block)}`);
  assert.ok(Buffer.from(dst.subarray(dstStart, dstStart + got)).equals(Buffer.from(ref.out)));
}

function expectFormatError(block: number[] | Uint8Array, offset: number, pattern: RegExp, capacity = 64): void {
  const src = Uint8Array.from(block);
  assert.throws(
    () => lz4DecompressBlock(src, new Uint8Array(capacity)),
    (err: unknown) => {
      assert.ok(err instanceof Lz4FormatError, `expected Lz4FormatError, got ${String(err)}`);
      assert.match(err.message, pattern);
      assert.equal(err.offset, offset, `offset for ${err.message}`);
      assert.ok(err.message.includes(`byte ${offset}`), 'the message names the offset');
      return true;
    },
  );
}

function readBlockPage(file: Uint8Array, page: { index_offset: number; index_size: number }): Uint8Array {
  const at = page.index_offset + PAGE_HEADER_SIZE;
  const size = new DataView(file.buffer, file.byteOffset).getUint32(at, false);
  assert.equal(PAGE_HEADER_SIZE + BLOCK_SIZE_PREFIX + size, page.index_size);
  return file.subarray(at + BLOCK_SIZE_PREFIX, at + BLOCK_SIZE_PREFIX + size);
}

// ---------------------------------------------------------------------------------------

describe('lz4BlockBound', () => {
  it('is n + n/255 + 16', () => {
    assert.equal(lz4BlockBound(0), 16);
    assert.equal(lz4BlockBound(255), 272);
    assert.equal(lz4BlockBound(65536), 65536 + 257 + 16);
  });

  it('rejects sizes that are not block sizes', () => {
    assert.throws(() => lz4BlockBound(-1), RangeError);
    assert.throws(() => lz4BlockBound(1.5), RangeError);
    assert.throws(() => lz4BlockBound(Number.NaN), RangeError);
  });
});

describe('lz4LiteralBlock', () => {
  const layouts: [number, number[]][] = [
    [0, [0x00]],
    [14, [0xe0]],
    [15, [0xf0, 0x00]],
    [269, [0xf0, 0xfe]],
    [270, [0xf0, 0xff, 0x00]],
    [524, [0xf0, 0xff, 0xfe]],
    [525, [0xf0, 0xff, 0xff, 0x00]],
  ];
  for (const [n, head] of layouts) {
    it(`encodes ${n} bytes as token and length bytes ${toHex(Uint8Array.from(head))}`, () => {
      const data = randomBytes(n, n + 1);
      const dst = new Uint8Array(lz4BlockBound(n));
      const written = lz4LiteralBlock(data, dst);
      assert.equal(written, head.length + n);
      assert.deepEqual([...dst.subarray(0, head.length)], head);
      assert.ok(Buffer.from(dst.subarray(head.length, written)).equals(Buffer.from(data)));
      const out = new Uint8Array(n);
      assert.equal(lz4DecompressBlock(dst, out, 0, written), n);
    });
  }

  it('encodes 65536 bytes in exactly 65794 bytes: F0, 256 x FF, F1, literals', () => {
    const data = randomBytes(65536, 5);
    const dst = new Uint8Array(lz4BlockBound(65536));
    const written = lz4LiteralBlock(data, dst);
    assert.equal(written, 65794);
    assert.equal(dst[0], 0xf0);
    for (let i = 1; i <= 256; i++) assert.equal(dst[i], 0xff, `byte ${i}`);
    assert.equal(dst[257], 0xf1);
    assert.ok(Buffer.from(dst.subarray(258, written)).equals(Buffer.from(data)));
  });

  it('honours dstStart and the source range', () => {
    const data = randomBytes(300, 9);
    const dst = new Uint8Array(400).fill(SENTINEL);
    const written = lz4LiteralBlock(data, dst, 5, 10, 210);
    assert.equal(written, 2 + 200);
    assert.equal(dst[4], SENTINEL);
    assert.deepEqual([...dst.subarray(5, 7)], [0xf0, 200 - 15]);
    assert.ok(Buffer.from(dst.subarray(7, 5 + written)).equals(Buffer.from(data.subarray(10, 210))));
    assert.equal(dst[5 + written], SENTINEL);
  });

  it('rejects a destination that is too small', () => {
    assert.throws(() => lz4LiteralBlock(new Uint8Array(20), new Uint8Array(21)), RangeError);
  });
});

describe('lz4CompressBlock round trips', () => {
  const sizes = [0, 1, 4, 5, 12, 13, 14, 15, 16, 17, 31, 100, 255, 256, 269, 270];
  for (let s = 512; s <= 65536; s *= 2) sizes.push(s - 1, s, s + 1);
  const kinds: [string, (n: number, seed: number) => Uint8Array][] = [
    ['random', randomBytes],
    ['zeros', (n) => new Uint8Array(n)],
    ['one repeated byte', (n) => new Uint8Array(n).fill(0x41)],
    ['short period', (n) => Uint8Array.from({ length: n }, (_, i) => 'abc'.charCodeAt(i % 3))],
    ['text-like', textLike],
    ['lz77-like', lz77Like],
    ['SQLite-like 85% full', (n, seed) => sqliteLikePage(n, seed, 0.85)],
    ['SQLite-like 40% full', (n, seed) => sqliteLikePage(n, seed, 0.4)],
  ];
  for (const [kind, make] of kinds) {
    it(`${kind}: sizes 0..65537`, () => {
      for (const n of sizes) assertRoundTrip(make(n, n * 7 + 1), `${kind} n=${n}`);
    });
  }

  it('compresses compressible pages and gives up on random ones', () => {
    assert.equal(assertRoundTrip(new Uint8Array(4096), 'zeros').compressed, true);
    assert.ok(assertRoundTrip(new Uint8Array(4096), 'zeros').block.length < 40);
    assert.equal(assertRoundTrip(sqliteLikePage(4096, 3, 0.85), 'sqlite').compressed, true);
    assert.equal(assertRoundTrip(randomBytes(4096, 3), 'random').compressed, false);
  });

  it('uses overlapping matches (offset < length)', () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => 'xyz'.charCodeAt(i % 3));
    const { block } = assertRoundTrip(data, 'period 3');
    const ref = refDecompress(block, data.length);
    assert.ok(ref.ok && ref.matches.some((m) => m.offset < m.matchLen));
  });

  it('never uses offsets beyond 65535 when repeats are farther apart', () => {
    const chunk = randomBytes(70000, 11);
    const data = new Uint8Array(3 * chunk.length);
    for (let i = 0; i < 3; i++) data.set(chunk, i * chunk.length);
    const { compressed } = assertRoundTrip(data, 'far repeats');
    assert.equal(compressed, false);
  });

  it('handles 1 MiB and 4 MiB inputs', () => {
    assertRoundTrip(lz77Like(1 << 20, 1), 'lz77-like 1 MiB');
    assertRoundTrip(randomBytes(1 << 20, 2), 'random 1 MiB');
    const big = new Uint8Array(4 << 20);
    for (let i = 0; i < 256; i++) big.set(sqliteLikePage(16384, i, 0.7), i * 16384);
    assertRoundTrip(big, 'SQLite-like 4 MiB');
  });

  it('gives the same bytes for a sub-range at any dstStart, writing nothing outside', () => {
    const data = sqliteLikePage(4096, 21, 0.9);
    const whole = new Uint8Array(lz4BlockBound(4000));
    const n = lz4CompressBlock(data.slice(50, 4050), whole);
    assert.ok(n > 0);
    const padded = new Uint8Array(7 + lz4BlockBound(4000) + 9).fill(SENTINEL);
    assert.equal(lz4CompressBlock(data, padded, 7, 50, 4050), n);
    for (let i = 0; i < 7; i++) assert.equal(padded[i], SENTINEL);
    for (let i = 7 + lz4BlockBound(4000); i < padded.length; i++) assert.equal(padded[i], SENTINEL);
    assert.ok(Buffer.from(padded.subarray(7, 7 + n)).equals(Buffer.from(whole.subarray(0, n))));
  });

  it('is unaffected by earlier calls (no stale hash-table entries)', () => {
    // The second input shares positions but not content with the first; stale entries
    // would produce matches against bytes that are not there.
    const first = textLike(8192, 1);
    const second = textLike(8192, 2);
    const a = encodeBlock(second).block.slice();
    encodeBlock(first);
    const b = encodeBlock(second).block;
    assert.equal(toHex(b), toHex(a));
    assertRoundTrip(second, 'after another input');
  });

  it('rejects a destination smaller than the bound and bad ranges', () => {
    assert.throws(() => lz4CompressBlock(new Uint8Array(100), new Uint8Array(lz4BlockBound(100) - 1)), RangeError);
    assert.throws(() => lz4CompressBlock(new Uint8Array(100), new Uint8Array(200), 0, 50, 40), RangeError);
    assert.throws(() => lz4CompressBlock(new Uint8Array(100), new Uint8Array(200), 0, 0, 101), RangeError);
  });

  it('round trips generated data (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 24 }),
            fc.record({ back: fc.nat(), len: fc.integer({ min: 1, max: 300 }) }),
          ),
          { maxLength: 60 },
        ),
        (parts) => {
          const bytes: number[] = [];
          for (const part of parts) {
            if (part instanceof Uint8Array) {
              bytes.push(...part);
            } else if (bytes.length > 0) {
              const dist = 1 + (part.back % bytes.length);
              for (let k = 0; k < part.len; k++) bytes.push(bytes[bytes.length - dist]!);
            }
          }
          assertRoundTrip(Uint8Array.from(bytes), 'generated');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('round trips random buffers of 0..300 bytes over small alphabets (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 256 }), fc.array(fc.nat(), { maxLength: 300 }), (alphabet, raw) => {
        assertRoundTrip(Uint8Array.from(raw, (v) => v % alphabet), `alphabet ${alphabet}`);
      }),
      { numRuns: 400 },
    );
  });
});

describe('lz4DecompressBlock', () => {
  it('decodes blocks written by liblz4 (fast and HC levels)', () => {
    // Input and blocks from liblz4 1.9.4: LZ4_compress_default and LZ4_compress_HC(level 12).
    const text =
      Array.from({ length: 40 }, (_, i) => `row ${i}: the quick brown fox jumps over the lazy dog ${i % 7}\n`).join('') +
      '\0'.repeat(300);
    const input = new TextEncoder().encode(text);
    const blocks = [
      'f116726f7720303a2074686520717569636b2062726f776e20666f78206a756d7073206f7665721f00b06c617a7920646f6720300a35001f3135001b113135001f3235001b113235001f3335001b113335001f3435001b113435001f3535001b113535001f3635001b113635001f3735001b0273011f3835001b0273011f3935001b0273011f3113021c0274011f3114021c0275011f3115021c0276011f3116021c0277011f3117021c0278011f3118021c0279011f3119021c037a010f1a021c037a010f1b021c037a010f1c021c027a011f321c021c027a011f321c021c027a011f321c021c027a011f321c021c027a011f321c021c027a011f321c021c027a011f321c021c037a010f1c021c037a010f1c021c037a010f1c021c027a011f331c021c027a011f331c021c027a011f331c021c027a011f331c021c027a011f331c021c027a011f331c021c027a011f331c021c037a010f1c021c037a010f1c021c037a010f1c021c3f340a000100ff14500000000000',
      'f116726f7720303a2074686520717569636b2062726f776e20666f78206a756d7073206f7665721f00b06c617a7920646f6720300a35001f3135001b113135001f3235001b113235001f3335001b113335001f3435001b113435001f3535001b113535001f3635001b113635001f377301211f387301211f397301212f31307401212f31317501212f31327601212f31337701212f3134eb02221f357901212f31367a01221f377a01221f387a01221f397a01212f32307a01212f32317a01212f32326604221f337a01212f32347a01212f32357a01212f32367a01221f377a01221f387a01221f397a01212f3330e105221f317a01212f33327a01212f33337a01212f33347a01212f33357a01212f33367a01221f377a01221f387a01221f397a011d1f000100ff14500000000000',
    ];
    assert.equal(input.length, 2450);
    for (const h of blocks) {
      const out: Uint8Array = new Uint8Array(input.length);
      assert.equal(lz4DecompressBlock(hex(h), out), input.length);
      assert.ok(Buffer.from(out).equals(Buffer.from(input)));
    }
  });

  it('decodes every page of the Go v0.5.2 block-encoded files', () => {
    const dir = 'go-v0.5.2-block';
    const manifest: ManifestEntry[] = readManifest(dir, 'manifest.go-decoder-head.json');
    let pages = 0;
    for (const entry of manifest) {
      for (const page of entry.pages ?? []) {
        if (page.data_hex === undefined) continue;
        const file = readVector(dir, entry.file);
        assert.equal(page.flags, 1);
        const block = readBlockPage(file, page);
        const want = hex(page.data_hex);
        const out = new Uint8Array(want.length);
        assert.equal(lz4DecompressBlock(block, out), want.length, `${entry.file} page ${page.pgno}`);
        assert.ok(Buffer.from(out).equals(Buffer.from(want)), `${entry.file} page ${page.pgno}`);
        pages++;
      }
    }
    assert.ok(pages >= 20, `only ${pages} pages checked`);
  });

  it('decodes C_snapshot_nochecksum.ltx page by page, walking the file', () => {
    const dir = 'go-v0.5.2-block';
    const file = readVector(dir, 'C_snapshot_nochecksum.ltx');
    const entry = readManifest(dir, 'manifest.go-decoder-head.json').find((e) => e.file === 'C_snapshot_nochecksum.ltx');
    assert.ok(entry?.pages);
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    let at = LTX_HEADER_SIZE;
    for (const page of entry.pages) {
      assert.equal(view.getUint32(at, false), page.pgno);
      assert.equal(view.getUint16(at + 4, false), 1);
      const size = view.getUint32(at + PAGE_HEADER_SIZE, false);
      const blockStart = at + PAGE_HEADER_SIZE + BLOCK_SIZE_PREFIX;
      const out = new Uint8Array(512);
      // Decode straight out of the file buffer through srcStart/srcEnd.
      assert.equal(lz4DecompressBlock(file, out, blockStart, blockStart + size), 512);
      assert.equal(toHex(out), page.data_hex);
      at = blockStart + size;
    }
    assert.deepEqual([...file.subarray(at, at + PAGE_HEADER_SIZE)], [0, 0, 0, 0, 0, 0], 'end marker');
  });

  it('decodes the 64 KiB literal-only page of H, and lz4LiteralBlock reproduces it byte for byte', () => {
    const file = readVector('go-v0.5.2-block', 'H_snapshot_64k_incompressible_nochecksum.ltx');
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const sizeAt = LTX_HEADER_SIZE + PAGE_HEADER_SIZE;
    assert.equal(view.getUint32(sizeAt, false), 65794);
    const block = file.subarray(sizeAt + BLOCK_SIZE_PREFIX, sizeAt + BLOCK_SIZE_PREFIX + 65794);
    const page = xorshift(99, 65536);
    const out = new Uint8Array(65536);
    assert.equal(lz4DecompressBlock(block, out), 65536);
    assert.ok(Buffer.from(out).equals(Buffer.from(page)));

    const ours = new Uint8Array(lz4BlockBound(65536));
    assert.equal(lz4CompressBlock(page, ours), 0, 'an incompressible page does not compress');
    const n = lz4LiteralBlock(page, ours);
    assert.equal(n, 65794);
    assert.ok(Buffer.from(ours.subarray(0, n)).equals(Buffer.from(block)));
  });

  it('decodes the compressed blocks inside the Go v0.5.1 frames', () => {
    const dir = 'go-v0.5.1-frame';
    let blocks = 0;
    for (const entry of readManifest(dir, 'manifest.go-decoder-v0.5.1.json')) {
      for (const page of entry.pages ?? []) {
        if (page.data_hex === undefined) continue;
        const file = readVector(dir, entry.file);
        const frame = page.index_offset + PAGE_HEADER_SIZE;
        const field = new DataView(file.buffer, file.byteOffset).getUint32(frame + FRAME_HEADER_SIZE, true);
        if ((field & FRAME_STORED_BIT) !== 0) continue;
        const start = frame + FRAME_HEADER_SIZE + BLOCK_SIZE_PREFIX;
        const out = new Uint8Array(512);
        assert.equal(lz4DecompressBlock(file, out, start, start + field), 512);
        assert.equal(toHex(out), page.data_hex, `${entry.file} page ${page.pgno}`);
        blocks++;
      }
    }
    assert.ok(blocks >= 15, `only ${blocks} blocks checked`);
  });

  it('decodes into a window of a larger buffer', () => {
    const data = lz77Like(3000, 4);
    const { block } = encodeBlock(data);
    const src = new Uint8Array(block.length + 20).fill(SENTINEL);
    src.set(block, 11);
    assertDecodersAgree(block, 3000, 13);
    const dst = new Uint8Array(3100).fill(SENTINEL);
    assert.equal(lz4DecompressBlock(src, dst, 11, 11 + block.length, 50, 3000), 3000);
    assert.ok(Buffer.from(dst.subarray(50, 3050)).equals(Buffer.from(data)));
    assert.equal(dst[49], SENTINEL);
    assert.equal(dst[3050], SENTINEL);
  });

  it('needs exactly the decoded size as capacity', () => {
    for (const data of [sqliteLikePage(4096, 8, 0.85), textLike(777, 3), randomBytes(600, 1)]) {
      const { block } = encodeBlock(data);
      assert.equal(lz4DecompressBlock(block, new Uint8Array(data.length + 100)), data.length);
      assert.throws(
        () => lz4DecompressBlock(block, new Uint8Array(data.length), 0, block.length, 0, data.length - 1),
        Lz4FormatError,
      );
    }
  });

  it('decodes short sequences that end right at the capacity, at every distance from it', () => {
    // A lead-in sequence, then one of literalLen literals and a matchLen match, then the
    // final literals, with an exact capacity: the fast path must hand over to the checked
    // path at the right moment, wherever the short sequence falls.
    const pushLength = (bytes: number[], n: number): void => {
      for (n -= 15; n >= 255; n -= 255) bytes.push(255);
      bytes.push(n);
    };
    const sequence = (bytes: number[], literals: number, offset: number, matchLen: number | undefined): void => {
      const code = matchLen === undefined ? 0 : matchLen - 4;
      bytes.push((Math.min(literals, 15) << 4) | Math.min(code, 15));
      if (literals >= 15) pushLength(bytes, literals);
      for (let i = 0; i < literals; i++) bytes.push((i * 29 + literals) & 0xff);
      if (matchLen === undefined) return;
      bytes.push(offset & 0xff, offset >>> 8);
      if (code >= 15) pushLength(bytes, code);
    };
    for (let leadIn = 1; leadIn <= 60; leadIn++) {
      for (const literalLen of [0, 1, 8, 9, 14]) {
        for (const matchLen of [4, 12, 13, 18]) {
          for (const finalLen of [0, 1, 5]) {
            const bytes: number[] = [];
            sequence(bytes, leadIn, 1, 4);
            sequence(bytes, literalLen, 1 + ((leadIn * 7) % (leadIn + 4)), matchLen);
            sequence(bytes, finalLen, 0, undefined);
            const block = Uint8Array.from(bytes);
            const size = leadIn + 4 + literalLen + matchLen + finalLen;
            const ref = refDecompress(block, size);
            assert.ok(ref.ok && ref.out.length === size, `lead-in ${leadIn}: the test block is valid`);
            for (const dstStart of [0, 3]) assertDecodersAgree(block, size, dstStart);
          }
        }
      }
    }
  });

  it('accepts a final sequence with no literals', () => {
    assert.equal(lz4DecompressBlock(Uint8Array.of(0x00), new Uint8Array(0)), 0);
    const block = Uint8Array.of(0x40, 0x61, 0x62, 0x63, 0x64, 0x04, 0x00, 0x00);
    const out = new Uint8Array(8);
    assert.equal(lz4DecompressBlock(block, out), 8);
    assert.equal(new TextDecoder().decode(out), 'abcdabcd');
  });

  it('reports each kind of damage with its offset', () => {
    expectFormatError([], 0, /empty block/);
    expectFormatError([0xf0], 1, /literal length extension is truncated/);
    expectFormatError([0xf0, 0xff], 2, /literal length extension is truncated/);
    expectFormatError([0x50, 0x61, 0x62], 1, /literal run of 5 bytes overruns the input/);
    expectFormatError([0x30, 0x61, 0x62, 0x63], 1, /literal run of 3 bytes overruns the output/, 2);
    expectFormatError([0x10, 0x61, 0x01], 2, /match offset is truncated/);
    expectFormatError([0x10, 0x61, 0x00, 0x00, 0x00], 2, /match offset is 0/);
    expectFormatError([0x10, 0x61, 0x02, 0x00, 0x00], 2, /match offset 2 points before the start of the output/);
    expectFormatError([0x1f, 0x61, 0x01, 0x00], 4, /match length extension is truncated/);
    expectFormatError([0x1f, 0x61, 0x01, 0x00, 0xff], 5, /match length extension is truncated/);
    expectFormatError([0x1f, 0x61, 0x01, 0x00, 0x10, 0x00], 5, /match of 35 bytes overruns the output/, 20);
    expectFormatError([0x10, 0x61, 0x01, 0x00], 4, /block ends after a match/);
  });

  it('does not reach back before dstStart', () => {
    const dst = new Uint8Array(32).fill(0x61);
    assert.throws(
      () => lz4DecompressBlock(Uint8Array.of(0x00, 0x01, 0x00, 0x00), dst, 0, 4, 8, 16),
      (err: unknown) => err instanceof Lz4FormatError && /points before the start/.test(err.message),
    );
  });

  it('rejects argument ranges outside the arrays with RangeError', () => {
    const src = Uint8Array.of(0x00);
    assert.throws(() => lz4DecompressBlock(src, new Uint8Array(4), 0, 2), RangeError);
    assert.throws(() => lz4DecompressBlock(src, new Uint8Array(4), 0, 1, 2, 3), RangeError);
    assert.throws(() => lz4DecompressBlock(src, new Uint8Array(4), 0, 1, 5), RangeError);
  });

  it('matches the reference decoder on random bytes, never writing outside the window (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(3000), fc.nat(20), (block, capacity, dstStart) => {
        assertDecodersAgree(block, capacity, dstStart);
      }),
      { numRuns: 5000 },
    );
  });

  it('matches the reference decoder on arbitrary well-formed blocks (property)', () => {
    // Blocks built directly from sequences, without the writer's end conditions, so that
    // short matches and literal runs reach right up to the end of the capacity, and
    // offsets cover 1..3 (overlapping) as well as exactly the bytes decoded so far.
    const sequence = fc.record({
      literals: fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 300 })),
      offset: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.nat(), fc.constant(-1), fc.constant(-2)),
      matchLen: fc.oneof(fc.integer({ min: 4, max: 19 }), fc.integer({ min: 4, max: 600 })),
    });
    const pushLength = (bytes: number[], rest: number): void => {
      for (; rest >= 255; rest -= 255) bytes.push(255);
      bytes.push(rest);
    };
    fc.assert(
      fc.property(
        fc.array(sequence, { maxLength: 25 }),
        fc.uint8Array({ maxLength: 30 }),
        fc.integer({ min: -2, max: 2 }),
        fc.nat(8),
        (seqs, tail, slack, dstStart) => {
          const bytes: number[] = [];
          let produced = 0;
          for (const s of seqs) {
            const lit = s.literals.length;
            produced += lit;
            if (produced === 0) continue;
            // -1 asks for the largest legal offset (everything decoded so far), -2 for one more.
            const reach = Math.min(produced, 0xffff);
            const offset = s.offset === -1 ? reach : s.offset === -2 ? reach + 1 : 1 + (s.offset % reach);
            const code = s.matchLen - 4;
            bytes.push((Math.min(lit, 15) << 4) | Math.min(code, 15));
            if (lit >= 15) pushLength(bytes, lit - 15);
            bytes.push(...s.literals, offset & 0xff, offset >>> 8);
            if (code >= 15) pushLength(bytes, code - 15);
            produced += s.matchLen;
          }
          bytes.push(Math.min(tail.length, 15) << 4);
          if (tail.length >= 15) pushLength(bytes, tail.length - 15);
          bytes.push(...tail);
          produced += tail.length;
          assertDecodersAgree(Uint8Array.from(bytes), Math.max(0, produced + slack), dstStart);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('matches the reference decoder on damaged valid blocks (property)', () => {
    const originals = [
      sqliteLikePage(4096, 1, 0.85),
      textLike(2000, 2),
      lz77Like(1500, 3),
      new Uint8Array(700),
      randomBytes(300, 4),
    ].map((data) => ({ data, block: encodeBlock(data).block.slice() }));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.nat(255) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.nat(originals.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -3, max: 3 }),
        (which, mutations, slack) => {
          const { data, block } = originals[which]!;
          let bytes = [...block];
          for (const m of mutations) {
            const at = bytes.length === 0 ? 0 : m.at % bytes.length;
            if (m.kind === 'flip') bytes[at] = (bytes[at] ?? 0) ^ (1 << m.bit);
            else if (m.kind === 'set') bytes[at] = m.value;
            else if (m.kind === 'truncate') bytes = bytes.slice(0, at);
            else if (m.kind === 'insert') bytes.splice(at, 0, m.value);
            else bytes.splice(at, 1);
          }
          assertDecodersAgree(Uint8Array.from(bytes), Math.max(0, data.length + slack), 5);
        },
      ),
      { numRuns: 5000 },
    );
  });
});
