// A crash can leave the last write of the last segment incomplete. Recovery
// must cut it back to the last whole batch, whatever the cut looks like:
// shorter file, zero-filled (preallocated) tail, or a power-loss pattern
// where later pages of the same write made it to disk and earlier ones did not.
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EventLog, type EventLogOptions } from '../../src/eventlog/index.js';
import { SEGMENT_HEADER_SIZE } from '../../src/eventlog/format.js';
import { segmentFileName } from '../../src/eventlog/segment.js';
import { makeEvent, segmentHeaderBytes, seedBatch, walDirOf, withTempDir } from './helpers.js';

const options = (dir: string): EventLogOptions => ({ dir, segmentSize: 4096, batchTimeoutMs: 1 });

/** A segment of four batches (3, 1, 5 and 2 events), as one multi-batch write would leave it. */
function multiBatchSegment(firstSeq: number): { bytes: Buffer; boundaries: { end: number; lastSeq: number }[] } {
  const sizes = [3, 1, 5, 2];
  const parts = [segmentHeaderBytes(BigInt(firstSeq))];
  const boundaries = [{ end: SEGMENT_HEADER_SIZE, lastSeq: firstSeq - 1 }];
  let seq = firstSeq;
  let end = SEGMENT_HEADER_SIZE;
  let writeIndex = 0;
  for (const n of sizes) {
    const batch = seedBatch(seq, seq + n - 1, writeIndex);
    parts.push(batch);
    writeIndex += n;
    seq += n;
    end += batch.length;
    boundaries.push({ end, lastSeq: seq - 1 });
  }
  return { bytes: Buffer.concat(parts), boundaries };
}

/** The whole batches wholly inside the first `cut` bytes. */
function survivingLastSeq(boundaries: { end: number; lastSeq: number }[], cut: number): { end: number; lastSeq: number } {
  let best = boundaries[0]!;
  for (const b of boundaries) if (b.end <= cut) best = b;
  return best;
}

async function resetWal(dir: string): Promise<string> {
  const walDir = walDirOf(dir);
  await rm(walDir, { recursive: true, force: true });
  await mkdir(walDir, { recursive: true });
  return walDir;
}

test('a cut at every byte offset of a multi-batch last segment keeps exactly the whole batches before it', async () => {
  await withTempDir(async (dir) => {
    // Two sealed segments before the one being cut.
    const sealedA = multiBatchSegment(1);
    const sealedB = multiBatchSegment(12);
    const last = multiBatchSegment(23);
    for (let cut = 0; cut <= last.bytes.length; cut++) {
      const walDir = await resetWal(dir);
      await writeFile(join(walDir, segmentFileName(0, 1n)), sealedA.bytes);
      await writeFile(join(walDir, segmentFileName(0, 12n)), sealedB.bytes);
      await writeFile(join(walDir, segmentFileName(0, 23n)), last.bytes.subarray(0, cut));

      const { log, replayed, recovery } = await EventLog.open(options(dir));
      const headerTorn = cut < SEGMENT_HEADER_SIZE;
      const keep = headerTorn ? { end: 0, lastSeq: 22 } : survivingLastSeq(last.boundaries, cut);
      assert.equal(replayed.length, keep.lastSeq, `cut at ${cut}`);
      assert.deepEqual(
        replayed.map((e) => e.seq),
        Array.from({ length: keep.lastSeq }, (_, i) => BigInt(i + 1)),
      );
      replayed.forEach((e) => assert.equal(e.entityId, e.seq, 'records are intact'));
      if (headerTorn) {
        assert.deepEqual(recovery.removedSegments, [segmentFileName(0, 23n)], `cut at ${cut}: half-created segment removed`);
      } else {
        assert.equal(recovery.bytesTruncated, cut - keep.end, `cut at ${cut}: torn bytes cut`);
        assert.equal((await stat(join(walDirOf(dir), segmentFileName(0, 23n)))).size, keep.end);
      }
      assert.equal(recovery.missingTail, null);
      assert.equal(await log.append(makeEvent(1000 + cut)), BigInt(keep.lastSeq + 1), `cut at ${cut}: next seq follows`);
      await log.close();

      const again = await EventLog.open(options(dir));
      assert.equal(again.replayed.length, keep.lastSeq + 1, `cut at ${cut}: stable after the repair`);
      assert.equal(again.recovery.bytesTruncated, 0);
      await again.log.close();
    }
  });
});

