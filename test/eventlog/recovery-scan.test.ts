// The recovery scan reads segments in chunks with the next chunk read ahead,
// and gives the event loop back between chunks and inside long ones. None of
// that may change what it concludes: every verdict, cut, replayed event and
// dedup batch must be the same whatever the chunk size, including batches cut
// by a chunk boundary at every possible place.
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ReplayedEvent, SignalEvent } from '../../src/eventlog/index.js';
import {
  BATCH_HEADER_SIZE,
  MAX_BATCH_EVENTS,
  RECORD_SIZE,
  SEGMENT_FLAG_DISCONTINUITY,
  encodeBatch,
  encodeCheckpoint,
  encodeSegmentHeader,
  parseCheckpoint,
} from '../../src/eventlog/format.js';
import { DEFAULT_READ_CHUNK_BYTES, recover, type RecoverOptions } from '../../src/eventlog/recovery.js';
import { segmentFileName } from '../../src/eventlog/segment.js';
import { withTempDir } from './helpers.js';

function event(seq: bigint, salt: number): SignalEvent {
  return {
    entityId: seq * 2654435761n + BigInt(salt),
    signalType: Number(seq % 256n),
    weight: Math.fround(Number(seq % 1000n) / 8),
    timestampNanos: 1_000_000n + seq,
  };
}

interface SegmentPlan {
  /** Events per batch. */
  batches: number[];
  /** Batches per write, cycled: sets each batch's write index. */
  writeSizes: number[];
  /** Zero bytes after the data (preallocated space). */
  zeroTail: number;
  /** Seqs skipped before this segment, which is then flagged as a discontinuity. */
  gapBefore: number;
}

type Damage =
  | { kind: 'none' }
  | { kind: 'flip'; segment: number; at: number; bit: number }
  | { kind: 'cut'; at: number }
  | { kind: 'zero'; segment: number; at: number; len: number };

interface LogPlan {
  segments: SegmentPlan[];
  damage: Damage;
  /** Fraction (0..1) of the events below the checkpoint, or null for no checkpoint file. */
  checkpointAt: number | null;
  /** Fraction (0..1) of batches stamped recent enough to feed the dedup window. */
  recentFrom: number;
  repair: boolean;
}

const segmentPlan: fc.Arbitrary<SegmentPlan> = fc.record({
  batches: fc.array(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 120 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }) }), {
    minLength: 0,
    maxLength: 12,
  }),
  writeSizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
  zeroTail: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 })),
  gapBefore: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 50 }) }),
});

const logPlan: fc.Arbitrary<LogPlan> = fc.record({
  segments: fc.array(segmentPlan, { minLength: 1, maxLength: 4 }),
  damage: fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('flip' as const), segment: fc.nat(), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('zero' as const), segment: fc.nat(), at: fc.nat(), len: fc.integer({ min: 1, max: 3000 }) }),
    },
  ),
  checkpointAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
  recentFrom: fc.double({ min: 0, max: 1, noNaN: true }),
  repair: fc.boolean(),
});

/** Writes the planned log into `<dir>/wal` and returns the batch stamp from which batches count as recent. */
async function writeLog(dir: string, plan: LogPlan): Promise<bigint> {
  const walDir = join(dir, 'wal');
  await mkdir(walDir, { recursive: true });
  let seq = 1n;
  let stamp = 1_000_000_000n;
  const stamps: bigint[] = [];
  const files: { name: string; bytes: Buffer }[] = [];
  for (const s of plan.segments) {
    seq += BigInt(s.gapBefore);
    const firstSeq = seq;
    const parts = [
      encodeSegmentHeader({
        flags: s.gapBefore > 0 ? SEGMENT_FLAG_DISCONTINUITY : 0,
        shard: 0,
        region: 0,
        firstSeq,
        createdNanos: stamp,
      }),
    ];
    let inWrite = 0;
    let writeIndex = 0;
    let w = 0;
    for (const count of s.batches) {
      if (inWrite === s.writeSizes[w % s.writeSizes.length]) {
        inWrite = 0;
        writeIndex = 0;
        w++;
      }
      const events = Array.from({ length: count }, (_, k) => event(seq + BigInt(k), count));
      parts.push(encodeBatch(events, seq, stamp, { writeIndex }));
      stamps.push(stamp);
      stamp += 1_000n;
      seq += BigInt(count);
      writeIndex += count;
      inWrite++;
    }
    parts.push(Buffer.alloc(s.zeroTail));
    files.push({ name: segmentFileName(0, firstSeq), bytes: Buffer.concat(parts) });
  }
  const d = plan.damage;
  if (d.kind === 'flip') {
    const f = files[d.segment % files.length]!;
    f.bytes[d.at % f.bytes.length]! ^= 1 << d.bit;
  } else if (d.kind === 'zero') {
    const f = files[d.segment % files.length]!;
    const at = d.at % f.bytes.length;
    f.bytes.fill(0, at, Math.min(f.bytes.length, at + d.len));
  } else if (d.kind === 'cut') {
    const f = files[files.length - 1]!;
    f.bytes = f.bytes.subarray(0, d.at % (f.bytes.length + 1));
  }
  for (const f of files) await writeFile(join(walDir, f.name), f.bytes);
  const last = seq - 1n;
  if (plan.checkpointAt !== null) {
    const checkpointSeq = BigInt(Math.floor(plan.checkpointAt * Number(last)));
    await writeFile(
      join(walDir, 'checkpoint.meta'),
      encodeCheckpoint({ shard: 0, checkpointSeq, highWaterSeq: last, writtenAtNanos: 5n }),
    );
  }
  return stamps.length === 0 ? 0n : stamps[Math.floor(plan.recentFrom * (stamps.length - 1))]!;
}

