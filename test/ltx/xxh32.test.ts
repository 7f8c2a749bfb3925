import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { xxh32 } from '../../src/ltx/xxh32.js';
import { readManifest, readVector } from '../helpers/testdata.js';

const LTX_HEADER_SIZE = 100;
const PAGE_HEADER_SIZE = 6;
const FRAME_HEADER_SIZE = 7;
const BLOCK_SIZE_FIELD = 4;

const enc = new TextEncoder();

/**
 * xxHash32 transcribed from the specification with BigInt arithmetic, byte by byte and
 * without any of the fast version's tricks, so that the two share no code path.
 */
function xxh32Reference(data: Uint8Array, seed: number): number {
  const M = 0xffffffffn;
  const P1 = 2654435761n;
  const P2 = 2246822519n;
  const P3 = 3266489917n;
  const P4 = 668265263n;
  const P5 = 374761393n;
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (32n - r))) & M;
  const u32 = (i: number): bigint =>
    BigInt(data[i]!) | (BigInt(data[i + 1]!) << 8n) | (BigInt(data[i + 2]!) << 16n) | (BigInt(data[i + 3]!) << 24n);
  const round = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & M, 13n) * P1) & M;
  const s = BigInt(seed >>> 0);
  const len = data.length;
  let i = 0;
  let acc: bigint;
  if (len >= 16) {
    let v1 = (s + P1 + P2) & M;
    let v2 = (s + P2) & M;
    let v3 = s;
    let v4 = (s - P1 + (1n << 32n)) & M;
    while (i + 16 <= len) {
      v1 = round(v1, u32(i));
      v2 = round(v2, u32(i + 4));
      v3 = round(v3, u32(i + 8));
      v4 = round(v4, u32(i + 12));
      i += 16;
    }
    acc = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M;
  } else {
    acc = (s + P5) & M;
  }
  acc = (acc + BigInt(len)) & M;
  while (i + 4 <= len) {
    acc = (rotl((acc + u32(i) * P3) & M, 17n) * P4) & M;
    i += 4;
  }
  while (i < len) {
    acc = (rotl((acc + BigInt(data[i]!) * P5) & M, 11n) * P1) & M;
    i++;
  }
  acc ^= acc >> 15n;
  acc = (acc * P2) & M;
  acc ^= acc >> 13n;
  acc = (acc * P3) & M;
  acc ^= acc >> 16n;
  return Number(acc);
}

/** LZ4 frame descriptor checksum byte, as the frame format defines it. */
function frameHeaderChecksum(flg: number, bd: number): number {
  return (xxh32(new Uint8Array([flg, bd])) >>> 8) & 0xff;
}

function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

