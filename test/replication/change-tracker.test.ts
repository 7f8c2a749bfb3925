// ChangeTracker against real SQLite writers: reading the frames (track) and
// reading the WAL index (trackFromIndex) record the same pending pages,
// database size and position for the same transactions; walRange() names the
// WAL stretch since the last published file; rebase() starts over from the
// current generation after a restart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { sameSalts, walFrameSize, WAL_HEADER_SIZE } from '../../src/sqlite/wal-header.js';
import { ChangeTracker } from '../../src/replication/change-tracker.js';
import { WalChangedError } from '../../src/replication/errors.js';
import { NO_WAL_POSITION, type WalPosition } from '../../src/replication/wal-follower.js';
import { committedFrameHeaders } from '../sqlite/helpers.js';
import { openAppDb, withTempDir } from './helpers.js';
import { withWalRig, type WalRig } from './wal-rig.js';

const PAGE_SIZE = 4096;
const FRAME = walFrameSize(PAGE_SIZE);
const ROW_BYTES = 700;
const OPS_PER_RUN = 14;
const EQUIVALENCE_RUNS = 20;
/** A cache this small spills an open transaction's pages into the WAL long before its commit. */
const SPILL_CACHE_PAGES = 5;
const SPILL_ROWS = 60;

type Rig = WalRig;

function withRig<T>(fn: (r: Rig) => Promise<T>): Promise<T> {
  return withWalRig(PAGE_SIZE, ROW_BYTES, fn);
}

/** The page numbers a generation's frames carry from `fromOffset` to its last commit, and their newest frames. */
function framesSince(wal: Uint8Array, fromOffset: number): Map<number, number> {
  const out = new Map<number, number>();
  committedFrameHeaders(wal, PAGE_SIZE, fromOffset).forEach((f, i) => out.set(f.pgno, fromOffset + i * FRAME));
  return out;
}

function sorted(set: Iterable<number>): number[] {
  return [...set].sort((a, b) => a - b);
}

function snapshot(t: ChangeTracker): unknown {
  return {
    pending: sorted(t.pending),
    pendingCommit: t.pendingCommit,
    commit: t.commit,
    pos: t.pos,
    lastIChange: t.lastIChange,
    framesRead: t.framesRead,
    hasPending: t.hasPending,
    view: { ...t.view(), pages: new Map([...t.view().pages].sort((a, b) => a[0] - b[0])) },
    walRange: t.walRange(),
  };
}

type Op = 'insert' | 'insert-many' | 'update' | 'delete' | 'multi' | 'empty' | 'restart' | 'truncate' | 'truncate-write' | 'vacuum' | 'publish' | 'none';
const OPS: Op[] = ['insert', 'insert-many', 'update', 'delete', 'multi', 'empty', 'restart', 'truncate', 'truncate-write', 'vacuum', 'publish', 'none'];

function runOp(r: Rig, op: Op): void {
  switch (op) {
    case 'insert':
      r.insert(1);
      break;
    case 'insert-many':
      r.insert(25);
      break;
    case 'update':
      r.db.exec('UPDATE t SET v = randomblob(30) WHERE id % 3 = 0');
      break;
    case 'delete':
      r.db.exec('DELETE FROM t WHERE id % 4 = 1');
      break;
    case 'multi':
      r.db.transaction(() => {
        r.insert(3);
        r.db.exec('DELETE FROM t WHERE id % 7 = 2');
      })();
      break;
    case 'empty':
      r.db.exec('BEGIN IMMEDIATE; COMMIT');
      break;
    case 'restart':
      // Everything was read before: a PASSIVE checkpoint copies it all, and the write restarts the WAL.
      r.db.pragma('wal_checkpoint(PASSIVE)');
      r.insert(1);
      break;
    case 'truncate':
      // An empty WAL with new salts in the index, and no WAL header at all.
      r.db.pragma('wal_checkpoint(TRUNCATE)');
      break;
    case 'truncate-write':
      r.db.pragma('wal_checkpoint(TRUNCATE)');
      r.insert(2);
      break;
    case 'vacuum':
      // Shrinks the database: the WAL then holds pages past the new size.
      r.db.exec('DELETE FROM t WHERE id % 2 = 0');
      r.db.exec('VACUUM');
      break;
    case 'publish':
    case 'none':
      break;
  }
}

