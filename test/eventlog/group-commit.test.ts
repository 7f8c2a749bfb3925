// Group commit: many appends share a write and a sync, a lone appender is
// never held back by the batch timeout, the queue is bounded, and a failed
// sync fails the log loudly instead of acknowledging anything.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { EventLog, EventLogError, EventLogWriteError, type SignalEvent } from '../../src/eventlog/index.js';
import { readCheckpoint } from '../../src/eventlog/checkpoint.js';
import { makeEvent, walDirOf, withTempDir } from './helpers.js';

test('10 000 appends in flight get unique, gap-free seqs in call order, share a few syncs, and all replay', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const n = 10_000;
    const seqs = await Promise.all(Array.from({ length: n }, (_, i) => log.append(makeEvent(i + 1))));
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => BigInt(i + 1)));
    const stats = log.stats();
    assert.equal(stats.eventsAppended, n);
    assert.ok(stats.syncs <= 2, `appends issued together share one write and sync (got ${stats.syncs})`);
    await log.close();

    const { log: again, replayed } = await EventLog.open({ dir });
    assert.equal(replayed.length, n);
    replayed.forEach((e, i) => {
      assert.equal(e.seq, BigInt(i + 1));
      assert.equal(e.entityId, BigInt(i + 1));
    });
    await again.close();
  });
});

test('many concurrent appenders share syncs: far fewer syncs than appends', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const writers = 256;
    const rounds = 20;
    let id = 0;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (let r = 0; r < rounds; r++) await log.append(makeEvent(++id));
      }),
    );
    const stats = log.stats();
    assert.equal(stats.eventsAppended, writers * rounds);
    assert.ok(stats.syncs <= (writers * rounds) / 10, `${stats.syncs} syncs for ${writers * rounds} appends`);
    await log.close();
  });
});

test('a lone appender is not made to wait for the batch timeout', { timeout: 20_000 }, async () => {
  await withTempDir(async (dir) => {
    // With an hour-long batch timeout, any wait for it would time the test out.
    const { log } = await EventLog.open({ dir, batchTimeoutMs: 3_600_000 });
    for (let i = 1; i <= 5; i++) assert.equal(await log.append(makeEvent(i)), BigInt(i));
    assert.equal(log.stats().syncs, 5, 'each lone append was written and synced on its own');
    await log.close();
  });
});

test('appends arriving while a write is in flight go together in the next write', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const first = log.append(makeEvent(1));
    // Let the first write start, then queue 50 more behind it.
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 50 }, (_, i) => log.append(makeEvent(i + 2)));
    await Promise.all([first, ...rest]);
    assert.equal(log.stats().writes, 2);
    await log.close();
  });
});

test('the queue is bounded: appends beyond queueCapacity wait, in order, and memory does not grow', async () => {
  await withTempDir(async (dir) => {
    const capacity = 100;
    const { log } = await EventLog.open({ dir, queueCapacity: capacity, batchSize: 10 });
    let maxQueued = 0;
    let maxWaiting = 0;
    const sample = () => {
      const s = log.stats();
      maxQueued = Math.max(maxQueued, s.queuedEvents, s.writingEvents);
      maxWaiting = Math.max(maxWaiting, s.waitingAppends);
    };
    const n = 2000;
    const promises = Array.from({ length: n }, (_, i) => {
      const p = log.append(makeEvent(i + 1));
      sample();
      return p.then((seq) => {
        sample();
        return seq;
      });
    });
    assert.equal(log.stats().queuedEvents, capacity, 'the active group filled up to its capacity');
    assert.equal(log.stats().waitingAppends, n - capacity, 'the rest wait');
    const seqs = await Promise.all(promises);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => BigInt(i + 1)), 'waiting appends keep their order');
    assert.ok(maxQueued <= capacity, `never more than ${capacity} events staged per buffer (saw ${maxQueued})`);
    assert.ok(maxWaiting > 0);
    assert.equal(log.stats().waitingAppends, 0);
    await log.close();
  });
});

test('appendMany larger than the queue is admitted in pieces and keeps contiguous seqs', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, queueCapacity: 64 });
    const events = Array.from({ length: 1000 }, (_, i) => makeEvent(i + 1));
    const single = log.append(makeEvent(5000));
    const many = log.appendMany(events);
    const after = log.append(makeEvent(6000));
    assert.equal(await single, 1n);
    assert.deepEqual(await many, Array.from({ length: 1000 }, (_, i) => BigInt(i + 2)));
    assert.equal(await after, 1002n);
    await log.close();
  });
});