describe('xxh32', () => {
  it('matches the published vectors (seed 0)', () => {
    const vectors: [string, number][] = [
      ['', 0x02cc5d05],
      ['a', 0x550d7456],
      ['abc', 0x32d153ff],
      ['123456789', 0x937bad67],
      ['Nobody inspects the spammish repetition', 0xe2293b2f],
    ];
    for (const [text, want] of vectors) {
      assert.equal(xxh32(enc.encode(text)), want, JSON.stringify(text));
      assert.equal(xxh32Reference(enc.encode(text), 0), want, `reference: ${JSON.stringify(text)}`);
    }
  });

  it('returns an unsigned 32-bit integer', () => {
    for (let n = 0; n < 64; n++) {
      const h = xxh32(new Uint8Array(n).fill(n), n * 0x01010101);
      assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `n=${n}: ${h}`);
    }
  });

  it('agrees with the reference for non-zero seeds around every tail length', () => {
    const data = new Uint8Array(200);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    for (const seed of [1, 0x12345678, 0x9e3779b1, 0x7fffffff, 0x80000000, 0xffffffff]) {
      for (let n = 0; n <= 70; n++) {
        const slice = data.subarray(0, n);
        assert.equal(xxh32(slice, seed), xxh32Reference(slice, seed), `seed=${seed} n=${n}`);
      }
    }
  });

  it('takes the seed modulo 2^32', () => {
    const data = enc.encode('seed arithmetic');
    assert.equal(xxh32(data, -1), xxh32(data, 0xffffffff));
    assert.equal(xxh32(data, 2 ** 32 + 5), xxh32(data, 5));
  });

  it('hashes the [start, end) range only, at any alignment', () => {
    const data = new Uint8Array(100);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
    for (let start = 0; start < 8; start++) {
      const end = start + 53;
      const copy = data.slice(start, end);
      assert.equal(xxh32(data, 7, start, end), xxh32(copy, 7));
      // Same bytes through a view whose byteOffset is unaligned.
      assert.equal(xxh32(data.subarray(start, end), 7), xxh32(copy, 7));
    }
  });

  it('rejects ranges outside the buffer', () => {
    const data = new Uint8Array(10);
    assert.throws(() => xxh32(data, 0, -1, 5), RangeError);
    assert.throws(() => xxh32(data, 0, 6, 5), RangeError);
    assert.throws(() => xxh32(data, 0, 0, 11), RangeError);
    assert.throws(() => xxh32(data, 0, 1.5, 5), RangeError);
  });

  it('gives the LZ4 frame descriptor checksums', () => {
    const cases: [number, number, number][] = [
      [0x64, 0x40, 0xa7],
      [0x64, 0x70, 0xb9],
      [0x64, 0x50, 0x08],
      [0x64, 0x60, 0x85],
      [0x60, 0x40, 0x82],
      [0x74, 0x40, 0xbd],
    ];
    for (const [flg, bd, hc] of cases) {
      assert.equal(frameHeaderChecksum(flg, bd), hc, `FLG=${flg.toString(16)} BD=${bd.toString(16)}`);
    }
  });

  it('matches the content checksums in frames written by the Go library', () => {
    const dir = 'go-v0.5.1-frame';
    const entry = readManifest(dir, 'manifest.go-decoder-v0.5.1.json').find((f) => f.file === 'A_snapshot_checksum.ltx');
    assert.ok(entry?.pages);
    const file = readVector(dir, entry.file);
    let checked = 0;
    for (const page of entry.pages) {
      assert.ok(page.data_hex);
      const frame = file.subarray(page.index_offset + PAGE_HEADER_SIZE, page.index_offset + page.index_size);
      assert.equal(frame[6], frameHeaderChecksum(frame[4]!, frame[5]!), `pgno ${page.pgno}: HC`);
      const stored = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(frame.length - 4, true);
      assert.equal(xxh32(hex(page.data_hex)), stored, `pgno ${page.pgno}: content checksum`);
      checked++;
    }
    assert.equal(checked, 4);
  });

  it('matches the content checksum of a stored 64 KiB page (frame written by Go)', () => {
    const file = readVector('go-v0.5.1-frame', 'H_snapshot_64k_incompressible_nochecksum.ltx');
    const frameStart = LTX_HEADER_SIZE + PAGE_HEADER_SIZE;
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const blockField = view.getUint32(frameStart + FRAME_HEADER_SIZE, true);
    // Bit 31 marks a stored (uncompressed) block.
    assert.equal(blockField, 0x80000000 + 65536);
    const dataStart = frameStart + FRAME_HEADER_SIZE + BLOCK_SIZE_FIELD;
    const dataEnd = dataStart + 65536;
    assert.equal(view.getUint32(dataEnd, true), 0, 'EndMark');
    const stored = view.getUint32(dataEnd + 4, true);
    assert.equal(xxh32(file, 0, dataStart, dataEnd), stored);
    assert.equal(xxh32Reference(file.subarray(dataStart, dataEnd), 0), stored);
  });

  it('agrees with the reference on random buffers, seeds and subranges (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.nat(),
        fc.nat(),
        (data, seed, a, b) => {
          const start = data.length === 0 ? 0 : a % (data.length + 1);
          const end = start + (b % (data.length - start + 1));
          assert.equal(xxh32(data, seed, start, end), xxh32Reference(data.subarray(start, end), seed));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('agrees with the reference on unaligned views of a shared buffer (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(7), fc.integer(), (data, shift, seed) => {
        const backing = new Uint8Array(data.length + shift);
        backing.set(data, shift);
        const view = backing.subarray(shift);
        assert.equal(xxh32(view, seed), xxh32Reference(data, seed));
      }),
      { numRuns: 300 },
    );
  });

  it('handles a large buffer (1 MiB plus a ragged tail)', () => {
    const data = new Uint8Array((1 << 20) + 13);
    let x = 0x2545f491;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
    const want = xxh32Reference(data.subarray(0, 70_000), 99);
    assert.equal(xxh32(data, 99, 0, 70_000), want);
    assert.equal(xxh32(data, 0), xxh32Reference(data, 0));
  });
});
