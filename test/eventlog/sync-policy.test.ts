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

test('a lone appender ends up syncing on the main thread, one sync per append', async (t) => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    // Syncs are counted, not made: their duration is then near zero on any
    // machine, so where they run depends only on the policy.
    const realSync = fs.fdatasyncSync;
    const realAsync = fs.fdatasync;
    let inline = 0;
    let pooled = 0;
    const restore = (): void => {
      fs.fdatasyncSync = realSync;
      fs.fdatasync = realAsync;
    };
    t.after(restore);
    fs.fdatasyncSync = (() => {
      inline++;
    }) as typeof fs.fdatasyncSync;
    fs.fdatasync = ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      pooled++;
      process.nextTick(cb, null);
    }) as typeof fs.fdatasync;
    const before = log.stats().syncs;
    const n = 40;
    for (let i = 1; i <= n; i++) assert.equal(await log.append(makeEvent(i)), BigInt(i));
    restore();
    assert.equal(log.stats().syncs - before, n, 'one sync per lone append');
    assert.equal(inline + pooled, n);
    assert.ok(inline >= n - 2, `${inline} of ${n} syncs inline, ${pooled} in the thread pool`);
    await log.close();
    const { log: again, replayed } = await EventLog.open({ dir });
    assert.equal(replayed.length, n);
    await again.close();
  });
});
