import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { calcV03RestorePlan } from '../../../src/restore/v03/plan.js';
import { V03NoSnapshotError, V03SegmentGapError } from '../../../src/restore/v03/errors.js';
import { at, synthListing } from './synthetic.js';

describe('calcV03RestorePlan', () => {
  const twoGenerations = synthListing({
    aaaaaaaaaaaaaaaa: {
      snapshots: [[0, 10]],
      segments: [
        [0, 0, 10],
        [0, 100, 11],
        [1, 0, 12],
        [2, 0, 13],
        [2, 64, 14],
      ],
    },
    // Newer data, though its ID sorts first.
    '0000000000000001': {
      snapshots: [
        [0, 20],
        [3, 25],
      ],
      segments: [
        [0, 0, 20],
        [1, 0, 21],
        [2, 0, 22],
        [3, 0, 25],
        [3, 50, 26],
        [4, 0, 27],
      ],
    },
  });

  it('latest: the generation that received data last, its newest snapshot, every segment from its index on', () => {
    const p = calcV03RestorePlan(twoGenerations);
    assert.equal(p.generation, '0000000000000001');
    assert.equal(p.snapshot.index, 3);
    assert.deepEqual(
      p.indexes.map((i) => [i.index, i.segments.map((s) => s.offset)]),
      [
        [3, [0, 50]],
        [4, [0]],
      ],
    );
  });

  it('at a time: the newest snapshot at or before it across generations, then segments up to the time', () => {
    let p = calcV03RestorePlan(twoGenerations, { timestamp: at(13) });
    assert.equal(p.generation, 'aaaaaaaaaaaaaaaa');
    assert.equal(p.snapshot.index, 0);
    assert.deepEqual(p.indexes.map((i) => [i.index, i.segments.length]), [
      [0, 2],
      [1, 1],
      [2, 1],
    ]);
    // Between the generations: the older one's final state.
    p = calcV03RestorePlan(twoGenerations, { timestamp: at(19) });
    assert.equal(p.generation, 'aaaaaaaaaaaaaaaa');
    assert.equal(p.indexes.at(-1)!.segments.length, 2);
    // Exactly at a snapshot's time: that snapshot, and the segment of the same moment.
    p = calcV03RestorePlan(twoGenerations, { timestamp: at(20) });
    assert.equal(p.generation, '0000000000000001');
    assert.deepEqual(p.indexes.map((i) => i.index), [0]);
    p = calcV03RestorePlan(twoGenerations, { timestamp: at(25.5) });
    assert.equal(p.snapshot.index, 3);
    assert.deepEqual(p.indexes.map((i) => [i.index, i.segments.length]), [[3, 1]]);
    // A snapshot with no segments yet is a snapshot-only restore.
    p = calcV03RestorePlan(synthListing({ aaaaaaaaaaaaaaaa: { snapshots: [[5, 1]], segments: [] } }));
    assert.deepEqual(p.indexes, []);
  });

  it('stops at the first segment past the time, even if a later one looks older', () => {
    const listing = synthListing({
      aaaaaaaaaaaaaaaa: {
        snapshots: [[0, 0]],
        segments: [
          [0, 0, 1],
          [0, 10, 5],
          [0, 20, 2],
        ],
      },
    });
    const p = calcV03RestorePlan(listing, { timestamp: at(3) });
    assert.deepEqual(p.indexes[0]!.segments.map((s) => s.offset), [0]);
  });

  it('passes over generations without a snapshot, and fails when no snapshot qualifies', () => {
    const listing = synthListing({
      aaaaaaaaaaaaaaaa: { snapshots: [[0, 5]], segments: [[0, 0, 5]] },
      bbbbbbbbbbbbbbbb: { snapshots: [], segments: [[0, 0, 50]] },
    });
    assert.equal(calcV03RestorePlan(listing).generation, 'aaaaaaaaaaaaaaaa');
    assert.throws(
      () => calcV03RestorePlan(listing, { timestamp: at(4), replicaName: 'file:///r' }),
      (err: unknown) => err instanceof V03NoSnapshotError && /no v0\.3 snapshot in file:\/\/\/r was created at or before/.test(err.message),
    );
    assert.throws(() => calcV03RestorePlan(synthListing({})), V03NoSnapshotError);
  });

  it('refuses a missing index, a missing first segment, and two segments at one offset, naming the missing object', () => {
    const gap = synthListing({
      aaaaaaaaaaaaaaaa: {
        snapshots: [[0, 0]],
        segments: [
          [0, 0, 1],
          [2, 0, 2],
        ],
      },
    });
    assert.throws(
      () => calcV03RestorePlan(gap, { replicaName: '/r' }),
      (err: unknown) =>
        err instanceof V03SegmentGapError &&
        err.missing === '/r/generations/aaaaaaaaaaaaaaaa/wal/00000001_00000000.wal.lz4' &&
        /WAL index 00000001 .* is missing .* index 00000002 exists/.test(err.message),
    );
    const noFirst = synthListing({ aaaaaaaaaaaaaaaa: { snapshots: [[1, 0]], segments: [[1, 40, 1]] } });
    assert.throws(
      () => calcV03RestorePlan(noFirst),
      (err: unknown) => err instanceof V03SegmentGapError && err.missing === 'generations/aaaaaaaaaaaaaaaa/wal/00000001_00000000.wal.lz4',
    );
    const snapshotIndexEmpty = synthListing({ aaaaaaaaaaaaaaaa: { snapshots: [[1, 0]], segments: [[2, 0, 1]] } });
    assert.throws(() => calcV03RestorePlan(snapshotIndexEmpty), /WAL index 00000001 .* is missing/);
    const twice = synthListing({
      aaaaaaaaaaaaaaaa: {
        snapshots: [[0, 0]],
        segments: [
          [0, 0, 1],
          [0, 0, 1],
        ],
      },
    });
    assert.throws(() => calcV03RestorePlan(twice), /two WAL segments claim offset 0/);
  });

  it('picks what Litestream v0.3 would on random listings (property)', () => {
    const genIds = ['0000000000000001', '1111111111111111', 'ffffffffffffffff'];
    const arbGen = fc.record({
      snapshots: fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 100 })), { selector: (s) => s[0], maxLength: 3 }),
      indexes: fc.integer({ min: 0, max: 5 }),
      segs: fc.integer({ min: 1, max: 3 }),
      start: fc.integer({ min: 0, max: 100 }),
    });
    fc.assert(
      fc.property(fc.array(arbGen, { minLength: 1, maxLength: 3 }), fc.option(fc.integer({ min: 0, max: 140 })), (gens, t) => {
        // Contiguous, offset-0-first segments with increasing times, so only the choice itself is under test.
        const spec: Parameters<typeof synthListing>[0] = {};
        gens.forEach((g, i) => {
          const segments: [number, number, number][] = [];
          let time = g.start;
          for (let ix = 0; ix < g.indexes; ix++) for (let k = 0; k < g.segs; k++) segments.push([ix, k * 100, time++]);
          spec[genIds[i]!] = { snapshots: g.snapshots, segments };
        });
        const listing = synthListing(spec);
        const timestamp = t === null ? undefined : at(t);
        const all = listing.generations.flatMap((g) => g.snapshots);
        const eligible = all.filter((s) => timestamp === undefined || s.createdAt <= timestamp);
        let plan;
        try {
          plan = calcV03RestorePlan(listing, { timestamp });
        } catch (err) {
          // The segments are complete, so the only possible refusal is having no snapshot to start from.
          assert.ok(err instanceof V03NoSnapshotError, String(err));
          assert.equal(eligible.length, 0);
          return;
        }
        const gen = listing.generations.find((g) => g.generation === plan.generation)!;
        if (timestamp === undefined) {
          const newestData = Math.max(...listing.generations.filter((g) => g.snapshots.length > 0).map((g) => g.updatedAt!.getTime()));
          assert.equal(gen.updatedAt!.getTime(), newestData);
          assert.equal(plan.snapshot.createdAt.getTime(), Math.max(...gen.snapshots.map((s) => s.createdAt.getTime())));
        } else {
          assert.ok(plan.snapshot.createdAt <= timestamp);
          assert.equal(plan.snapshot.createdAt.getTime(), Math.max(...eligible.map((s) => s.createdAt.getTime())));
        }
        const chosen = plan.indexes.flatMap((i) => i.segments);
        const expected = gen.walSegments.filter((s) => s.index >= plan.snapshot.index && (timestamp === undefined || s.createdAt <= timestamp));
        assert.deepEqual(chosen, expected);
        plan.indexes.forEach((ix, k) => {
          assert.equal(ix.index, plan.snapshot.index + k);
          assert.equal(ix.segments[0]!.offset, 0);
        });
      }),
      { numRuns: 300 },
    );
  });
});
