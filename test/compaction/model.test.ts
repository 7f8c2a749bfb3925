import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import fc from 'fast-check';
import { compactLevel } from '../../src/compaction/compact-level.js';
import { compactSnapshot } from '../../src/compaction/compact-snapshot.js';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { enforceL0Retention } from '../../src/compaction/l0-retention.js';
import { LevelMaxCache } from '../../src/compaction/level-max-cache.js';
import { enforceSnapshotRetention } from '../../src/compaction/snapshot-retention.js';
import { validateLevels } from '../../src/compaction/validate-level.js';
import { restore } from '../../src/restore/restore.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../restore/replica-fixtures.js';
import { checkRestorable, equalBytes, imageOf, listFiles, ReplicatedModel, restoreImage, type DbState } from './fixtures.js';

const SEC = 1000;
/** Intervals scaled down so that a short run crosses many windows of every level. */
const LEVELS = new CompactionLevels(
  [
    { level: 0, intervalMs: 0 },
    { level: 1, intervalMs: 5 * SEC },
    { level: 2, intervalMs: 20 * SEC },
    { level: 3, intervalMs: 60 * SEC },
  ],
  120 * SEC,
);
/** Snapshots every 20 s, so Litestream's trimming has something to trim below. */
const FREQUENT_SNAPSHOTS = new CompactionLevels([...LEVELS.levels], 20 * SEC);
const SNAPSHOT_RETENTION_MS = 240 * SEC;
const L0_RETENTION_MS = 10 * SEC;

/** How the functions learn the newest TXIDs: no cache, a cache fed by the upload position, or a cache bounded by the local copies. */
type CacheMode = 'none' | 'position' | 'local';

type Op =
  | { kind: 'tx'; writes: number[]; commit: number; dtMs: number }
  | { kind: 'compact'; level: number }
  | { kind: 'l0-retention' }
  | { kind: 'snapshot' }
  | { kind: 'snapshot-retention' }
  | { kind: 'litestream-trim' }
  | { kind: 'wait'; dtMs: number };

const txArb = fc.record({
  kind: fc.constant('tx' as const),
  writes: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 4 }),
  commit: fc.integer({ min: 2, max: 12 }),
  dtMs: fc.integer({ min: 0, max: 8 * SEC }),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: txArb },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('compact' as const), level: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'l0-retention' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'snapshot-retention' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), dtMs: fc.integer({ min: SEC, max: 100 * SEC }) }) },
);
/** The same, plus Litestream's own level trimming, which leaves holes under slower levels. */
const withLitestreamTrimArb: fc.Arbitrary<Op> = fc.oneof({ weight: 10, arbitrary: opArb }, { weight: 3, arbitrary: fc.constant({ kind: 'litestream-trim' as const }) }, { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) });

describe('compaction and retention against a model database', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let runs = 0;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('compaction-model'));
  });
  after(() => cleanup());

  it('any sequence of writes, compactions, snapshots and retention keeps the levels whole and every remaining point restorable', async () => {
    await fc.assert(
      fc.asyncProperty(
        txArb,
        fc.array(opArb, { minLength: 30, maxLength: 120, size: 'max' }),
        fc.option(fc.integer({ min: 2, max: 5 })),
        fc.constantFrom<CacheMode>('none', 'position', 'local'),
        (first, ops, maxInputs, cacheMode) => runModel(dir, `run${runs++}`, LEVELS, first, ops, maxInputs ?? undefined, cacheMode),
      ),
      { numRuns: 40 },
    );
  });

  it('replicas trimmed the way Litestream trims them (holes under slower levels) still compact and restore', async () => {
    await fc.assert(
      fc.asyncProperty(
        txArb,
        fc.array(withLitestreamTrimArb, { minLength: 30, maxLength: 120, size: 'max' }),
        fc.constantFrom<CacheMode>('none', 'position', 'local'),
        (first, ops, cacheMode) => runModel(dir, `lrun${runs++}`, FREQUENT_SNAPSHOTS, first, ops, undefined, cacheMode),
      ),
      { numRuns: 25 },
    );
  });

  it('timestamp restores use the finest level that still covers the time', async () => {
    const m = await ReplicatedModel.create(dir, 'pitr');
    // Writes every 3 s; L1 compaction on each 10 s boundary, as the scheduler would run it.
    let window = 0;
    for (let i = 0; i < 30; i++) {
      const w = Math.floor((m.now + 3 * SEC) / LEVELS.intervalOf(1));
      if (w !== window) {
        window = w;
        await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: w * LEVELS.intervalOf(1), localL0: m.local });
      }
      await m.commit({ writes: [1 + (i % 7), 9], commit: 10, dtMs: 3 * SEC });
    }
    const l1 = await listFiles(m.remote, 1);
    assert.ok(l1.length >= 8, `L1 has ${l1.length} files`);
    const at = (s: DbState): Date => new Date(s.timestamp + 1);
    // With every L0 file there, any moment restores the last TXID before it.
    for (const s of m.states) {
      const { plan, image } = await restoreImage(m.remote, { timestamp: at(s) });
      assert.equal(plan.txid, s.txid);
      assert.ok(equalBytes(image, imageOf(s)));
    }
    // Once L0 is expired, a moment restores the last L1 boundary before it.
    const r = await enforceL0Retention({ client: m.remote, l0RetentionMs: 1, now: m.now + 10 * SEC, localL0: m.local });
    assert.ok(r.deleted.length > 20, `${r.deleted.length} L0 files deleted`);
    for (const s of m.states) {
      const expected = [...l1].reverse().find((f) => f.createdAt.getTime() < at(s).getTime());
      if (s.txid === m.txid || expected === undefined) continue;
      const { plan, image } = await restoreImage(m.remote, { timestamp: at(s) });
      assert.equal(plan.txid, expected.maxTxid, `restore at TXID ${s.txid}'s time`);
      assert.ok(equalBytes(image, imageOf(m.stateAt(expected.maxTxid))));
    }
    // And the full restore path agrees: a real database file equal to the model.
    const out = join(dir, 'pitr-restored.db');
    const res = await restore({ client: m.remote, outputPath: out });
    assert.equal(res.txid, m.txid);
    assert.ok(equalBytes(new Uint8Array(await readFile(out)), imageOf(m.stateAt(m.txid))));
  });
});

