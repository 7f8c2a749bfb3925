// The API contract around the edges: bad input, calls after close,
// checkpoint and truncation rules, sequence numbers never reused, options,
// shards, and deduplication across reopen.
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  EventLog,
  EventLogClosedError,
  EventLogCorruptionError,
  EventLogError,
  type EventLogOptions,
  type ReplayedEvent,
  type SignalEvent,
} from '../../src/eventlog/index.js';
import { readCheckpoint } from '../../src/eventlog/checkpoint.js';
import { makeEvent, segmentFiles, walDirOf, withTempDir } from './helpers.js';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

test('invalid events reject with TypeError or RangeError and the log stays usable', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const good = makeEvent(1);
    const cases: [unknown, ErrorConstructor, RegExp][] = [
      [null, TypeError, /event must be an object/],
      [42, TypeError, /event must be an object/],
      [{ ...good, signalType: -1 }, RangeError, /signalType -1/],
      [{ ...good, signalType: 256 }, RangeError, /signalType 256/],
      [{ ...good, signalType: 1.5 }, RangeError, /signalType 1.5/],
      [{ ...good, signalType: '1' }, TypeError, /signalType must be a number/],
      [{ ...good, weight: Number.NaN }, RangeError, /weight NaN/],
      [{ ...good, weight: Number.POSITIVE_INFINITY }, RangeError, /weight Infinity/],
      [{ ...good, weight: 1e39 }, RangeError, /32-bit float/],
      [{ ...good, weight: '1' }, TypeError, /weight must be a number/],
      [{ ...good, entityId: -1n }, RangeError, /entityId -1 is outside/],
      [{ ...good, entityId: U64_MAX + 1n }, RangeError, /entityId/],
      [{ ...good, entityId: 1 }, TypeError, /entityId must be a bigint/],
      [{ ...good, timestampNanos: -5n }, RangeError, /timestampNanos/],
      [{ ...good, timestampNanos: U64_MAX + 1n }, RangeError, /timestampNanos/],
      [{ ...good, timestampNanos: undefined }, TypeError, /timestampNanos must be a bigint/],
    ];
    for (const [event, type, message] of cases) {
      await assert.rejects(log.append(event as SignalEvent), (err: unknown) => {
        assert.ok(err instanceof type, `${String(err)} should be a ${type.name}`);
        assert.match((err as Error).message, message);
        return true;
      });
    }
    await assert.rejects(log.appendMany([makeEvent(2), { ...good, signalType: 300 }]), /appendMany\[1\]: signalType 300/);
    await assert.rejects(log.appendMany('nope' as unknown as SignalEvent[]), TypeError);

    // Extremes that are valid are stored exactly.
    const edge: SignalEvent = { entityId: U64_MAX, signalType: 255, weight: -3.4028234663852886e38, timestampNanos: U64_MAX };
    assert.equal(await log.append(good), 1n);
    assert.equal(await log.append(edge), 2n);
    assert.equal(log.stats().eventsAppended, 2, 'nothing from the rejected calls was appended');
    await log.close();
    const { log: again, replayed } = await EventLog.open({ dir });
    assert.equal(replayed.length, 2);
    assert.deepEqual({ ...replayed[1]! }, { ...edge, seq: 2n });
    await again.close();
  });
});

test('checkpoint and truncateBefore validate their argument and leave the log usable', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    await log.appendMany([1, 2, 3, 4, 5].map(makeEvent));
    await assert.rejects(log.checkpoint(6n), (e: unknown) => e instanceof RangeError && /beyond the last sequence number handed out \(5\)/.test(e.message));
    await assert.rejects(log.checkpoint(3 as unknown as bigint), TypeError);
    await assert.rejects(log.checkpoint(-1n), RangeError);
    await log.checkpoint(4n);
    await assert.rejects(log.checkpoint(2n), /below the current checkpoint 4/);
    await assert.rejects(log.truncateBefore(-1n), RangeError);
    await assert.rejects(log.truncateBefore('1' as unknown as bigint), TypeError);
    await log.checkpoint(4n);
    await log.checkpoint(5n);
    assert.equal(await log.append(makeEvent(6)), 6n, 'still usable');
    await log.close();
    assert.equal((await readCheckpoint(walDirOf(dir)))?.checkpointSeq, 5n);
  });
});

test('a checkpoint of an event still in flight waits for it to be durable', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const pending = Array.from({ length: 100 }, (_, i) => log.append(makeEvent(i + 1)));
    await log.checkpoint(100n);
    assert.equal(log.stats().durableSeq, 100n);
    await Promise.all(pending);
    await log.close();
  });
});

