// DatabaseModel and ModelChange: the rolling checksum always equals one
// computed from scratch over the pages the model holds, whatever sequence of
// growths, shrinks and page writes led there, including around the lock page.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pageChecksum } from '../../src/ltx/checksum.js';
import { CHECKSUM_FLAG, lockPgno, PENDING_BYTE } from '../../src/ltx/constants.js';
import { DatabaseModel, ModelChange } from '../../src/replication/db-model.js';
import { blob } from '../sqlite/helpers.js';

/** The smallest page size: the lock page (PENDING_BYTE / 512 + 1) is then reachable with ~2M pages. */
const PAGE_SIZE = 512;
const LOCK = lockPgno(PAGE_SIZE);
/** Commits drawn near the start of the database and around the lock page. */
const LOW_COMMIT_MAX = 40;
const NEAR_LOCK = 12;
const OPS_PER_RUN = 25;
const PROPERTY_RUNS = 120;
const CHANGE_RUNS = 80;

/** Deterministic page content, different per seed. */
function page(seed: number, size = PAGE_SIZE): Uint8Array {
  return blob(seed, size);
}

/** The reference: page contents by page number, with nothing incremental about it. */
class Reference {
  commit = 0;
  readonly pages = new Map<number, Uint8Array>();

  setCommit(commit: number): void {
    // A shrink forgets the pages past it: growing again must not bring them back.
    for (const pgno of [...this.pages.keys()]) if (pgno > commit) this.pages.delete(pgno);
    this.commit = commit;
  }

  setPage(pgno: number, data: Uint8Array): void {
    this.pages.set(pgno, data);
  }

  /** CHECKSUM_FLAG | XOR of pageChecksum over pages 1..commit, lock page excluded, computed afresh. */
  checksum(): bigint {
    let x = CHECKSUM_FLAG;
    for (const [pgno, data] of this.pages) {
      if (pgno < 1 || pgno > this.commit || pgno === LOCK) continue;
      x ^= pageChecksum(pgno, data);
    }
    return CHECKSUM_FLAG | x;
  }
}

type Op = { kind: 'commit'; commit: number } | { kind: 'page'; target: 'low' | 'end' | 'lock'; n: number; seed: number };

/**
 * Operations on a database whose size stays in one region: the first pages,
 * or around the lock page. Each run stays in its region because a shrink
 * from ~2M pages down to a few costs ~100 ms (one BigInt XOR per page
 * dropped); the shrink across regions is tested once, below.
 */
function opsArb(minCommit: number, maxCommit: number): fc.Arbitrary<Op[]> {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.integer({ min: minCommit, max: maxCommit }).map((commit) => ({ kind: 'commit' as const, commit })),
    fc.record({ kind: fc.constant('page' as const), target: fc.constantFrom('low' as const, 'end' as const, 'lock' as const), n: fc.nat({ max: 2 * NEAR_LOCK }), seed: fc.integer() }),
  );
  return fc.array(op, { minLength: 1, maxLength: OPS_PER_RUN });
}
const lowOps = opsArb(0, LOW_COMMIT_MAX);
const lockOps = opsArb(LOCK - NEAR_LOCK, LOCK + NEAR_LOCK);
const anyOps = fc.oneof(lowOps, lockOps);

/**
 * The page a page op writes in a database of `commit` pages: one of the
 * first pages, one of the last, or the lock page and its neighbours (the
 * last page when the database does not reach them).
 */
function pickPage(commit: number, op: Extract<Op, { kind: 'page' }>): number {
  const clamp = (p: number): number => Math.max(1, Math.min(commit, p));
  if (op.target === 'low') return clamp(op.n + 1);
  if (op.target === 'end') return clamp(commit - op.n);
  return clamp(LOCK + (op.n % 3) - 1);
}

/** Page writes that landed on the lock page, so the property can show it reached it. */
let lockWrites = 0;

function apply(model: DatabaseModel, ref: Reference, op: Op): void {
  if (op.kind === 'commit') {
    model.setCommit(op.commit);
    ref.setCommit(op.commit);
    return;
  }
  if (model.commit === 0) return;
  const pgno = pickPage(model.commit, op);
  const data = page(op.seed);
  if (pgno === LOCK) lockWrites++;
  model.setPage(pgno, data);
  ref.setPage(pgno, data);
}

/** A model built directly, page by page, with the given commit. */
function modelOf(pages: Map<number, Uint8Array>, commit: number, txid = 0n): DatabaseModel {
  const m = new DatabaseModel(PAGE_SIZE, txid);
  m.setCommit(commit);
  for (const [pgno, data] of pages) m.setPage(pgno, data);
  return m;
}

