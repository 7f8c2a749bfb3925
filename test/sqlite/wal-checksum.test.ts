import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sameWalChecksum, walChecksum, WAL_CHECKSUM_SEED, type WalChecksum } from '../../src/sqlite/wal-checksum.js';

/** The checksum written straight from its definition, in BigInt, as an independent reference. */
function referenceChecksum(bytes: Uint8Array, bigEndian: boolean, seed: WalChecksum = WAL_CHECKSUM_SEED): WalChecksum {
  const mask = 0xffffffffn;
  let s0 = BigInt(seed.s0);
  let s1 = BigInt(seed.s1);
  const word = (i: number): bigint => {
    const b = [bytes[i]!, bytes[i + 1]!, bytes[i + 2]!, bytes[i + 3]!];
    if (!bigEndian) b.reverse();
    return BigInt(((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!);
  };
  for (let i = 0; i < bytes.length; i += 8) {
    s0 = (s0 + word(i) + s1) & mask;
    s1 = (s1 + word(i + 4) + s0) & mask;
  }
  return { s0: Number(s0), s1: Number(s1) };
}

const eightAligned = fc.integer({ min: 0, max: 64 }).chain((n) => fc.uint8Array({ minLength: n * 8, maxLength: n * 8 }));

describe('WAL checksum', () => {
  it('matches hand-computed values for bytes 0..7 in both word orders', () => {
    const bytes = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    // Little-endian words 0x03020100, 0x07060504: s0 = w0, s1 = w1 + s0.
    assert.deepEqual(walChecksum(bytes, false), { s0: 0x03020100, s1: 0x0a080604 });
    // Big-endian words 0x00010203, 0x04050607.
    assert.deepEqual(walChecksum(bytes, true), { s0: 0x00010203, s1: 0x0406080a });
  });

  it('wraps modulo 2^32 and returns unsigned words', () => {
    const ff = new Uint8Array(16).fill(0xff);
    // Every word is 0xffffffff: s0 = ffffffff, s1 = 1_fffffffe → fffffffe,
    // then s0 = 2_fffffffc → fffffffc, s1 = 2_fffffff9 → fffffff9.
    assert.deepEqual(walChecksum(ff, false), { s0: 0xfffffffc, s1: 0xfffffff9 });
    assert.deepEqual(walChecksum(ff, true), { s0: 0xfffffffc, s1: 0xfffffff9 });
  });

  it('the empty range returns the seed', () => {
    assert.deepEqual(walChecksum(new Uint8Array(0), false, { s0: 7, s1: 9 }), { s0: 7, s1: 9 });
  });

  it('agrees with a BigInt reference on random data, seeds and both word orders', () => {
    fc.assert(
      fc.property(eightAligned, fc.boolean(), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (bytes, be, s0, s1) => {
        const seed = { s0, s1 };
        assert.deepEqual(walChecksum(bytes, be, seed), referenceChecksum(bytes, be, seed));
      }),
      { numRuns: 300 },
    );
  });

  it('continuing from a partial checksum equals one pass over the whole', () => {
    fc.assert(
      fc.property(eightAligned, fc.boolean(), fc.nat(), (bytes, be, cut) => {
        const at = bytes.length === 0 ? 0 : (cut % (bytes.length / 8 + 1)) * 8;
        const first = walChecksum(bytes, be, WAL_CHECKSUM_SEED, 0, at);
        assert.deepEqual(walChecksum(bytes, be, first, at, bytes.length), walChecksum(bytes, be));
      }),
      { numRuns: 200 },
    );
  });

  it('reads unaligned ranges (DataView path) the same as aligned ones', () => {
    fc.assert(
      fc.property(eightAligned, fc.boolean(), fc.integer({ min: 1, max: 7 }), (bytes, be, shift) => {
        const backing = new Uint8Array(bytes.length + 8);
        backing.set(bytes, shift);
        const unaligned = backing.subarray(shift, shift + bytes.length);
        assert.deepEqual(walChecksum(unaligned, be), walChecksum(bytes, be));
        assert.deepEqual(walChecksum(backing, be, WAL_CHECKSUM_SEED, shift, shift + bytes.length), walChecksum(bytes, be));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses ranges that are not a multiple of 8 bytes or fall outside the buffer', () => {
    assert.throws(() => walChecksum(new Uint8Array(12), false), RangeError);
    assert.throws(() => walChecksum(new Uint8Array(16), false, WAL_CHECKSUM_SEED, 8, 24), RangeError);
    assert.throws(() => walChecksum(new Uint8Array(16), false, WAL_CHECKSUM_SEED, 8, 0), RangeError);
  });

  it('sameWalChecksum compares both words', () => {
    assert.ok(sameWalChecksum({ s0: 1, s1: 2 }, { s0: 1, s1: 2 }));
    assert.ok(!sameWalChecksum({ s0: 1, s1: 2 }, { s0: 1, s1: 3 }));
  });
});