/** A quarantined file's name without the time stamp repair adds. */
const unstamp = (name: string) => name.replace(/\.\d+$/, '');

/** Everything a recovery concluded and did, in a comparable form. */
async function runRecovery(walDir: string, repair: boolean, recentSinceNanos: bigint, readChunkBytes: number | undefined) {
  const replayed: ReplayedEvent[] = [];
  const recent: string[] = [];
  const opts: RecoverOptions = {
    walDir,
    shard: 0,
    region: 0,
    repair,
    onReplay: (e) => void replayed.push(e),
    recentSinceNanos,
    onRecentBatch: (view, offset, count, ts) => {
      recent.push(`${ts}:${Buffer.from(view.buffer, view.byteOffset + offset, count * RECORD_SIZE).toString('hex')}`);
    },
    readChunkBytes,
  };
  let outcome: unknown;
  try {
    const r = await recover(opts);
    // Only the clock may differ between two runs: durations, repair time stamps.
    outcome = {
      ...r,
      checkpoint: { ...r.checkpoint, writtenAtNanos: 0n },
      report: {
        ...r.report,
        durationMs: 0,
        repair: r.report.repair && { ...r.report.repair, quarantined: r.report.repair.quarantined.map(unstamp) },
      },
    };
  } catch (err) {
    outcome = { error: (err as Error).name, message: (err as Error).message };
  }
  const files: Record<string, unknown> = {};
  for (const name of (await readdir(walDir)).sort()) {
    const bytes = await readFile(join(walDir, name)).catch(() => null);
    if (name === 'checkpoint.meta' && bytes) {
      const c = parseCheckpoint(bytes);
      files[name] = typeof c === 'string' ? c : { ...c, writtenAtNanos: 0n };
    } else if (name.endsWith('.seg') && bytes) {
      files[name] = bytes.toString('hex');
    }
  }
  const quarantine = await readdir(join(walDir, 'quarantine')).catch(() => []);
  return { outcome, replayed, recent, files, quarantine: quarantine.map(unstamp).sort() };
}

test('the scan concludes the same whatever the read chunk size, on intact, torn and damaged logs', async () => {
  await withTempDir(async (dir) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(logPlan, fc.integer({ min: 200, max: 6000 }), async (plan, oddChunk) => {
        const base = join(dir, `base-${run}`);
        const since = await writeLog(base, plan);
        const results = [];
        // Chunks shorter than a batch header, than a batch, and odd ones that cut anywhere.
        for (const chunk of [undefined, BATCH_HEADER_SIZE - 1, 97, 2148 + 7, oddChunk]) {
          const copy = join(dir, `run-${run}-${chunk ?? 'default'}`);
          await cp(base, copy, { recursive: true });
          results.push({ chunk, ...(await runRecovery(join(copy, 'wal'), plan.repair, since, chunk)) });
        }
        run++;
        const [reference, ...others] = results;
        for (const r of others) {
          assert.deepEqual({ ...r, chunk: undefined }, { ...reference, chunk: undefined }, `chunk ${r.chunk} differs from the default`);
        }
      }),
      // Each run is five recoveries on disk; shrinking a failure would take many minutes, and the seed replays it.
      { numRuns: 60, endOnFailure: true },
    );
  });
});

