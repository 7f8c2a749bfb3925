// The tidalDB WAL integration tests (tidal/tests/wal_integration.rs @ f4cfd6c8),
// ported test by test with the same assertions or stronger ones. Rust threads
// become concurrent async tasks sharing one EventLog.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EventLog, type EventLogOptions, type SignalEvent } from '../../src/eventlog/index.js';
import { readCheckpoint } from '../../src/eventlog/checkpoint.js';
import { BATCH_HEADER_SIZE, encodeBatch } from '../../src/eventlog/format.js';
import { listSegments, segmentFileName } from '../../src/eventlog/segment.js';
import { makeEvent, segmentFiles, segmentHeaderBytes, seedBatch, walDirOf, withTempDir } from './helpers.js';

/** The seed's test_config. */
function testConfig(dir: string): EventLogOptions {
  return { dir, segmentSize: 16 * 1024 * 1024, batchSize: 100, batchTimeoutMs: 1, dedupWindowMs: 30_000 };
}

test('wal_basic_round_trip: ten events survive close and reopen, in order and field-exact', async () => {
  await withTempDir(async (dir) => {
    const first = await EventLog.open(testConfig(dir));
    assert.equal(first.replayed.length, 0);
    for (let i = 1; i <= 10; i++) await first.log.append(makeEvent(i));
    await first.log.close();

    const { log, replayed } = await EventLog.open(testConfig(dir));
    assert.equal(replayed.length, 10);
    replayed.forEach((e, i) => {
      assert.equal(e.entityId, BigInt(i + 1));
      assert.equal(e.signalType, 1);
      assert.equal(e.weight, 1.0);
      assert.equal(e.timestampNanos, BigInt(i + 1) * 1_000_000_000n);
      assert.equal(e.seq, BigInt(i + 1));
    });
    await log.close();
  });
});

test('wal_dedup_silent: an identical event returns 0n and is not stored', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open(testConfig(dir));
    const event = makeEvent(42);
    const seq1 = await log.append(event);
    const seq2 = await log.append({ ...event });
    const seq3 = await log.append(event);
    assert.ok(seq1 > 0n, 'first event gets a real sequence number');
    assert.equal(seq2, 0n, 'duplicate returns 0n');
    assert.equal(seq3, 0n, 'duplicate returns 0n');
    await log.close();

    const reopened = await EventLog.open(testConfig(dir));
    assert.equal(reopened.replayed.length, 1, 'only one copy is on disk');
    assert.equal(reopened.replayed[0]!.seq, seq1);
    await reopened.log.close();
  });
});

test('wal_dedup_no_false_positives: 1000 distinct events from 10 concurrent writers are all accepted', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open({ ...testConfig(dir), batchSize: 256, dedupWindowMs: 60_000 });
    const perWriter = 100;
    const writers = Array.from({ length: 10 }, async (_, t) => {
      let accepted = 0;
      for (let i = 0; i < perWriter; i++) {
        const id = t * perWriter + i;
        const seq = await log.append({
          entityId: BigInt(id),
          signalType: id % 256,
          weight: id,
          timestampNanos: BigInt(id) * 1_000_000n,
        });
        if (seq > 0n) accepted++;
      }
      return accepted;
    });
    const accepted = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
    await log.close();
    assert.equal(accepted, 1000, 'all 1000 distinct events are accepted (no false positives)');
  });
});

test('wal_segment_rotation: tiny segments rotate, are named wal-{seq:020}.seg, and replay everything', async () => {
  await withTempDir(async (dir) => {
    const config: EventLogOptions = { dir, segmentSize: 256, batchSize: 10, batchTimeoutMs: 10, dedupWindowMs: 30_000 };
    const { log } = await EventLog.open(config);
    for (let i = 1; i <= 100; i++) await log.append(makeEvent(i));
    await log.close();

    const segments = await listSegments(walDirOf(dir));
    assert.ok(segments.length > 1, `expected several segments, got ${segments.length}`);
    for (const s of segments) {
      assert.equal(s.name, segmentFileName(0, s.firstSeq));
      assert.match(s.name, /^wal-\d{20}\.seg$/);
    }
    assert.equal(segments[0]!.name, 'wal-00000000000000000001.seg');
    assert.deepEqual(await segmentFiles(dir), segments.map((s) => s.name));

    const reopened = await EventLog.open(config);
    assert.equal(reopened.replayed.length, 100, 'all events are replayed');
    assert.deepEqual(
      reopened.replayed.map((e) => e.seq),
      Array.from({ length: 100 }, (_, i) => BigInt(i + 1)),
    );
    await reopened.log.close();
  });
});

