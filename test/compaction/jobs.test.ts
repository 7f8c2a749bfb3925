import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compactionJobs, type CompactionEvent } from '../../src/compaction/compaction-jobs.js';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { createCompactionCounters } from '../../src/compaction/counters.js';
import { LevelMaxCache } from '../../src/compaction/level-max-cache.js';
import { LevelScheduler } from '../../src/compaction/level-scheduler.js';
import { ManualClock } from '../../src/compaction/manual-clock.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { validateLevels } from '../../src/compaction/validate-level.js';
import { encodeLtx, makeTempDir, putLtx } from '../restore/replica-fixtures.js';
import { checkRestorable, EPOCH, listFiles, PAGE_SIZE, ReplicatedModel } from './fixtures.js';

const SEC = 1000;
const LEVELS = new CompactionLevels(
  [
    { level: 0, intervalMs: 0 },
    { level: 1, intervalMs: 10 * SEC },
    { level: 2, intervalMs: 60 * SEC },
    { level: 3, intervalMs: 300 * SEC },
  ],
  600 * SEC,
);

/** Moves the clock to `to`: the jobs due at one moment run side by side, and finish before time moves on. */
async function runUntil(clock: ManualClock, scheduler: LevelScheduler, to: number): Promise<void> {
  await clock.advanceTo(to, () => scheduler.idle());
}

