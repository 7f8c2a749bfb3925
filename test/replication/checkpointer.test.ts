import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../src/replication/backoff.js';
import { calcWalSize, chooseCheckpoint } from '../../src/replication/checkpointer.js';

const policy = { minCheckpointPageN: 1000, truncatePageN: 121_359, checkpointIntervalMs: 60_000 };
const base = { pageSize: 4096, syncedSinceCheckpoint: false, dbMtimeMs: async () => 0, now: 1_000_000 };

describe('chooseCheckpoint', () => {
  it('uses Litestream thresholds for 4 KiB pages', () => {
    assert.equal(calcWalSize(4096, 1000), 4_120_032);
    assert.equal(calcWalSize(4096, 121_359), 499_999_112);
  });

  it('picks TRUNCATE, then PASSIVE, then the time rule, and never RESTART or FULL', async () => {
    assert.equal(await chooseCheckpoint(policy, { ...base, origWalSize: 499_999_112, newWalSize: 32 }), 'TRUNCATE');
    assert.equal(await chooseCheckpoint(policy, { ...base, origWalSize: 32, newWalSize: 4_120_032 }), 'PASSIVE');
    assert.equal(await chooseCheckpoint(policy, { ...base, origWalSize: 32, newWalSize: 4_120_031 }), null);
    const small = { ...base, origWalSize: 32, newWalSize: calcWalSize(4096, 2) };
    assert.equal(await chooseCheckpoint(policy, small), null, 'nothing synced since the last checkpoint (#896)');
    assert.equal(await chooseCheckpoint(policy, { ...small, syncedSinceCheckpoint: true }), 'PASSIVE');
    assert.equal(await chooseCheckpoint(policy, { ...small, syncedSinceCheckpoint: true, dbMtimeMs: async () => 990_000 }), null);
    assert.equal(await chooseCheckpoint({ ...policy, truncatePageN: 0 }, { ...base, origWalSize: 499_999_112, newWalSize: 32 }), null);
  });
});

describe('Backoff', () => {
  it('doubles up to the cap, jittered within the upper half, and resets', () => {
    const b = new Backoff(1000, 30_000, () => 1);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [1000, 2000, 4000, 8000, 16000, 30000]);
    const low = new Backoff(1000, 30_000, () => 0);
    assert.equal(low.next(), 500);
    b.reset();
    assert.equal(b.next(), 1000);
  });
});