test('wal_crash_recovery_torn_write: a torn second batch leaves exactly the first batch', async () => {
  const batch1 = seedBatch(1, 5);
  const batch2 = seedBatch(6, 10);
  // The seed's offsets (chosen for its 64-byte header) plus the same landmarks
  // for this format's 48-byte header: mid-header, last header byte, header end,
  // mid-record, and one byte short of the whole batch.
  const offsets = [0, 10, 32, 63, 64, 69, 84, BATCH_HEADER_SIZE - 1, BATCH_HEADER_SIZE, BATCH_HEADER_SIZE + 5, batch2.length - 1];
  for (const truncateAt of offsets) {
    await withTempDir(async (dir) => {
      await mkdir(walDirOf(dir), { recursive: true });
      const data = Buffer.concat([segmentHeaderBytes(1n), batch1, batch2.subarray(0, truncateAt)]);
      await writeFile(join(walDirOf(dir), segmentFileName(0, 1n)), data);

      const { log, replayed, recovery } = await EventLog.open(testConfig(dir));
      assert.equal(replayed.length, 5, `torn write at offset ${truncateAt}: recover 5 events`);
      assert.deepEqual(replayed.map((e) => e.entityId), [1n, 2n, 3n, 4n, 5n]);
      assert.equal(recovery.bytesTruncated, truncateAt);
      // Appending continues right after the surviving batch.
      assert.equal(await log.append(makeEvent(100)), 6n);
      await log.close();
    });
  }
});

test('wal_clean_shutdown_no_data_loss: exactly the five written events come back, no phantoms', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open(testConfig(dir));
    for (let i = 1; i <= 5; i++) await log.append(makeEvent(i));
    await log.close();

    const reopened = await EventLog.open(testConfig(dir));
    assert.equal(reopened.replayed.length, 5, 'exactly 5 events, not more');
    for (const e of reopened.replayed) assert.ok(e.entityId >= 1n && e.entityId <= 5n, `unexpected entity ${e.entityId}`);
    assert.equal(reopened.recovery.bytesTruncated, 0);
    await reopened.log.close();
  });
});

test('wal_crash_at_any_byte_position: a cut anywhere in segment header or batch never yields a corrupt state', async () => {
  const events: SignalEvent[] = [1, 2, 3].map(makeEvent);
  const batch = encodeBatch(events, 1n, 1_000_000_000n);
  const whole = Buffer.concat([segmentHeaderBytes(1n), batch]);
  await withTempDir(async (dir) => {
    const walDir = walDirOf(dir);
    await mkdir(walDir, { recursive: true });
    const segPath = join(walDir, segmentFileName(0, 1n));
    for (let cut = 0; cut <= whole.length; cut++) {
      await writeFile(segPath, whole.subarray(0, cut));
      const { log, replayed } = await EventLog.open(testConfig(dir));
      if (cut === whole.length) {
        assert.equal(replayed.length, 3, 'the full batch recovers 3 events');
      } else {
        assert.equal(replayed.length, 0, `cut at byte ${cut}: no events recovered`);
      }
      await log.close();
      await rm(walDir, { recursive: true, force: true });
      await mkdir(walDir, { recursive: true });
    }
  });
});