describe('compactionJobs on a LevelScheduler', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('compaction-jobs'));
  });
  after(() => cleanup());

  it('40 minutes of writes: every level compacts on its boundaries, retention runs, and every remaining point restores', async () => {
    const clock = new ManualClock(EPOCH + 3 * SEC);
    const m = await ReplicatedModel.create(dir, 'day', clock.now());
    const cache = new LevelMaxCache();
    const counters = createCompactionCounters();
    const events: CompactionEvent[] = [];
    const errors: unknown[] = [];
    const scheduler = new LevelScheduler({
      clock,
      onError: (_job, err) => errors.push(err),
      jobs: compactionJobs({
        client: m.remote,
        levels: LEVELS,
        localL0: m.local,
        cache,
        counters,
        snapshotRetentionMs: 1200 * SEC,
        l0RetentionMs: 30 * SEC,
        l0RetentionCheckIntervalMs: 15 * SEC,
        validationIntervalMs: 120 * SEC,
        verify: true,
        onEvent: (e) => events.push(e),
      }),
    });
    scheduler.start();
    const end = EPOCH + 40 * 60 * SEC;
    for (let i = 0; clock.now() < end; i++) {
      await runUntil(clock, scheduler, clock.now() + (i % 5 === 0 ? 9 * SEC : 4 * SEC));
      m.now = clock.now();
      // The replicator notes each upload in the cache, so idle checks need no listing.
      cache.note(await m.commit({ writes: [1 + (i % 9), 10 + (i % 3)], commit: 12 + (i % 4), dtMs: 0 }));
    }
    await runUntil(clock, scheduler, end + 20 * SEC);
    await scheduler.stop();

    assert.deepEqual(errors, []);
    assert.deepEqual(await validateLevels(m.remote, LEVELS), []);
    assert.equal(counters.validationIssuesTotal, 0);
    for (const level of [1, 2, 3, 9]) assert.ok((counters.filesWritten[level] ?? 0) > 0, `level ${level} written`);
    assert.ok((counters.filesDeleted[0] ?? 0) > 100, 'L0 expired');
    assert.ok((counters.filesDeleted[9] ?? 0) >= 2, 'old snapshots expired');
    assert.ok((counters.filesDeleted[1] ?? 0) > 0, 'L1 trimmed behind the snapshots');
    assert.ok(events.some((e) => e.kind === 'validation'));

    // Every run happened on a wall-clock multiple of its interval, except the first one after start.
    for (const st of scheduler.status()) {
      assert.ok(st.runs > 0, st.name);
      const interval = { L1: 10, L2: 60, L3: 300, snapshot: 600 }[st.name];
      if (interval !== undefined) assert.equal((st.lastRunAt!.getTime() - EPOCH) % (interval * SEC), 0, st.name);
    }
    assert.ok((await listFiles(m.remote, 3)).length > 0);
    await checkRestorable(m, true);
  });

  for (const mode of ['the upload position', 'the local copies'] as const) {
    it(`an idle database makes no replica request, knowing its newest L0 TXID from ${mode}`, async () => {
      const clock = new ManualClock(EPOCH + 1);
      const m = await ReplicatedModel.create(dir, `idle-${mode.split(' ')[2]}`, clock.now());
      const client = new FaultInjectingClient(m.remote);
      const cache = new LevelMaxCache(mode === 'the upload position' ? { l0MaxTxid: () => m.txid } : {});
      const scheduler = new LevelScheduler({
        clock,
        jobs: compactionJobs({
          client,
          levels: LEVELS,
          localL0: m.local,
          cache,
          snapshotRetentionMs: 1200 * SEC,
          l0RetentionMs: 30 * SEC,
          l0RetentionCheckIntervalMs: 15 * SEC,
        }),
      });
      scheduler.start();
      for (let i = 0; i < 40; i++) {
        await runUntil(clock, scheduler, clock.now() + 7 * SEC);
        m.now = clock.now();
        await m.commit({ writes: [1 + (i % 5)], commit: 6, dtMs: 0 });
      }
      // Let everything settle: the last compactions, snapshots and their expiry.
      await runUntil(clock, scheduler, clock.now() + 3600 * SEC);
      client.resetCalls();
      await runUntil(clock, scheduler, clock.now() + 3 * 3600 * SEC);
      assert.equal(client.totalCalls, 0, JSON.stringify(client.calls));
      // Nothing stale either: the next writes are compacted at the next boundaries.
      for (let i = 0; i < 3; i++) {
        m.now = clock.now();
        await m.commit({ writes: [2], commit: 6, dtMs: 0 });
        await runUntil(clock, scheduler, clock.now() + 4 * SEC);
      }
      await runUntil(clock, scheduler, clock.now() + 60 * SEC);
      await scheduler.stop();
      assert.equal((await listFiles(m.remote, 2)).pop()?.maxTxid, m.txid);
      assert.ok(scheduler.status().every((j) => j.runs > 100 || j.name === 'snapshot' || j.name === 'L3'));
      await checkRestorable(m, true);
    });
  }

  it('calls a database snapshot hook only when a snapshot is due, and runs retention every time', async () => {
    const clock = new ManualClock(EPOCH + 1);
    const m = await ReplicatedModel.create(dir, 'hook', clock.now());
    const calls: number[] = [];
    const retentionRuns: number[] = [];
    const scheduler = new LevelScheduler({
      clock,
      jobs: compactionJobs({
        client: m.remote,
        levels: LEVELS,
        l0RetentionMs: 0,
        snapshot: async ({ now }) => {
          calls.push((now.getTime() - EPOCH) / SEC);
          const s = m.stateAt(m.txid);
          const bytes = await encodeLtx({
            pageSize: PAGE_SIZE,
            commit: s.pages.length,
            minTxid: 1n,
            maxTxid: s.txid,
            timestamp: now.getTime(),
            pages: s.pages.map((data, i) => ({ pgno: i + 1, data })),
          });
          return putLtx(m.remote, 9, bytes);
        },
        onEvent: (e) => {
          if (e.kind === 'snapshot-retention') retentionRuns.push((clock.now() - EPOCH) / SEC);
        },
      }).filter((j) => j.name === 'snapshot'),
    });
    await m.commit({ writes: [1], commit: 4, dtMs: 0 });
    scheduler.start();
    await runUntil(clock, scheduler, EPOCH + 1300 * SEC);
    assert.deepEqual(calls, [0.001], 'nothing new after the first snapshot: no more snapshots');
    m.now = clock.now();
    await m.commit({ writes: [2], commit: 4, dtMs: 0 });
    await runUntil(clock, scheduler, EPOCH + 1900 * SEC);
    await scheduler.stop();
    assert.deepEqual(calls, [0.001, 1800]);
    assert.deepEqual(retentionRuns, [0.001, 600, 1200, 1800]);
    assert.deepEqual((await listFiles(m.remote, 9)).map((f) => f.maxTxid), [1n, 2n]);
  });
});