test('every method rejects with EventLogClosedError after close; close is idempotent', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    await log.append(makeEvent(1));
    const closing = log.close();
    await assert.rejects(log.append(makeEvent(2)), EventLogClosedError, 'appends during close are refused');
    await closing;
    assert.equal(log.close(), closing, 'close returns the same promise');
    await log.close();
    await assert.rejects(log.append(makeEvent(3)), (e: unknown) => e instanceof EventLogClosedError && /cannot append/.test(e.message));
    await assert.rejects(log.appendMany([makeEvent(3)]), EventLogClosedError);
    await assert.rejects(log.checkpoint(1n), EventLogClosedError);
    await assert.rejects(log.truncateBefore(1n), EventLogClosedError);
    // Closed wins over invalid input.
    await assert.rejects(log.append(null as unknown as SignalEvent), EventLogClosedError);
  });
});

test('options are validated', async () => {
  const bad: [Partial<EventLogOptions>, ErrorConstructor][] = [
    [{ dir: '' }, TypeError],
    [{ segmentSize: 10 }, RangeError],
    [{ segmentSize: 1.5 }, RangeError],
    [{ batchSize: 0 }, RangeError],
    [{ batchSize: 70_000 }, RangeError],
    [{ batchTimeoutMs: -1 }, RangeError],
    [{ dedupWindowMs: Number.NaN }, RangeError],
    [{ dedupMaxEntries: 1 }, RangeError],
    [{ queueCapacity: 0 }, RangeError],
    [{ shard: 70_000 }, RangeError],
    [{ region: -1 }, RangeError],
    [{ syncMode: 'sometimes' as 'fsync' }, RangeError],
    [{ repair: 'yes' as unknown as boolean }, TypeError],
    [{ segmentSize: '1' as unknown as number }, TypeError],
  ];
  await withTempDir(async (dir) => {
    for (const [extra, type] of bad) {
      await assert.rejects(EventLog.open({ dir, ...extra }), type, JSON.stringify(extra));
    }
    assert.deepEqual(await readdir(dir), [], 'rejected options touch nothing');
  });
});

test('truncateBefore never deletes the active segment nor anything after the checkpoint', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, segmentSize: 300, batchSize: 4 });
    for (let i = 1; i <= 60; i++) await log.append(makeEvent(i));
    const all = await segmentFiles(dir);
    assert.ok(all.length > 5);

    assert.deepEqual(await log.truncateBefore(60n), [], 'no checkpoint: nothing may go');
    await log.checkpoint(20n);
    const removed = await log.truncateBefore(U64_MAX);
    const left = await segmentFiles(dir);
    assert.deepEqual([...removed, ...left], all, 'the oldest segments went, in order');
    const firstLeft = BigInt(/(\d{20})/.exec(left[0]!)![1]!);
    assert.ok(firstLeft <= 21n, 'the segment holding seq 21 stays');

    await log.checkpoint(60n);
    await log.truncateBefore(60n);
    assert.deepEqual(await segmentFiles(dir), [all[all.length - 1]], 'only the active segment is left');
    assert.equal(await log.append(makeEvent(61)), 61n);
    await log.close();

    const { log: again, replayed, recovery } = await EventLog.open({ dir, segmentSize: 300, batchSize: 4 });
    assert.deepEqual(replayed.map((e) => e.seq), [61n]);
    assert.equal(recovery.nextSeq, 62n);
    await again.close();
  });
});

test('sequence numbers are never reused, even when every segment is gone', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, segmentSize: 300 });
    for (let i = 1; i <= 30; i++) await log.append(makeEvent(i));
    await log.checkpoint(30n);
    await log.truncateBefore(30n);
    await log.close();
    for (const name of await segmentFiles(dir)) await unlink(join(walDirOf(dir), name));

    const { log: again, replayed, recovery } = await EventLog.open({ dir, segmentSize: 300 });
    assert.equal(replayed.length, 0);
    assert.equal(recovery.nextSeq, 31n, 'the high-water mark in the checkpoint file survives');
    assert.equal(await again.append(makeEvent(31)), 31n);
    await again.close();
  });
});

test('a lost tail after a clean close is reported and its seqs are not reused', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, segmentSize: 300 });
    for (let i = 1; i <= 30; i++) await log.append(makeEvent(i));
    await log.close();
    const segs = await segmentFiles(dir);
    await unlink(join(walDirOf(dir), segs[segs.length - 1]!));

    const { log: again, replayed, recovery } = await EventLog.open({ dir, segmentSize: 300 });
    const kept = replayed.length;
    assert.ok(kept > 0 && kept < 30);
    assert.deepEqual(recovery.missingTail, { fromSeq: BigInt(kept + 1), toSeq: 30n });
    assert.equal(await again.append(makeEvent(100)), 31n);
    await again.close();

    const third = await EventLog.open({ dir, segmentSize: 300 });
    assert.deepEqual(third.replayed.map((e) => e.seq), [...replayed.map((e) => e.seq), 31n]);
    assert.equal(third.recovery.missingTail, null, 'the gap is recorded, not reported again');
    await third.log.close();
  });
});

