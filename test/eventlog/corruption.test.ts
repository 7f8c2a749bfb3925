// Damage that a crash cannot explain must be refused with an error naming
// the file and byte offset, leaving the files untouched; `repair: true` keeps
// the valid prefix, quarantines the rest and never reuses a sequence number.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { EventLog, EventLogCorruptionError, type EventLogOptions } from '../../src/eventlog/index.js';
import { CHECKPOINT_FILE } from '../../src/eventlog/checkpoint.js';
import { BATCH_HEADER_SIZE, SEGMENT_HEADER_SIZE, parseBatchHeader } from '../../src/eventlog/format.js';
import { segmentFileName } from '../../src/eventlog/segment.js';
import { makeEvent, segmentFiles, segmentHeaderBytes, seedBatch, walDirOf, withTempDir } from './helpers.js';

const options = (dir: string, extra: Partial<EventLogOptions> = {}): EventLogOptions => ({
  dir,
  segmentSize: 1024,
  batchSize: 7,
  ...extra,
});

/** Builds a closed log of `n` events over several segments, written as multi-batch writes. */
async function buildLog(dir: string, n = 300): Promise<void> {
  const { log } = await EventLog.open(options(dir));
  let id = 1;
  for (const size of [1, 20, 3, 40, 9, 60, 2, 80, 15, 70]) {
    const count = Math.min(size, n - id + 1);
    if (count <= 0) break;
    await log.appendMany(Array.from({ length: count }, () => makeEvent(id++)));
  }
  while (id <= n) await log.append(makeEvent(id++));
  await log.close();
}

/** [start, end) of every batch in a segment file, and where its data ends. */
function batchesOf(bytes: Buffer): { batches: [number, number][]; dataEnd: number } {
  const batches: [number, number][] = [];
  let pos = SEGMENT_HEADER_SIZE;
  while (pos + BATCH_HEADER_SIZE <= bytes.length) {
    const h = parseBatchHeader(bytes, pos);
    if (typeof h === 'string') break;
    batches.push([pos, pos + BATCH_HEADER_SIZE + h.payloadLength]);
    pos += BATCH_HEADER_SIZE + h.payloadLength;
  }
  return { batches, dataEnd: pos };
}

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(walDirOf(dir))) {
    if (name === 'LOCK') continue;
    out.set(name, await readFile(join(walDirOf(dir), name)));
  }
  return out;
}

async function expectRefusal(dir: string, segment: string, offset: number, message?: RegExp): Promise<void> {
  const before = await snapshot(dir);
  await assert.rejects(EventLog.open(options(dir)), (err: unknown) => {
    assert.ok(err instanceof EventLogCorruptionError, `expected EventLogCorruptionError, got ${String(err)}`);
    assert.equal(err.segment, segment);
    assert.equal(err.offset, offset);
    assert.ok(err.message.includes(segment) && err.message.includes(`byte ${offset}`));
    if (message) assert.match(err.message, message);
    return true;
  });
  assert.deepEqual(await snapshot(dir), before, 'a refused open changes nothing on disk');
}

test('bit flips anywhere in an older segment are refused, naming the segment and the damaged batch', async () => {
  await withTempDir(async (dir) => {
    await buildLog(dir);
    const names = await segmentFiles(dir);
    assert.ok(names.length >= 4, `need several segments, got ${names.length}`);
    const target = names[1]!;
    const path = join(walDirOf(dir), target);
    const original = await readFile(path);
    const { batches, dataEnd } = batchesOf(original);
    assert.ok(batches.length >= 2);

    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: dataEnd - 1 }), fc.integer({ min: 0, max: 7 }), async (pos, bit) => {
        const damaged = Buffer.from(original);
        damaged[pos] = damaged[pos]! ^ (1 << bit);
        await writeFile(path, damaged);
        try {
          const batch = batches.find(([s, e]) => pos >= s && pos < e);
          await expectRefusal(dir, target, batch ? batch[0] : 0);
        } finally {
          await writeFile(path, original);
        }
      }),
      { numRuns: 150 },
    );

    // Garbage in the preallocated space after the last batch of a sealed segment.
    if (original.length > dataEnd) {
      const damaged = Buffer.from(original);
      damaged[dataEnd + Math.floor((original.length - dataEnd) / 2)] = 0x5a;
      await writeFile(path, damaged);
      await expectRefusal(dir, target, dataEnd, /not the last/);
      await writeFile(path, original);
    }
    const { log, replayed } = await EventLog.open(options(dir));
    assert.equal(replayed.length, 300, 'the restored log opens normally');
    await log.close();
  });
});

test('a bad batch in the last segment followed by batches from later writes is corruption, not a torn tail', async () => {
  await withTempDir(async (dir) => {
    await mkdir(walDirOf(dir), { recursive: true });
    // Three separate writes (writeIndex 0 each): the first was synced before the others began.
    const b1 = seedBatch(1, 3);
    const b2 = seedBatch(4, 6);
    const b3 = seedBatch(7, 9);
    b2[BATCH_HEADER_SIZE + 2] = b2[BATCH_HEADER_SIZE + 2]! ^ 0x10;
    const bytes = Buffer.concat([segmentHeaderBytes(1n), b1, b2, b3]);
    await writeFile(join(walDirOf(dir), segmentFileName(0, 1n)), bytes);
    await expectRefusal(dir, segmentFileName(0, 1n), SEGMENT_HEADER_SIZE + b1.length, /written later/);
  });
});