function assertSameModel(actual: DatabaseModel, expected: DatabaseModel, label: string): void {
  assert.equal(actual.commit, expected.commit, `${label}: commit`);
  assert.equal(actual.checksum, expected.checksum, `${label}: checksum`);
  assert.equal(actual.txid, expected.txid, `${label}: txid`);
  assert.deepEqual(actual.sums(), expected.sums(), `${label}: page checksums`);
}

describe('DatabaseModel', () => {
  it('the lock page for 512-byte pages is where PENDING_BYTE falls', () => {
    // Guards the premise of the property below: commits near LOCK cross the lock page.
    assert.equal(LOCK, PENDING_BYTE / PAGE_SIZE + 1);
    assert.equal(LOCK, 0x200001);
  });

  it('property: the rolling checksum equals one computed from scratch after any sequence of setCommit and setPage', () => {
    lockWrites = 0;
    fc.assert(
      fc.property(anyOps, (ops) => {
        const model = new DatabaseModel(PAGE_SIZE);
        const ref = new Reference();
        for (const op of ops) {
          apply(model, ref, op);
          assert.equal(model.commit, ref.commit);
          assert.equal(model.checksum, ref.checksum(), `after ${JSON.stringify(op)}`);
        }
        // Each page's sum is its own checksum; the lock page and pages past the end have none.
        for (const [pgno, data] of ref.pages) {
          assert.equal(model.pageSum(pgno), pgno === LOCK ? 0n : pageChecksum(pgno, data), `page ${pgno}`);
        }
        assert.equal(model.pageSum(LOCK), 0n);
        assert.equal(model.pageSum(model.commit + 1), 0n);
        assert.equal(model.pageSum(0), 0n);
      }),
      { numRuns: PROPERTY_RUNS },
    );
    assert.ok(lockWrites > 0, 'the runs wrote the lock page at least once');
  });

  it('writing the lock page is ignored, so it never enters the checksum', () => {
    const m = new DatabaseModel(PAGE_SIZE);
    m.setCommit(LOCK + 1);
    const before = m.checksum;
    m.setPage(LOCK, page(1));
    m.setSum(LOCK, 123n);
    assert.equal(m.checksum, before);
    assert.equal(m.pageSum(LOCK), 0n);
  });

  it('setSum refuses pages outside the database; setPage on a page past a shrink is refused too', () => {
    const m = new DatabaseModel(PAGE_SIZE);
    m.setCommit(5);
    assert.throws(() => m.setSum(0, 1n), RangeError);
    assert.throws(() => m.setSum(6, 1n), RangeError);
    assert.throws(() => m.setSum(1.5, 1n), RangeError);
    m.setPage(5, page(5));
    m.setCommit(4);
    assert.throws(() => m.setPage(5, page(5)), RangeError);
    assert.equal(m.checksum, CHECKSUM_FLAG, 'the page dropped by the shrink left the checksum');
  });

  it('a page dropped by a shrink is unset when the database grows again', () => {
    const m = new DatabaseModel(PAGE_SIZE);
    m.setCommit(3);
    for (let p = 1; p <= 3; p++) m.setPage(p, page(p));
    m.setCommit(1);
    m.setCommit(3);
    assert.deepEqual(m.unsetPages(), [2, 3]);
    assert.equal(m.checksum, CHECKSUM_FLAG | pageChecksum(1, page(1)));
  });

  it('a shrink from past the lock page to a few pages forgets everything above, and a regrowth starts unset', () => {
    const m = new DatabaseModel(PAGE_SIZE);
    m.setCommit(LOCK + 3);
    for (const p of [1, 2, LOCK - 1, LOCK, LOCK + 1, LOCK + 3]) m.setPage(p, page(p));
    m.setCommit(2);
    assert.equal(m.checksum, CHECKSUM_FLAG | (pageChecksum(1, page(1)) ^ pageChecksum(2, page(2))));
    m.setCommit(LOCK + 3);
    assert.equal(m.checksum, CHECKSUM_FLAG | (pageChecksum(1, page(1)) ^ pageChecksum(2, page(2))));
    for (const p of [LOCK - 1, LOCK + 1, LOCK + 3]) assert.equal(m.pageSum(p), 0n, `page ${p} was forgotten`);
    assert.deepEqual(m.unsetPages(3), [3, 4, 5]);
  });

  it('unsetPages lists the pages without content, skips the lock page and honours the limit', () => {
    const m = new DatabaseModel(PAGE_SIZE);
    m.setCommit(10);
    for (const p of [1, 3, 4, 9]) m.setPage(p, page(p));
    assert.deepEqual(m.unsetPages(), [2, 5, 6, 7, 8, 10]);
    assert.deepEqual(m.unsetPages(2), [2, 5]);
    assert.deepEqual(m.unsetPages(0), []);

    // Around the lock page: every page set but the lock page leaves nothing unset.
    const big = new DatabaseModel(PAGE_SIZE);
    big.setCommit(LOCK + 2);
    for (let p = 1; p <= LOCK + 2; p++) if (p !== LOCK) big.setSum(p, CHECKSUM_FLAG | BigInt(p));
    assert.deepEqual(big.unsetPages(), [], 'the lock page is never content a restore misses');
    big.setCommit(LOCK + 4);
    assert.deepEqual(big.unsetPages(), [LOCK + 3, LOCK + 4]);
  });

  it('clone is independent of the original in both directions', () => {
    const m = new DatabaseModel(PAGE_SIZE, 7n);
    m.setCommit(6);
    for (let p = 1; p <= 6; p++) m.setPage(p, page(p));
    const c = m.clone();
    assertSameModel(c, m, 'clone');
    const frozen = { commit: c.commit, checksum: c.checksum, sums: c.sums().slice(), txid: c.txid };

    m.setPage(2, page(200));
    m.setCommit(20);
    m.txid = 8n;
    assert.deepEqual({ commit: c.commit, checksum: c.checksum, sums: c.sums().slice(), txid: c.txid }, frozen, 'the original moved on; the clone did not');

    const mBefore = { commit: m.commit, checksum: m.checksum, sums: m.sums().slice() };
    c.setPage(3, page(300));
    c.setCommit(2);
    c.setCommit(4000); // grows past the clone's capacity (its commit at cloning time)
    assert.deepEqual({ commit: m.commit, checksum: m.checksum, sums: m.sums().slice() }, mBefore, 'the clone moved on; the original did not');
    assert.equal(c.checksum, CHECKSUM_FLAG | (pageChecksum(1, page(1)) ^ pageChecksum(2, page(2))), 'pages 1 and 2 as cloned; page 3 dropped by the shrink');
  });

  it('clone of an empty model works and grows', () => {
    const c = new DatabaseModel(PAGE_SIZE).clone();
    assert.equal(c.commit, 0);
    c.setCommit(3);
    c.setPage(3, page(3));
    assert.equal(c.checksum, CHECKSUM_FLAG | pageChecksum(3, page(3)));
  });

  it('property: fromSums(sums()) gives back the same model', () => {
    fc.assert(
      fc.property(lowOps, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (ops, txid) => {
        const model = new DatabaseModel(PAGE_SIZE, txid);
        const ref = new Reference();
        for (const op of ops) apply(model, ref, op);
        const sums = model.sums().slice();
        const back = DatabaseModel.fromSums(PAGE_SIZE, txid, sums);
        assertSameModel(back, model, 'fromSums');
        assert.equal(back.pageSize, PAGE_SIZE);
        assert.deepEqual(back.unsetPages(5), model.unsetPages(5));
      }),
      { numRuns: PROPERTY_RUNS / 2 },
    );
  });

  it('fromSums ignores a lock page entry and leaves the caller\'s array alone', () => {
    const sums = new BigUint64Array(LOCK + 1);
    for (let p = 1; p <= LOCK + 1; p++) sums[p - 1] = CHECKSUM_FLAG | BigInt(p * 3);
    const m = DatabaseModel.fromSums(PAGE_SIZE, 5n, sums);
    let x = CHECKSUM_FLAG;
    for (let p = 1; p <= LOCK + 1; p++) if (p !== LOCK) x ^= sums[p - 1]!;
    assert.equal(m.checksum, CHECKSUM_FLAG | x);
    assert.equal(m.pageSum(LOCK), 0n);
    assert.equal(sums[LOCK - 1], CHECKSUM_FLAG | BigInt(LOCK * 3), 'input not modified');
    assert.equal(m.commit, LOCK + 1);
    assert.equal(m.txid, 5n);
  });
});