/**
 * Runs the ops against a fresh model replica, checking after each one that
 * the levels have no hole (unless Litestream-style trimming made some) and
 * that the replicator's newest local L0 file survives; then checks every
 * point that remains restorable.
 */
async function runModel(
  dir: string,
  name: string,
  levels: CompactionLevels,
  first: Op & { kind: 'tx' },
  ops: readonly Op[],
  maxInputs: number | undefined,
  cacheMode: CacheMode = 'none',
): Promise<void> {
  const m = await ReplicatedModel.create(dir, name);
  // The model uploads every TXID at once, so its TXID is the replica's newest L0 TXID.
  const cache = cacheMode === 'none' ? undefined : new LevelMaxCache(cacheMode === 'position' ? { l0MaxTxid: () => m.txid } : {});
  try {
    await m.commit(first);
    let retentionRan = false;
    let holesAllowed = false;
    for (const op of [...ops, { kind: 'compact', level: 1 } as Op]) {
      const now = m.now;
      switch (op.kind) {
        case 'tx':
          await m.commit(op);
          break;
        case 'wait':
          m.now += op.dtMs;
          break;
        case 'compact':
          await compactLevel({ client: m.remote, dstLevel: op.level, levels, now, localL0: m.local, maxInputs, cache });
          break;
        case 'l0-retention': {
          const run = (c: LevelMaxCache | undefined) =>
            enforceL0Retention({ client: m.remote, l0RetentionMs: L0_RETENTION_MS, now, localL0: m.local, cache: c });
          const r = await run(cache);
          retentionRan ||= r.deleted.length > 0;
          // A run skipped from the cache must be one that would have deleted nothing.
          if (r.skipped === true) assert.deepEqual((await run(undefined)).deleted, [], 'L0 retention skipped a run that had work');
          break;
        }
        case 'snapshot':
          await compactSnapshot({ client: m.remote, levels, now, localL0: m.local, maxInputs, cache });
          break;
        case 'snapshot-retention': {
          const run = (c: LevelMaxCache | undefined) =>
            enforceSnapshotRetention({ client: m.remote, retentionMs: SNAPSHOT_RETENTION_MS, now, levels, cache: c });
          const r = await run(cache);
          retentionRan ||= r.deletedFiles.length > 0;
          if (r.skipped === true) {
            const check = await run(undefined);
            assert.deepEqual([...check.deletedSnapshots, ...check.deletedFiles], [], 'snapshot retention skipped a run that had work');
          }
          break;
        }
        case 'litestream-trim': {
          const deleted = await litestreamTrim(m);
          retentionRan ||= deleted > 0;
          holesAllowed ||= deleted > 0;
          // The replica was changed behind the cache's back.
          cache?.clear();
          break;
        }
      }
      if (!holesAllowed) assert.deepEqual(await validateLevels(m.remote, levels), [], `levels stay whole after ${JSON.stringify(op)}`);
      const localL0 = await listFiles(m.local, 0);
      assert.equal(localL0[localL0.length - 1]?.maxTxid, m.txid, 'the newest local L0 file (the replicator position) is never removed');
    }
    await checkRestorable(m, retentionRan);
  } finally {
    await rm(m.remote.root, { recursive: true, force: true });
    await rm(m.local.root, { recursive: true, force: true });
  }
}

/**
 * Litestream v0.5's retention with every older snapshot expired: all but the
 * newest snapshot deleted, then every level 1..max trimmed below it, keeping
 * each level's last file, whatever the levels above hold.
 */
async function litestreamTrim(m: ReplicatedModel): Promise<number> {
  const snapshots = await listFiles(m.remote, 9);
  const newest = snapshots.pop();
  if (newest === undefined) return 0;
  await m.remote.deleteLtxFiles(snapshots);
  let deleted = 0;
  for (let level = 1; level <= LEVELS.maxLevel; level++) {
    const files = await listFiles(m.remote, level);
    const doomed = files.slice(0, -1).filter((f) => f.maxTxid < newest.maxTxid);
    await m.remote.deleteLtxFiles(doomed);
    deleted += doomed.length;
  }
  return deleted;
}