test('a missing middle segment, a renamed segment and missing post-checkpoint segments are refused', async () => {
  await withTempDir(async (dir) => {
    await buildLog(dir);
    const names = await segmentFiles(dir);
    const wal = walDirOf(dir);

    // Missing middle segment: the gap is reported at the segment after it.
    const middle = await readFile(join(wal, names[2]!));
    await unlink(join(wal, names[2]!));
    await expectRefusal(dir, names[3]!, 0, /missing/);
    await writeFile(join(wal, names[2]!), middle);

    // A segment renamed to another first seq.
    const renamed = segmentFileName(0, 100_000n);
    await rename(join(wal, names[1]!), join(wal, renamed));
    await expectRefusal(dir, names[2]!, 0, /missing/);
    await rename(join(wal, renamed), join(wal, names[1]!));
    const off = segmentFileName(0, BigInt(/\d{20}/.exec(names[1]!)![0]) + 1n);
    await rename(join(wal, names[1]!), join(wal, off));
    await expectRefusal(dir, off, 0, /renamed/);
    await rename(join(wal, off), join(wal, names[1]!));

    // The oldest segment deleted while nothing is checkpointed: events after the checkpoint are gone.
    const first = await readFile(join(wal, names[0]!));
    await unlink(join(wal, names[0]!));
    await expectRefusal(dir, names[1]!, 0, /after the checkpoint are missing/);
    await writeFile(join(wal, names[0]!), first);

    const { log, replayed } = await EventLog.open(options(dir));
    assert.equal(replayed.length, 300);
    await log.close();
  });
});

test('a damaged checkpoint file and a segment of another shard are refused', async () => {
  await withTempDir(async (dir) => {
    await buildLog(dir, 50);
    const cpPath = join(walDirOf(dir), CHECKPOINT_FILE);
    const cp = await readFile(cpPath);
    const bad = Buffer.from(cp);
    bad[9] = bad[9]! ^ 0x01;
    await writeFile(cpPath, bad);
    await expectRefusal(dir, CHECKPOINT_FILE, 0, /checksum/);
    await writeFile(cpPath, cp);

    const foreign = segmentFileName(3, 1n);
    await writeFile(join(walDirOf(dir), foreign), segmentHeaderBytes(1n, 0, 3));
    await expectRefusal(dir, foreign, 0, /shard 3/);
    await unlink(join(walDirOf(dir), foreign));

    await writeFile(join(walDirOf(dir), 'wal-123.seg'), Buffer.alloc(0));
    await expectRefusal(dir, 'wal-123.seg', 0, /not a valid segment name/);
  });
});

test('repair keeps the valid prefix, quarantines the rest and never reuses a sequence number', async () => {
  await withTempDir(async (dir) => {
    await buildLog(dir);
    const names = await segmentFiles(dir);
    const wal = walDirOf(dir);
    const target = names[1]!;
    const bytes = await readFile(join(wal, target));
    const { batches } = batchesOf(bytes);
    const [badStart, badEnd] = batches[1]!;
    const damaged = Buffer.from(bytes);
    damaged[badEnd - 1] = damaged[badEnd - 1]! ^ 0xff;
    await writeFile(join(wal, target), damaged);
    const badHeader = parseBatchHeader(bytes, badStart);
    assert.ok(typeof badHeader !== 'string');
    const firstBad = Number(badHeader.firstSeq);

    await assert.rejects(EventLog.open(options(dir)), EventLogCorruptionError);
    const { log, replayed, recovery } = await EventLog.open(options(dir, { repair: true }));
    assert.ok(recovery.repair, 'repair report present');
    assert.equal(recovery.repair.segment, target);
    assert.equal(recovery.repair.offset, badStart);
    assert.equal(recovery.repair.lostFromSeq, BigInt(firstBad));
    assert.equal(recovery.repair.lostToSeq, 300n, 'everything ever written after the damage is retired');
    assert.equal(recovery.repair.quarantined.length, names.length - 1);
    assert.equal(replayed.length, firstBad - 1, 'the valid prefix is replayed');
    replayed.forEach((e, i) => assert.equal(e.seq, BigInt(i + 1)));
    const quarantine = await readdir(join(wal, 'quarantine'));
    assert.equal(quarantine.length, names.length - 1);
    assert.deepEqual(await segmentFiles(dir), names.slice(0, 2));

    assert.equal(await log.append(makeEvent(10_000)), 301n, 'seqs continue after everything that was cut');
    await log.close();

    // Later opens need no repair and see the prefix, then the gap, then the new event.
    const again = await EventLog.open(options(dir));
    assert.equal(again.replayed.length, firstBad);
    assert.equal(again.replayed[firstBad - 1]!.seq, 301n);
    assert.equal(again.recovery.repair, null);
    await again.log.close();
  });
});

test('repair of a damaged checkpoint replays everything still present', async () => {
  await withTempDir(async (dir) => {
    await buildLog(dir, 50);
    const cpPath = join(walDirOf(dir), CHECKPOINT_FILE);
    await writeFile(cpPath, Buffer.from('not a checkpoint'));
    const { log, replayed, recovery } = await EventLog.open(options(dir, { repair: true }));
    assert.equal(recovery.repair?.segment, CHECKPOINT_FILE);
    assert.equal(replayed.length, 50);
    assert.equal(await log.append(makeEvent(999)), 51n);
    await log.close();
    const again = await EventLog.open(options(dir));
    assert.equal(again.replayed.length, 51);
    await again.log.close();
  });
});
