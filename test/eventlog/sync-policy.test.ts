// Where syncs run: on the main thread while they are fast and nothing arrives
// during them, in the thread pool otherwise; a lone appender gets there.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { EventLog } from '../../src/eventlog/index.js';
import { INLINE_SYNC_MAX_MS, PROBE_EVERY_WRITES, SyncPolicy } from '../../src/eventlog/sync-policy.js';
import { makeEvent, withTempDir } from './helpers.js';

test('the first sync goes to the thread pool; fast syncs with no arrivals then run inline, with periodic probes', () => {
  const p = new SyncPolicy(true);
  assert.equal(p.inline(), false, 'nothing is known about the disk yet');
  p.observe(0.2, false, false);
  const choices = Array.from({ length: PROBE_EVERY_WRITES * 2 }, () => p.inline());
  assert.equal(choices.filter((c) => !c).length, 2, 'one probe in the thread pool per PROBE_EVERY_WRITES writes');
  assert.equal(choices.filter(Boolean).length, PROBE_EVERY_WRITES * 2 - 2);
});

test('appends arriving during a pooled sync, or a slow sync, keep syncs in the thread pool', () => {
  const p = new SyncPolicy(true);
  p.observe(0.2, false, true);
  for (let i = 0; i < 10; i++) assert.equal(p.inline(), false, 'overlap pays: stay in the pool');
  p.observe(0.2, false, false);
  assert.equal(p.inline(), true);
  p.observe(INLINE_SYNC_MAX_MS + 5, true, false);
  assert.equal(p.inline(), false, 'a slow sync must not hold the event loop again');
  const off = new SyncPolicy(false);
  off.observe(0.1, false, false);
  assert.equal(off.inline(), false, 'disabled policy never syncs inline');
});

test('a lone appender ends up syncing on the main thread, and every append is still synced', async (t) => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const real = fs.fdatasyncSync;
    let inlineSyncs = 0;
    t.after(() => {
      fs.fdatasyncSync = real;
    });
    fs.fdatasyncSync = ((fd: number) => {
      inlineSyncs++;
      real(fd);
    }) as typeof fs.fdatasyncSync;
    const before = log.stats().syncs;
    const n = 40;
    for (let i = 1; i <= n; i++) assert.equal(await log.append(makeEvent(i)), BigInt(i));
    assert.equal(log.stats().syncs - before, n, 'one sync per lone append');
    // Unless this machine's syncs are slower than INLINE_SYNC_MAX_MS, most ran inline.
    const slowDisk = inlineSyncs === 0;
    if (!slowDisk) assert.ok(inlineSyncs >= n / 2, `${inlineSyncs} of ${n} syncs inline`);
    fs.fdatasyncSync = real;
    await log.close();
    const { log: again, replayed } = await EventLog.open({ dir });
    assert.equal(replayed.length, n);
    await again.close();
  });
});