test('a cut followed by preallocated zeros is treated the same way', async () => {
  await withTempDir(async (dir) => {
    const seg = multiBatchSegment(1);
    const fileSize = 4096;
    for (let cut = SEGMENT_HEADER_SIZE; cut <= seg.bytes.length; cut++) {
      const walDir = await resetWal(dir);
      const file = Buffer.alloc(fileSize);
      seg.bytes.copy(file, 0, 0, cut);
      await writeFile(join(walDir, segmentFileName(0, 1n)), file);

      const { log, replayed } = await EventLog.open(options(dir));
      // Where the original bytes were zero anyway, the zero fill restores them.
      let intactTo = cut;
      while (intactTo < seg.bytes.length && seg.bytes[intactTo] === 0) intactTo++;
      const keep = survivingLastSeq(seg.boundaries, intactTo);
      assert.equal(replayed.length, keep.lastSeq, `cut at ${cut}`);
      assert.equal(await log.append(makeEvent(1000)), BigInt(keep.lastSeq + 1));
      await log.close();
    }
  });
});

test('power loss: a damaged page inside the last write, with later batches of that write intact, is a torn write', async () => {
  await withTempDir(async (dir) => {
    const seg = multiBatchSegment(1);
    // Zero the second batch (as if its page never reached the disk) but keep
    // batches 3 and 4, which belong to the same write (writeIndex > 0).
    const b1 = seg.boundaries[1]!;
    const b2 = seg.boundaries[2]!;
    const damaged = Buffer.from(seg.bytes);
    damaged.fill(0, b1.end, b2.end);
    const walDir = await resetWal(dir);
    await writeFile(join(walDir, segmentFileName(0, 1n)), damaged);

    const { log, replayed, recovery } = await EventLog.open(options(dir));
    assert.equal(replayed.length, b1.lastSeq, 'only the batches before the hole survive');
    assert.equal(recovery.bytesTruncated, seg.bytes.length - b1.end);
    assert.equal(await log.append(makeEvent(99)), BigInt(b1.lastSeq + 1));
    await log.close();
  });
});

test('a last segment whose header never became durable is removed, the previous segment continues', async () => {
  await withTempDir(async (dir) => {
    const sealed = multiBatchSegment(1);
    for (const content of [Buffer.alloc(0), Buffer.alloc(4096), segmentHeaderBytes(12n).subarray(0, 20)]) {
      const walDir = await resetWal(dir);
      await writeFile(join(walDir, segmentFileName(0, 1n)), sealed.bytes);
      await writeFile(join(walDir, segmentFileName(0, 12n)), content);
      const { log, replayed, recovery } = await EventLog.open(options(dir));
      assert.equal(replayed.length, 11);
      assert.deepEqual(recovery.removedSegments, [segmentFileName(0, 12n)]);
      assert.deepEqual((await readdir(walDir)).filter((n) => n.endsWith('.seg')), [segmentFileName(0, 1n)]);
      assert.equal(await log.append(makeEvent(99)), 12n);
      await log.close();
    }
  });
});

test('a crash after a clean close cannot be confused with a torn tail: nothing is cut on reopen', async () => {
  await withTempDir(async (dir) => {
    const { log } = await EventLog.open(options(dir));
    await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(makeEvent(i + 1))));
    await log.close();
    const again = await EventLog.open(options(dir));
    assert.equal(again.replayed.length, 500);
    assert.equal(again.recovery.bytesTruncated, 0);
    assert.deepEqual(again.recovery.removedSegments, []);
    await again.log.close();
  });
});