test('batches of the largest size are read across chunk boundaries, one at each byte of the header after them', async () => {
  await withTempDir(async (dir) => {
    const walDir = join(dir, 'wal');
    await mkdir(walDir, { recursive: true });
    const big = Array.from({ length: MAX_BATCH_EVENTS }, (_, k) => event(BigInt(k + 1), 1));
    const small = (from: number, n: number) => Array.from({ length: n }, (_, k) => event(BigInt(from + k), 2));
    const bytes = Buffer.concat([
      encodeSegmentHeader({ flags: 0, shard: 0, region: 0, firstSeq: 1n, createdNanos: 1n }),
      encodeBatch(big, 1n, 10n),
      encodeBatch(small(MAX_BATCH_EVENTS + 1, 3), BigInt(MAX_BATCH_EVENTS + 1), 11n),
      encodeBatch(big.map((e) => ({ ...e, signalType: 9 })), BigInt(MAX_BATCH_EVENTS + 4), 12n),
    ]);
    await writeFile(join(walDir, segmentFileName(0, 1n)), bytes);
    const total = 2 * MAX_BATCH_EVENTS + 3;
    // Chunks that end the first read at each byte of the second batch's header.
    const firstBatchEnd = 32 + BATCH_HEADER_SIZE + MAX_BATCH_EVENTS * RECORD_SIZE;
    const chunks = [DEFAULT_READ_CHUNK_BYTES, 64 * 1024, 1_000_003];
    for (let k = 1; k <= BATCH_HEADER_SIZE; k++) chunks.push(firstBatchEnd + k);
    for (const chunk of chunks) {
      const replayed: ReplayedEvent[] = [];
      const { report, active } = await recover({
        walDir,
        shard: 0,
        region: 0,
        repair: false,
        onReplay: (e) => void replayed.push(e),
        recentSinceNanos: 1n << 64n,
        onRecentBatch: () => {},
        readChunkBytes: chunk,
      });
      assert.equal(report.eventsScanned, total, `chunk ${chunk}`);
      assert.equal(replayed.length, total, `chunk ${chunk}`);
      assert.equal(active?.dataEnd, bytes.length, `chunk ${chunk}`);
      assert.deepEqual(replayed[MAX_BATCH_EVENTS + 1], { ...small(MAX_BATCH_EVENTS + 1, 3)[1]!, seq: BigInt(MAX_BATCH_EVENTS + 2) });
      assert.equal(replayed[total - 1]!.signalType, 9);
      assert.equal(replayed[total - 1]!.seq, BigInt(total));
    }
  });
});

/** Writes one segment of `batches` batches of 100 events and returns the wal directory. */
async function plainLog(dir: string, batches: number): Promise<string> {
  const walDir = join(dir, 'wal');
  await mkdir(walDir, { recursive: true });
  const parts = [encodeSegmentHeader({ flags: 0, shard: 0, region: 0, firstSeq: 1n, createdNanos: 1n })];
  const template = Array.from({ length: 100 }, (_, k) => event(BigInt(k + 1), 3));
  for (let b = 0; b < batches; b++) parts.push(encodeBatch(template, BigInt(b * 100 + 1), 1_000n + BigInt(b)));
  await writeFile(join(walDir, segmentFileName(0, 1n)), Buffer.concat(parts));
  return walDir;
}

test('the scan gives the event loop back between chunks', async () => {
  await withTempDir(async (dir) => {
    const walDir = await plainLog(dir, 2000); // 4.3 MB
    let turns = 0;
    let spinning = true;
    const spin = () => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const { report } = await recover({
      walDir,
      shard: 0,
      region: 0,
      repair: false,
      onReplay: () => {},
      recentSinceNanos: 1n << 64n,
      onRecentBatch: () => {},
      readChunkBytes: 64 * 1024,
    });
    spinning = false;
    assert.equal(report.eventsScanned, 200_000);
    // 66 chunks, each read while the previous one is checked: a scan that
    // never waited for the loop would let the spinner run a handful of times.
    assert.ok(turns >= 30, `the loop turned ${turns} times`);
  });
});

test('a chunk that takes long to check is cut into slices, with timers run in between', async () => {
  await withTempDir(async (dir) => {
    const walDir = await plainLog(dir, 1000); // 2.1 MB: one chunk
    const ticks: number[] = [];
    // Batches checked since the timer last ran: the count one turn of the loop holds it back for, whatever the load.
    let batches = 0;
    let mostBatchesInATurn = 0;
    const timer = setInterval(() => {
      ticks.push(performance.now());
      mostBatchesInATurn = Math.max(mostBatchesInATurn, batches);
      batches = 0;
    }, 1);
    const started = performance.now();
    const { report } = await recover({
      walDir,
      shard: 0,
      region: 0,
      repair: false,
      onReplay: () => {},
      // Every batch feeds the dedup window, and that is slow here: 0.1 ms a batch, 100 ms for the chunk.
      recentSinceNanos: 0n,
      onRecentBatch: () => {
        batches++;
        const until = performance.now() + 0.1;
        while (performance.now() < until);
      },
    });
    const ended = performance.now();
    clearInterval(timer);
    mostBatchesInATurn = Math.max(mostBatchesInATurn, batches);
    assert.equal(report.eventsScanned, 100_000);
    // Slices are 3 ms and a batch takes at least 0.1 ms, so a turn holds about 30 of the chunk's 1000 batches;
    // a machine under load only makes that fewer. Unsliced, one turn would hold all 1000.
    assert.ok(mostBatchesInATurn <= 100, `one turn checked ${mostBatchesInATurn} batches`);
    assert.ok(ticks.length >= 10, `${ticks.length} ticks in ${(ended - started).toFixed(0)} ms`);
  });
});