test('shards other than 0 use shard-aware names and cannot be opened as another shard', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, shard: 7, region: 3 });
    await log.append(makeEvent(1));
    await log.close();
    assert.deepEqual(await segmentFiles(dir), ['wal-s00007-00000000000000000001.seg']);
    await assert.rejects(EventLog.open({ dir }), EventLogCorruptionError);
    const { log: again, replayed } = await EventLog.open({ dir, shard: 7 });
    assert.equal(replayed.length, 1);
    await again.close();
  });
});

test('sync mode fsync, no preallocation, and streamed replay all work', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, syncMode: 'fsync', preallocate: false });
    await log.appendMany([1, 2, 3].map(makeEvent));
    await log.close();
    const [seg] = await segmentFiles(dir);
    assert.equal((await stat(join(walDirOf(dir), seg!))).size, 32 + 48 + 3 * 21, 'no preallocated space');

    const streamed: ReplayedEvent[] = [];
    const { log: again, replayed } = await EventLog.open({ dir, onReplay: (e) => streamed.push(e) });
    assert.equal(replayed.length, 0);
    assert.deepEqual(streamed.map((e) => e.seq), [1n, 2n, 3n]);
    await again.close();
  });
});

const SHORT_WINDOW_MS = 500;

test('dedup survives reopen (also for events already checkpointed), expires, and can be disabled', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    assert.equal(await log.append(makeEvent(1)), 1n);
    await log.checkpoint(1n);
    await log.close();
    const { log: again } = await EventLog.open({ dir });
    assert.equal(await again.append(makeEvent(1)), 0n, 'rebuilt from the log on open');
    await again.close();

    // The window is wide enough that two appends in a row fall inside it even
    // on a loaded machine (an fdatasync can take tens of milliseconds there).
    await new Promise((r) => setTimeout(r, 2 * SHORT_WINDOW_MS));
    const { log: short } = await EventLog.open({ dir, dedupWindowMs: SHORT_WINDOW_MS });
    assert.equal(await short.append(makeEvent(1)), 2n, 'older than the short window, the event is new again');
    assert.equal(await short.append(makeEvent(1)), 0n);
    await new Promise((r) => setTimeout(r, 2 * SHORT_WINDOW_MS));
    assert.equal(await short.append(makeEvent(1)), 3n, 'the window expired');
    await short.close();

    const { log: off } = await EventLog.open({ dir, dedupWindowMs: 0 });
    assert.equal(await off.append(makeEvent(1)), 4n);
    assert.equal(await off.append(makeEvent(1)), 5n);
    await off.close();
  });
});

test('opening a path that is a file names it in an EventLogError', async () => {
  await withTempDir(async (root) => {
    const file = join(root, 'not-a-dir');
    await writeFile(file, 'x');
    await assert.rejects(EventLog.open({ dir: file }), (err: unknown) => {
      assert.ok(err instanceof EventLogError, String(err));
      assert.match(err.message, new RegExp(`${file.replace(/[/.]/g, '\\$&')} is a file, not a directory`));
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOTDIR');
      return true;
    });
    assert.equal(await stat(file).then((s) => s.isFile()), true, 'the file is left as it was');

    // A file where the wal/ subdirectory should be is named too.
    const dir = join(root, 'log');
    await mkdir(dir);
    await writeFile(join(dir, 'wal'), 'x');
    await assert.rejects(EventLog.open({ dir }), (err: unknown) => {
      assert.ok(err instanceof EventLogError);
      assert.match(err.message, /log\/wal is a file, not a directory/);
      return true;
    });
  });
});

test('weights come back as 32-bit floats, and one outside that range is refused', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const seq = await log.append({ entityId: 1n, signalType: 1, weight: 1.1, timestampNanos: 1n });
    await assert.rejects(log.append({ entityId: 2n, signalType: 1, weight: 1e39, timestampNanos: 1n }), (err: unknown) => {
      assert.ok(err instanceof RangeError);
      assert.match(err.message, /weight 1e\+39 is not a finite 32-bit float/);
      return true;
    });
    await log.close();
    const { log: again, replayed } = await EventLog.open({ dir });
    assert.deepEqual(
      replayed.map((e) => [e.seq, e.weight]),
      [[seq, 1.100000023841858]],
    );
    assert.equal(replayed[0]!.weight, Math.fround(1.1));
    await again.close();
  });
});