describe('ModelChange', () => {
  /** A base database and a change to it: a new commit and pages within it that cover every page the growth adds. */
  const changeArb = fc
    .record({
      baseCommit: fc.integer({ min: 0, max: LOW_COMMIT_MAX }),
      commit: fc.integer({ min: 1, max: LOW_COMMIT_MAX }),
      baseSeed: fc.integer(),
      picks: fc.array(fc.record({ at: fc.nat(), seed: fc.integer() }), { maxLength: 30 }),
    })
    .map(({ baseCommit, commit, baseSeed, picks }) => {
      const base = new Map<number, Uint8Array>();
      for (let p = 1; p <= baseCommit; p++) base.set(p, page(baseSeed + p));
      const pages: [number, Uint8Array][] = picks.map(({ at, seed }) => [(at % commit) + 1, page(seed)]);
      for (let p = baseCommit + 1; p <= commit; p++) pages.push([p, page(baseSeed * 31 + p)]);
      return { base, baseCommit, commit, pages };
    });

  it('property: a delta applied to the base gives the model of applying the pages directly', () => {
    fc.assert(
      fc.property(changeArb, fc.bigInt({ min: 1n, max: 1n << 40n }), ({ base, baseCommit, commit, pages }, txid) => {
        const direct = modelOf(base, baseCommit, txid - 1n);
        direct.setCommit(commit);
        for (const [pgno, data] of pages) direct.setPage(pgno, data);
        direct.txid = txid;

        const baseModel = modelOf(base, baseCommit, txid - 1n);
        const change = new ModelChange(PAGE_SIZE, commit, false);
        for (const [pgno, data] of pages) change.add(pgno, data);
        assert.deepEqual(change.pages, pages.map(([p]) => p));
        assert.deepEqual(change.holesOver(baseModel), []);
        const after = change.applyTo(baseModel, txid);
        assert.equal(after, baseModel, 'a delta updates the base in place');
        assertSameModel(after, direct, 'delta');
        assert.deepEqual(after.unsetPages(), []);
      }),
      { numRuns: CHANGE_RUNS },
    );
  });

  it('property: a full image gives the model of its pages alone, whatever the base', () => {
    fc.assert(
      fc.property(changeArb, ({ base, baseCommit, commit }) => {
        const full = new Map<number, Uint8Array>();
        for (let p = 1; p <= commit; p++) full.set(p, page(p * 7 + commit));
        const expected = modelOf(full, commit, 9n);

        const baseModel = modelOf(base, baseCommit, 3n);
        const baseBefore = baseModel.clone();
        const change = new ModelChange(PAGE_SIZE, commit, true);
        for (const [pgno, data] of full) change.add(pgno, data);
        assert.deepEqual(change.pages, [], 'a full image keeps no list of pages');
        assert.deepEqual(change.holesOver(baseModel), []);
        const after = change.applyTo(baseModel, 9n);
        assertSameModel(after, expected, 'full');
        assert.notEqual(after, baseModel);
        assertSameModel(baseModel, baseBefore, 'the base is untouched by a full image');
        assertSameModel(new ModelChange(PAGE_SIZE, commit, true).applyTo(null, 9n).clone(), modelOf(new Map(), commit, 9n), 'an empty full image');
      }),
      { numRuns: CHANGE_RUNS / 2 },
    );
  });

  it('a full image and a delta carrying every page give the same model', () => {
    const commit = 17;
    const pages = Array.from({ length: commit }, (_, i) => [i + 1, page(1000 + i)] as const);
    const full = new ModelChange(PAGE_SIZE, commit, true);
    const delta = new ModelChange(PAGE_SIZE, commit, false);
    for (const [p, d] of pages) {
      full.add(p, d);
      delta.add(p, d);
    }
    const base = modelOf(new Map([[1, page(1)], [2, page(2)]]), 30, 1n);
    assertSameModel(delta.applyTo(base, 2n), full.applyTo(null, 2n), 'full vs delta');
  });

  it('a delta needs a base', () => {
    assert.throws(() => new ModelChange(PAGE_SIZE, 3, false).applyTo(null, 1n), /needs the model/);
  });

  it('holesOver lists the grown pages a delta does not carry, never the lock page', () => {
    const base = modelOf(new Map([[1, page(1)], [2, page(2)]]), 2);
    const change = new ModelChange(PAGE_SIZE, 7, false);
    change.add(1, page(10));
    change.add(4, page(4));
    change.add(6, page(6));
    assert.deepEqual(change.holesOver(base), [3, 5, 7]);

    const shrink = new ModelChange(PAGE_SIZE, 1, false);
    assert.deepEqual(shrink.holesOver(base), [], 'a shrink leaves no holes');
    const same = new ModelChange(PAGE_SIZE, 2, false);
    assert.deepEqual(same.holesOver(base), [], 'no growth, no holes');
    const full = new ModelChange(PAGE_SIZE, 9, true);
    assert.deepEqual(full.holesOver(base), [], 'a full image is never a delta with holes');

    // Growing across the lock page: it is not a hole, though no file ever carries it.
    const nearLock = new DatabaseModel(PAGE_SIZE);
    nearLock.setCommit(LOCK - 2);
    const across = new ModelChange(PAGE_SIZE, LOCK + 2, false);
    across.add(LOCK - 1, page(1));
    across.add(LOCK + 2, page(2));
    assert.deepEqual(across.holesOver(nearLock), [LOCK + 1]);
    across.add(LOCK + 1, page(3));
    assert.deepEqual(across.holesOver(nearLock), []);
    const grown = across.applyTo(nearLock, 1n);
    assert.equal(grown.pageSum(LOCK), 0n);
    assert.equal(grown.checksum, CHECKSUM_FLAG | (pageChecksum(LOCK - 1, page(1)) ^ pageChecksum(LOCK + 2, page(2)) ^ pageChecksum(LOCK + 1, page(3))));
  });
});