test('wal_checkpoint_and_truncation: checkpoint is recorded, truncation deletes exactly the covered segments', async () => {
  await withTempDir(async (dir) => {
    const config: EventLogOptions = { dir, segmentSize: 256, batchSize: 5, batchTimeoutMs: 10, dedupWindowMs: 30_000 };
    const { log } = await EventLog.open(config);
    let lastSeq = 0n;
    for (let i = 1; i <= 50; i++) {
      const seq = await log.append(makeEvent(i));
      if (seq > lastSeq) lastSeq = seq;
    }
    const checkpointSeq = lastSeq / 2n;
    await log.checkpoint(checkpointSeq);

    const cp = await readCheckpoint(walDirOf(dir));
    assert.ok(cp, 'checkpoint file exists');
    assert.equal(cp.checkpointSeq, checkpointSeq);

    const before = await listSegments(walDirOf(dir));
    const removed = await log.truncateBefore(checkpointSeq);
    // Exactly the segments whose every event is <= checkpoint: segment i is
    // covered when the next segment starts at or below checkpoint + 1.
    const expected = before.filter((s, i) => i + 1 < before.length && before[i + 1]!.firstSeq - 1n <= checkpointSeq);
    assert.deepEqual(removed, expected.map((s) => s.name));
    assert.ok(removed.length > 0);
    const after = await listSegments(walDirOf(dir));
    assert.deepEqual(after.map((s) => s.name), before.slice(removed.length).map((s) => s.name));
    assert.ok(after[0]!.firstSeq <= checkpointSeq + 1n, 'nothing after the checkpoint was deleted');
    await log.close();

    const reopened = await EventLog.open(config);
    assert.equal(reopened.replayed.length, Number(lastSeq - checkpointSeq));
    assert.deepEqual(
      reopened.replayed.map((e) => e.seq),
      Array.from({ length: Number(lastSeq - checkpointSeq) }, (_, i) => checkpointSeq + 1n + BigInt(i)),
    );
    await reopened.log.close();
  });
});

test('wal_concurrent_writers: 8 concurrent writers get 800 unique sequence numbers, all replayed', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open(testConfig(dir));
    const perWriter = 100;
    const writers = Array.from({ length: 8 }, async (_, t) => {
      const seqs: bigint[] = [];
      for (let i = 0; i < perWriter; i++) {
        const id = BigInt(t * perWriter + i);
        seqs.push(await log.append({ entityId: id, signalType: t, weight: 1.0, timestampNanos: id * 1000n }));
      }
      return seqs;
    });
    const all = (await Promise.all(writers)).flat();
    await log.close();

    const nonZero = all.filter((s) => s > 0n);
    assert.equal(nonZero.length, 800, 'every event gets a sequence number');
    assert.equal(new Set(nonZero).size, 800, 'no duplicate sequence numbers');
    const sorted = [...nonZero].sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(sorted, Array.from({ length: 800 }, (_, i) => BigInt(i + 1)), 'gap-free from 1');

    const reopened = await EventLog.open(testConfig(dir));
    assert.equal(reopened.replayed.length, 800, 'all events present on replay');
    await reopened.log.close();
  });
});

test('wal_close_and_reopen: sequence numbers continue across sessions', async () => {
  await withTempDir(async (dir) => {
    let lastSeq = 0n;
    const s1 = await EventLog.open(testConfig(dir));
    for (let i = 1; i <= 10; i++) {
      const seq = await s1.log.append(makeEvent(i));
      if (seq > lastSeq) lastSeq = seq;
    }
    await s1.log.close();

    const s2 = await EventLog.open(testConfig(dir));
    assert.equal(s2.replayed.length, 10);
    for (let i = 11; i <= 20; i++) {
      const seq = await s2.log.append(makeEvent(i));
      assert.equal(seq, lastSeq + 1n, `seq ${seq} follows ${lastSeq}`);
      lastSeq = seq;
    }
    await s2.log.close();

    const s3 = await EventLog.open(testConfig(dir));
    assert.equal(s3.replayed.length, 20);
    assert.equal(s3.recovery.nextSeq, 21n);
    await s3.log.close();
  });
});

test('wal_replay_correctness: a checkpoint at the 50th event replays exactly the last 50', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open(testConfig(dir));
    const seqs: bigint[] = [];
    for (let i = 1; i <= 100; i++) seqs.push(await log.append(makeEvent(i)));
    await log.checkpoint(seqs[49]!);
    await log.close();

    const reopened = await EventLog.open(testConfig(dir));
    assert.equal(reopened.replayed.length, 50, 'strictly after the checkpoint: exactly 50');
    assert.deepEqual(reopened.replayed.map((e) => e.seq), seqs.slice(50));
    assert.deepEqual(reopened.replayed.map((e) => e.entityId), seqs.slice(50).map((_, i) => BigInt(51 + i)));
    assert.equal(reopened.recovery.checkpointSeq, seqs[49]);
    await reopened.log.close();
  });
});
