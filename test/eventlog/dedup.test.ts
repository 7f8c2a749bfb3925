// The dedup index against a plain reference model: exact answers while
// within its memory bound, never a false positive beyond it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DedupIndex } from '../../src/eventlog/dedup.js';
import { RECORD_SIZE } from '../../src/eventlog/format.js';

function record(bytes: number[]): DataView {
  const buf = Buffer.alloc(RECORD_SIZE);
  bytes.forEach((b, i) => (buf[i % RECORD_SIZE] = b));
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Records that differ in a single byte each, so a hash-only key would be tested hard. */
function keyed(k: number): DataView {
  const buf = Buffer.alloc(RECORD_SIZE, 0xab);
  buf.writeUInt32LE(k, (k % 5) * 4);
  buf[20] = k & 0xff;
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

type Op = { key: number; dt: number };

test('answers exactly like a reference model while under maxEntries', async () => {
  await fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }),
      fc.array(fc.record({ key: fc.integer({ min: 0, max: 40 }), dt: fc.integer({ min: 0, max: 30 }) }), { maxLength: 400 }),
      (windowMs, ops: Op[]) => {
        const index = new DedupIndex(windowMs, 1_000_000, 0);
        const accepted = new Map<number, number>();
        let now = 0;
        for (const { key, dt } of ops) {
          now += dt;
          const last = accepted.get(key);
          const expected = last !== undefined && now - last < windowMs;
          assert.equal(index.checkAndInsert(keyed(key), 0, now), expected, `key ${key} at ${now}`);
          if (!expected) accepted.set(key, now);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('stays exact across thousands of distinct keys and generations', async () => {
  await fc.assert(
    fc.property(
      fc.array(fc.record({ key: fc.integer({ min: 0, max: 20_000 }), dt: fc.integer({ min: 0, max: 3 }) }), {
        minLength: 2000,
        maxLength: 12_000,
      }),
      fc.integer({ min: 50, max: 20_000 }),
      (ops: Op[], windowMs) => {
        const index = new DedupIndex(windowMs, 1_000_000, 0);
        const accepted = new Map<number, number>();
        let now = 0;
        for (const { key, dt } of ops) {
          now += dt;
          const last = accepted.get(key);
          const expected = last !== undefined && now - last < windowMs;
          assert.equal(index.checkAndInsert(keyed(key), 0, now), expected, `key ${key} at ${now}`);
          if (!expected) accepted.set(key, now);
        }
      },
    ),
    { numRuns: 40 },
  );
});

test('over its memory bound it forgets early (fail-open) but never reports a distinct event as a duplicate', async () => {
  await fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 64 }),
      fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 2000 }),
      (maxEntries, keys) => {
        const index = new DedupIndex(1_000_000, maxEntries, 0);
        const seen = new Set<number>();
        keys.forEach((key, t) => {
          const dup = index.checkAndInsert(keyed(key), 0, t);
          if (dup) assert.ok(seen.has(key), `key ${key} reported as a duplicate but never accepted`);
          seen.add(key);
          assert.ok(index.size <= maxEntries, `size ${index.size} exceeds ${maxEntries}`);
        });
      },
    ),
    { numRuns: 200 },
  );
});

test('memory is bounded by maxEntries, not by the number of events', () => {
  const index = new DedupIndex(60_000, 10_000, 0);
  for (let i = 0; i < 300_000; i++) index.checkAndInsert(keyed(i), 0, i / 1000);
  assert.ok(index.size <= 10_000);
  const bound = index.memoryBytes;
  for (let i = 300_000; i < 600_000; i++) index.checkAndInsert(keyed(i), 0, i / 1000);
  assert.equal(index.memoryBytes, bound, 'tables stop growing at the bound');
  assert.ok(bound <= 10_000 * 90, `at most about 90 bytes per entry (${bound})`);
  assert.ok(index.earlyRotations > 0);
});

test('identical records in distinct buffers and offsets are duplicates; any differing byte is not', () => {
  const index = new DedupIndex(1000, 1000, 0);
  const base = Array.from({ length: RECORD_SIZE }, (_, i) => i * 7 + 1);
  assert.equal(index.checkAndInsert(record(base), 0, 0), false);
  const shifted = Buffer.alloc(RECORD_SIZE + 5);
  Buffer.from(base).copy(shifted, 5);
  assert.equal(index.checkAndInsert(new DataView(shifted.buffer, shifted.byteOffset, shifted.length), 5, 1), true);
  for (let i = 0; i < RECORD_SIZE; i++) {
    const other = [...base];
    other[i] = other[i]! ^ 0x80;
    assert.equal(index.checkAndInsert(record(other), 0, 2), false, `byte ${i} differs`);
  }
});

test('remembered (rebuilt) entries count from when they were accepted; a zero window disables dedup', () => {
  const index = new DedupIndex(100, 1000, 1_000);
  index.remember(keyed(1), 0, 950, 1_000);
  index.remember(keyed(2), 0, 850, 1_000);
  assert.equal(index.checkAndInsert(keyed(1), 0, 1_000), true, 'accepted 50 ms ago');
  assert.equal(index.checkAndInsert(keyed(1), 0, 1_051), false, 'expired 100 ms after acceptance');
  assert.equal(index.checkAndInsert(keyed(2), 0, 1_000), false, 'was already outside the window');

  const off = new DedupIndex(0, 1000, 0);
  assert.equal(off.enabled, false);
  assert.equal(off.checkAndInsert(keyed(1), 0, 0), false);
  assert.equal(off.checkAndInsert(keyed(1), 0, 0), false);
});