describe('ChangeTracker', () => {
  it('property: track (frames) and trackFromIndex (the WAL index) record the same changes for the same transactions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...OPS), { minLength: 1, maxLength: OPS_PER_RUN }), async (ops) => {
        await withRig(async (r) => {
          const frames = new ChangeTracker(r.walPath, PAGE_SIZE);
          const index = new ChangeTracker(r.walPath, PAGE_SIZE);
          // What was committed since the last publish, from the WAL bytes by hand.
          const expected = new Set<number>();
          let seenPos: WalPosition = NO_WAL_POSITION;
          const step = async (label: string): Promise<void> => {
            const h = await r.index();
            const wal = await r.wal();
            const from = seenPos.salts !== null && sameSalts(seenPos.salts, h) ? seenPos.offset : WAL_HEADER_SIZE;
            for (const pgno of framesSince(wal, from).keys()) expected.add(pgno);
            assert.equal(await frames.track(h), null, `${label}: track`);
            assert.equal(await index.trackFromIndex(h, r.reader), null, `${label}: trackFromIndex`);
            assert.deepEqual(snapshot(index), snapshot(frames), `${label}: the two trackers agree`);
            assert.deepEqual(sorted(frames.pending), sorted(expected), `${label}: pending is what was committed since the last publish`);
            if (frames.pendingCommit !== undefined) assert.equal(frames.pendingCommit, r.pageCount(), `${label}: the database size`);
            assert.equal(frames.pos.offset, WAL_HEADER_SIZE + h.mxFrame * FRAME, `${label}: read to the last committed frame`);
            seenPos = frames.pos;
          };
          await step('start');
          for (const [i, op] of ops.entries()) {
            runOp(r, op);
            if (op === 'publish') {
              frames.published();
              index.published();
              expected.clear();
            }
            await step(`${i}: ${op}`);
          }
        });
      }),
      { numRuns: EQUIVALENCE_RUNS },
    );
  });

  it('with a transaction in progress (frames spilled past the last commit) both ways see only committed frames, and agree after the commit', async () => {
    await withRig(async (r) => {
      const frames = new ChangeTracker(r.walPath, PAGE_SIZE);
      const index = new ChangeTracker(r.walPath, PAGE_SIZE);
      r.insert(5);
      const step = async (label: string): Promise<void> => {
        const h = await r.index();
        assert.equal(await frames.track(h), null, label);
        assert.equal(await index.trackFromIndex(h, r.reader), null, label);
        assert.deepEqual(snapshot(index), snapshot(frames), `${label}: the two trackers agree`);
      };
      await step('before');
      const committedEnd = frames.pos.offset;
      frames.published();
      index.published();
      r.db.pragma(`cache_size = ${SPILL_CACHE_PAGES}`);
      r.db.exec('BEGIN');
      try {
        for (let i = 0; i < SPILL_ROWS; i++) r.db.prepare('INSERT INTO t (v) VALUES (randomblob(?))').run(ROW_BYTES);
        assert.ok((await r.wal()).length > committedEnd + FRAME, 'frames were spilled past the last commit');
        await step('mid-transaction');
        assert.equal(frames.pos.offset, committedEnd, 'nothing uncommitted is read');
        assert.equal(frames.hasPending, false);
        r.db.exec('COMMIT');
      } finally {
        if (r.db.inTransaction) r.db.exec('ROLLBACK');
      }
      await step('after the commit');
      assert.deepEqual(sorted(frames.pending), sorted(framesSince(await r.wal(), committedEnd).keys()));
      assert.equal(frames.pendingCommit, r.pageCount());
    });
  });

  it('walRange names the WAL stretch since the last published file, from the header after a restart', async () => {
    await withRig(async (r) => {
      const t = new ChangeTracker(r.walPath, PAGE_SIZE);
      assert.deepEqual(t.walRange(), { walOffset: WAL_HEADER_SIZE, walSize: 0, salts: { salt1: 0, salt2: 0 } }, 'nothing read yet');
      assert.equal(await t.track(await r.index()), null);
      const salts = t.pos.salts!;
      assert.deepEqual(t.walRange(), { walOffset: WAL_HEADER_SIZE, walSize: t.pos.offset - WAL_HEADER_SIZE, salts });
      t.published();
      assert.equal(t.hasPending, false);
      assert.deepEqual(t.walRange(), { walOffset: t.pos.offset, walSize: 0, salts }, 'published: nothing new');

      const at = t.pos.offset;
      r.insert(3);
      r.insert(2);
      assert.equal(await t.track(await r.index()), null);
      assert.deepEqual(t.walRange(), { walOffset: at, walSize: t.pos.offset - at, salts });
      assert.ok(t.walRange().walSize > 0);
      r.insert(1);
      assert.equal(await t.track(await r.index()), null);
      assert.deepEqual(t.walRange(), { walOffset: at, walSize: t.pos.offset - at, salts }, 'unpublished reads add up');

      t.published();
      r.db.pragma('wal_checkpoint(PASSIVE)');
      r.insert(1);
      assert.equal(await t.track(await r.index()), null);
      assert.notDeepEqual(t.pos.salts, salts);
      assert.deepEqual(t.walRange(), { walOffset: WAL_HEADER_SIZE, walSize: t.pos.offset - WAL_HEADER_SIZE, salts: t.pos.salts! }, 'a new generation starts at its header');
    });
  });

  it('rebase after a restart starts over from the whole current generation', async () => {
    await withRig(async (r) => {
      const t = new ChangeTracker(r.walPath, PAGE_SIZE);
      r.insert(20);
      assert.equal(await t.track(await r.index()), null);
      assert.ok(t.hasPending);
      // Commits the tracker never reads, then a restart: only a rebase (and a comparison of the database) can follow.
      r.insert(2);
      r.db.pragma('wal_checkpoint(PASSIVE)');
      r.insert(1);
      r.db.exec('UPDATE t SET v = randomblob(9) WHERE id < 3');
      const h = await r.index();
      let sizeAsked = false;
      await t.rebase(h, async () => {
        sizeAsked = true;
        return -1;
      });
      assert.equal(sizeAsked, false, 'the WAL holds commits: the database size comes from them');
      const wal = await r.wal();
      assert.equal(t.pending.size, 0);
      assert.equal(t.pendingCommit, undefined);
      assert.equal(t.hasPending, false);
      assert.equal(t.commit, r.pageCount());
      assert.deepEqual(t.pos.salts, { salt1: h.salt1, salt2: h.salt2 });
      assert.equal(t.pos.offset, WAL_HEADER_SIZE + h.mxFrame * FRAME);
      assert.equal(t.lastIChange, h.iChange);
      assert.deepEqual(new Map([...t.view().pages].sort((a, b) => a[0] - b[0])), new Map([...framesSince(wal, WAL_HEADER_SIZE)].sort((a, b) => a[0] - b[0])), 'the generation\'s pages and newest frames');
      assert.deepEqual(t.walRange(), { walOffset: WAL_HEADER_SIZE, walSize: t.pos.offset - WAL_HEADER_SIZE, salts: t.pos.salts! }, 'a file published now stands for the whole generation');

      // Tracking goes on from there, counted.
      const from = t.pos.offset;
      r.insert(1);
      assert.equal(await t.track(await r.index()), null);
      assert.deepEqual(sorted(t.pending), sorted(framesSince(await r.wal(), from).keys()));
    });
  });

  it('rebase on an empty WAL (after TRUNCATE) takes the database size from the file', async () => {
    await withRig(async (r) => {
      const t = new ChangeTracker(r.walPath, PAGE_SIZE);
      r.insert(10);
      assert.equal(await t.track(await r.index()), null);
      r.db.pragma('wal_checkpoint(TRUNCATE)');
      await t.rebase(await r.index(), async () => 1234);
      assert.equal(t.commit, 1234);
      assert.deepEqual(t.pos, NO_WAL_POSITION);
      assert.equal(t.view().pages.size, 0);
      assert.equal(t.hasPending, false);
    });
  });

  it('rebase refuses an index that does not match the WAL', async () => {
    await withRig(async (r) => {
      r.insert(3);
      const t = new ChangeTracker(r.walPath, PAGE_SIZE);
      const h = await r.index();
      await assert.rejects(t.rebase({ ...h, mxFrame: h.mxFrame + 1 }, async () => 0), WalChangedError);
    });
  });

  it('a commit count that does not add up is reported by track, and nothing is recorded', async () => {
    await withRig(async (r) => {
      const t = new ChangeTracker(r.walPath, PAGE_SIZE);
      assert.equal(await t.track(await r.index()), null);
      t.published();
      r.insert(1);
      const before = snapshot(t);
      t.lastIChange = t.lastIChange! - 1;
      const reason = await t.track(await r.index());
      assert.match(reason ?? '', /2 transaction\(s\) were committed since the last read, 1 could be read/);
      t.lastIChange = t.lastIChange + 1;
      assert.deepEqual(snapshot(t), before, 'a failed read changes nothing');
    });
  });

  it('trackFromIndex reports an index that names fewer frames than were read, or frames the WAL does not hold', async () => {
    await withRig(async (r) => {
      const t = new ChangeTracker(r.walPath, PAGE_SIZE);
      r.insert(5);
      const h = await r.index();
      assert.equal(await t.trackFromIndex(h, r.reader), null);
      assert.match((await t.trackFromIndex({ ...h, mxFrame: h.mxFrame - 1 }, r.reader)) ?? '', /holds \d+ frames, fewer than the \d+ already read/);
      r.insert(1);
      const h2 = await r.index();
      assert.equal(await t.trackFromIndex({ ...h2, salt1: (h2.salt1 + 1) >>> 0 }, r.reader), 'the WAL does not hold the frames the WAL index names');
    });
  });

  it('track without an index: a deleted WAL is a lost pin', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'gone.db');
      const db = openAppDb(dbPath, PAGE_SIZE);
      const t = new ChangeTracker(`${dbPath}-wal`, PAGE_SIZE);
      try {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
        assert.equal(await t.track(null), null);
        assert.ok(t.pos.salts !== null);
      } finally {
        db.close(); // the last connection: the WAL is deleted
      }
      assert.match((await t.track(null)) ?? '', /the WAL was deleted while the database was pinned/);
    });
  });
});