test('appendMany reports duplicates as 0n, including repeats inside the same call', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    assert.equal(await log.append(makeEvent(1)), 1n);
    const seqs = await log.appendMany([makeEvent(2), makeEvent(1), makeEvent(3), makeEvent(2)]);
    assert.deepEqual(seqs, [2n, 0n, 3n, 0n]);
    assert.deepEqual(await log.appendMany([]), []);
    await log.close();
    const { log: again, replayed } = await EventLog.open({ dir });
    assert.deepEqual(replayed.map((e) => e.entityId), [1n, 2n, 3n]);
    await again.close();
  });
});

test('a duplicate of an event still in flight settles only once the original is durable', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    const order: string[] = [];
    const original = log.append(makeEvent(7)).then((s) => {
      order.push('original');
      return s;
    });
    const duplicate = log.append(makeEvent(7)).then((s) => {
      order.push('duplicate');
      return s;
    });
    assert.deepEqual(await Promise.all([original, duplicate]), [1n, 0n]);
    assert.deepEqual(order, ['original', 'duplicate']);
    await log.close();
  });
});

test('a failed sync rejects the appends in flight, fails the log, and reopening recovers', async (t) => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, preallocate: false });
    assert.equal(await log.append(makeEvent(1)), 1n);

    // Syncs run in the thread pool or on the main thread (sync-policy.ts): fail both.
    const realFdatasync = fs.fdatasync;
    const realFdatasyncSync = fs.fdatasyncSync;
    const restore = (): void => {
      fs.fdatasync = realFdatasync;
      fs.fdatasyncSync = realFdatasyncSync;
    };
    t.after(restore);
    const eio = (): NodeJS.ErrnoException => {
      const err: NodeJS.ErrnoException = new Error('EIO: i/o error, fdatasync');
      err.code = 'EIO';
      return err;
    };
    fs.fdatasync = ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      process.nextTick(cb, eio());
    }) as typeof fs.fdatasync;
    fs.fdatasyncSync = (() => {
      throw eio();
    }) as typeof fs.fdatasyncSync;

    const inFlight = [log.append(makeEvent(2)), log.append(makeEvent(3))];
    for (const p of inFlight) {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof EventLogWriteError);
        assert.match(err.message, /EIO/);
        assert.equal((err.cause as NodeJS.ErrnoException).code, 'EIO');
        return true;
      });
    }
    restore();
    await assert.rejects(log.append(makeEvent(4)), EventLogWriteError, 'the log accepts nothing after a failed sync');
    await assert.rejects(log.checkpoint(1n), EventLogWriteError);
    await assert.rejects(log.close(), EventLogWriteError, 'close reports the failure');

    // The directory was released; recovery decides what is on disk.
    const { log: again, replayed } = await EventLog.open({ dir });
    assert.equal(replayed[0]!.seq, 1n);
    const next = await again.append(makeEvent(5));
    assert.equal(next, BigInt(replayed.length + 1));
    await again.close();
  });
});

test('a failed checkpoint rejects with a typed error, the log stays usable and the checkpoint can be retried', async (t) => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir });
    await log.appendMany([1, 2, 3].map(makeEvent));
    const realFsync = fs.fsync;
    t.after(() => {
      fs.fsync = realFsync;
    });
    fs.fsync = ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      const err: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device, fsync');
      err.code = 'ENOSPC';
      process.nextTick(cb, err);
    }) as typeof fs.fsync;
    await assert.rejects(log.checkpoint(2n), (err: unknown) => {
      assert.ok(err instanceof EventLogError);
      assert.match(err.message, /checkpoint failed: ENOSPC/);
      return true;
    });
    fs.fsync = realFsync;
    assert.equal(await log.append(makeEvent(4)), 4n, 'appends go on');
    await log.checkpoint(2n);
    assert.equal((await readCheckpoint(walDirOf(dir)))?.checkpointSeq, 2n);
    await log.close();
  });
});

test('events appended without awaiting, then close: all are written before close resolves', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ dir, queueCapacity: 16 });
    const events: SignalEvent[] = Array.from({ length: 500 }, (_, i) => makeEvent(i + 1));
    const pending = events.map((e) => log.append(e));
    await log.close();
    assert.deepEqual(await Promise.all(pending), events.map((_, i) => BigInt(i + 1)));
    const { log: again, replayed } = await EventLog.open({ dir });
    assert.equal(replayed.length, 500);
    await again.close();
  });
});
