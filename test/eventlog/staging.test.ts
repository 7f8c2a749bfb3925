// How appends are cut into batches inside one staging group.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BATCH_HEADER_SIZE, RECORD_SIZE, parseBatchHeader, writeRecord } from '../../src/eventlog/format.js';
import { StagingGroup, stagingBufferBytes, type StagingLimits } from '../../src/eventlog/staging.js';
import { makeEvent } from './helpers.js';

function group(limits: Partial<StagingLimits> = {}): StagingGroup {
  const l: StagingLimits = { capacity: 1000, batchSize: 4, batchTimeoutMs: 10, shard: 0, region: 0, ...limits };
  return new StagingGroup(Buffer.alloc(stagingBufferBytes(l)), l);
}

function add(g: StagingGroup, seq: number, nowMs: number): boolean {
  const off = g.nextRecordOffset(nowMs);
  if (off < 0) return false;
  writeRecord(g.view, off, makeEvent(seq));
  g.commit(off, BigInt(seq), nowMs);
  return true;
}

test('a batch closes at batchSize events', () => {
  const g = group({ batchSize: 4 });
  for (let s = 1; s <= 10; s++) add(g, s, 0);
  g.seal();
  assert.deepEqual(g.batchCounts, [4, 4, 2]);
  assert.deepEqual(g.batchFirstSeqs, [1n, 5n, 9n]);
  assert.equal(g.length, 3 * BATCH_HEADER_SIZE + 10 * RECORD_SIZE);
  for (const start of g.batchStarts) assert.equal(typeof parseBatchHeader(g.buf, start), 'object');
});

test('a batch stops taking events once it has been open longer than batchTimeoutMs', () => {
  const g = group({ batchSize: 100, batchTimeoutMs: 10 });
  add(g, 1, 0); // opens batch 1 at 0
  add(g, 2, 10); // exactly 10 ms: still batch 1
  add(g, 3, 10.5); // past 10 ms: opens batch 2 at 10.5
  add(g, 4, 12);
  add(g, 5, 20.5); // 10 ms after batch 2 opened: still batch 2
  add(g, 6, 21); // opens batch 3
  g.seal();
  assert.deepEqual(g.batchCounts, [2, 3, 1]);
  assert.deepEqual(g.batchFirstSeqs, [1n, 3n, 6n]);
});

test('a group is full at its capacity', () => {
  const g = group({ capacity: 5 });
  for (let s = 1; s <= 5; s++) assert.ok(add(g, s, 0));
  assert.equal(add(g, 6, 0), false);
  assert.equal(g.events, 5);
  assert.equal(g.lastSeq, 5n);
});
