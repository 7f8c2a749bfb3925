// readWalChanges against real SQLite writers in this process: what it reads
// after a position is exactly what was committed since (page numbers, their
// newest frames, the commit count and database size), across restarts,
// truncations and a deleted WAL; and a count that does not add up against
// the WAL index's commit counter is reported, with the numbers.
//
// The WAL index reader is opened after the writer's connection and closed
// after it (closing a descriptor of the -shm drops SQLite's POSIX locks).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { walFrameSize, WAL_HEADER_SIZE } from '../../src/sqlite/wal-header.js';
import { WalIndexHeaderReader, type WalIndexHeader } from '../../src/sqlite/wal-index-header.js';
import type { WalPageMap } from '../../src/sqlite/wal-page-map.js';
import { NO_WAL_POSITION, readWalChanges, type WalChanges, type WalPosition, type WalRead } from '../../src/replication/wal-follower.js';
import { committedFrameHeaders } from '../sqlite/helpers.js';
import { openAppDb, withTempDir } from './helpers.js';
import { withWalRig, type WalRig } from './wal-rig.js';

const PAGE_SIZE = 4096;
const FRAME = walFrameSize(PAGE_SIZE);
const ROW_BYTES = 1000;
/** A cache this small spills an open transaction's pages into the WAL long before its commit. */
const SPILL_CACHE_PAGES = 5;
const SPILL_ROWS = 60;

/** What a stretch of one generation committed, parsed by hand from the WAL bytes. */
interface Expected {
  /** Page number → offset of its newest committed frame. */
  pages: Map<number, number>;
  commits: number;
  /** Database size after the last commit (0: none). */
  commit: number;
  /** End of the last commit frame. */
  end: number;
}

function expectedFrom(wal: Uint8Array, from: number): Expected {
  const frames = committedFrameHeaders(wal, PAGE_SIZE, from);
  const pages = new Map<number, number>();
  frames.forEach((f, i) => pages.set(f.pgno, from + i * FRAME));
  const commits = frames.filter((f) => f.commit !== 0).length;
  return { pages, commits, commit: frames.length === 0 ? 0 : frames[frames.length - 1]!.commit, end: from + frames.length * FRAME };
}

function assertMap(map: WalPageMap | null, want: Expected, label: string): void {
  assert.ok(map !== null, `${label}: a page map`);
  assert.deepEqual(new Map([...map.pages].sort((a, b) => a[0] - b[0])), new Map([...want.pages].sort((a, b) => a[0] - b[0])), `${label}: pages and their newest frames`);
  assert.equal(map.commits, want.commits, `${label}: commits`);
  if (want.commits > 0) {
    assert.equal(map.commit, want.commit, `${label}: database size`);
    assert.equal(map.maxOffset, want.end, `${label}: end of the last commit`);
  }
}

function changesOf(read: WalRead, label: string): WalChanges {
  assert.ok(read.ok, `${label}: ${read.ok ? '' : read.reason}`);
  return read.changes;
}

type Rig = WalRig;

function withRig<T>(fn: (r: Rig) => Promise<T>): Promise<T> {
  return withWalRig(PAGE_SIZE, ROW_BYTES, fn);
}

/** Reads everything from the start of the WAL: the position at its end and the commit count there. */
async function readAll(r: Rig): Promise<{ pos: WalPosition; iChange: number }> {
  const h = await r.index();
  const c = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, NO_WAL_POSITION, h, undefined), 'from the start');
  return { pos: c.next, iChange: h.iChange };
}

describe('readWalChanges', () => {
  it('reads one generation incrementally: the pages and commit counts of each batch of transactions', async () => {
    await withRig(async (r) => {
      const h0 = await r.index();
      const first = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, NO_WAL_POSITION, h0, undefined), 'first read');
      assert.equal(first.restarted, false, 'nothing read before: not a restart');
      assert.equal(first.deleted, false);
      assertMap(first.current, expectedFrom(await r.wal(), WAL_HEADER_SIZE), 'first read');
      assert.equal(first.next.offset, WAL_HEADER_SIZE + h0.mxFrame * FRAME);
      assert.deepEqual(first.next.salts, { salt1: h0.salt1, salt2: h0.salt2 });

      let pos = first.next;
      let lastIChange = h0.iChange;
      const batches: [string, () => void, number][] = [
        ['one transaction', () => r.insert(5), 1],
        ['three transactions', () => r.insert(2, 3), 3],
        ['nothing', () => undefined, 0],
        ['an empty transaction', () => r.db.exec('BEGIN IMMEDIATE; COMMIT'), 0],
        ['a multi-statement transaction', () => r.db.transaction(() => { r.insert(3); r.db.exec('UPDATE t SET v = randomblob(10) WHERE id % 2 = 0'); r.db.exec('DELETE FROM t WHERE id % 5 = 0'); })(), 1],
        ['an update touching pages already in the WAL', () => r.db.exec('UPDATE t SET v = randomblob(20) WHERE id < 4'), 1],
      ];
      for (const [what, run, commits] of batches) {
        run();
        const h = await r.index();
        const want = expectedFrom(await r.wal(), pos.offset);
        const c = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, pos, h, lastIChange), what);
        assert.equal(c.restarted, false, what);
        assert.equal(c.tail, null, what);
        assert.equal(c.commits, commits, `${what}: commits`);
        assertMap(c.current, want, what);
        if (commits > 0) {
          assert.equal(c.current!.commit, r.db.pragma('page_count', { simple: true }), `${what}: the database size`);
          assert.equal(c.next.offset, WAL_HEADER_SIZE + h.mxFrame * FRAME, `${what}: read to the index's last frame`);
        } else assert.deepEqual(c.next, pos, `${what}: the position stays`);
        pos = c.next;
        lastIChange = h.iChange;
      }
    });
  });

  it('after a restart (PASSIVE checkpoint, then a write) returns the old generation\'s unread tail and the new generation', async () => {
    await withRig(async (r) => {
      r.insert(30); // enough frames that the new generation's first frames do not reach the tail
      const { pos, iChange } = await readAll(r);
      r.insert(1, 2); // committed in the old generation, not read yet
      const oldWal = await r.wal();
      const tail = expectedFrom(oldWal, pos.offset);
      assert.equal(tail.commits, 2);
      r.db.pragma('wal_checkpoint(PASSIVE)');
      r.db.exec('UPDATE t SET v = randomblob(5) WHERE id = 1'); // restarts the WAL
      const h = await r.index();
      assert.notDeepEqual([h.salt1, h.salt2], [pos.salts!.salt1, pos.salts!.salt2], 'a new generation');
      const current = expectedFrom(await r.wal(), WAL_HEADER_SIZE);
      assert.ok(current.end <= pos.offset, 'the new generation did not overwrite the unread tail');

      const c = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, pos, h, iChange), 'after the restart');
      assert.equal(c.restarted, true);
      assert.equal(c.deleted, false);
      assertMap(c.tail, tail, 'tail');
      assertMap(c.current, current, 'current');
      assert.equal(c.commits, 3);
      assert.deepEqual(c.next.salts, { salt1: h.salt1, salt2: h.salt2 });
      assert.equal(c.next.offset, current.end);

      // And on from there, in the new generation.
      r.insert(1);
      const h2 = await r.index();
      const c2 = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, c.next, h2, h.iChange), 'after it');
      assert.equal(c2.restarted, false);
      assertMap(c2.current, expectedFrom(await r.wal(), c.next.offset), 'next');
    });
  });

  it('a restart whose first transaction is still being written: the old tail now, the new generation once it commits', async () => {
    await withRig(async (r) => {
      r.insert(40);
      const { pos, iChange } = await readAll(r);
      r.insert(1); // unread, in the old generation
      const tail = expectedFrom(await r.wal(), pos.offset);
      r.db.pragma('wal_checkpoint(PASSIVE)');
      // A small cache makes the open transaction spill frames into the new generation before its commit.
      r.db.pragma(`cache_size = ${SPILL_CACHE_PAGES}`);
      r.db.exec('BEGIN');
      try {
        for (let i = 0; i < SPILL_ROWS; i++) r.db.prepare('INSERT INTO t (v) VALUES (randomblob(?))').run(ROW_BYTES);
        const h = await r.index();
        assert.equal(h.mxFrame, 0, 'the index has restarted: new salts, nothing committed');
        const wal = await r.wal();
        assert.deepEqual([wal.readUInt32BE(16), wal.readUInt32BE(20)], [h.salt1, h.salt2], 'the new WAL header is written with the first spilled frame');
        assert.ok(wal.length > WAL_HEADER_SIZE + FRAME, 'frames were spilled');

        const c = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, pos, h, iChange), 'mid-transaction');
        assert.equal(c.restarted, true);
        assertMap(c.tail, tail, 'tail');
        assert.equal(c.current, null, 'nothing of the new generation is committed');
        assert.equal(c.commits, 1);
        assert.deepEqual(c.next.salts, { salt1: h.salt1, salt2: h.salt2 });
        assert.equal(c.next.offset, WAL_HEADER_SIZE);

        r.db.exec('COMMIT');
        const h2 = await r.index();
        const c2 = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, c.next, h2, h.iChange), 'after the commit');
        assert.equal(c2.restarted, false);
        assert.equal(c2.commits, 1);
        assertMap(c2.current, expectedFrom(await r.wal(), WAL_HEADER_SIZE), 'the new generation from its first frame');
      } finally {
        if (r.db.inTransaction) r.db.exec('ROLLBACK');
      }
    });
  });

  it('a restart that overwrote unread commits is reported with the numbers', async () => {
    await withRig(async (r) => {
      const { pos, iChange } = await readAll(r);
      r.insert(1, 2);
      r.db.pragma('wal_checkpoint(PASSIVE)');
      r.insert(20); // the new generation's frames cover the two unread commits
      const h = await r.index();
      const read = await readWalChanges(r.walPath, PAGE_SIZE, pos, h, iChange);
      assert.equal(read.ok, false, 'the two commits overwritten cannot be read');
      if (!read.ok) assert.match(read.reason, /^the WAL restarted: 3 transaction\(s\) were committed since the last read, 1 could be read$/);
    });
  });

  it('TRUNCATE: with everything read, the next read is the new generation; with no write yet, an empty one', async () => {
    await withRig(async (r) => {
      r.insert(10);
      const { pos, iChange } = await readAll(r);
      r.db.pragma('wal_checkpoint(TRUNCATE)');
      assert.equal((await stat(r.walPath)).size, 0);
      const h0 = await r.index();
      const empty = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, pos, h0, iChange), 'truncated, no write');
      assert.equal(empty.restarted, true);
      assert.equal(empty.deleted, false);
      assert.equal(empty.commits, 0);
      assert.equal(empty.current, null);
      assert.deepEqual(empty.next, NO_WAL_POSITION);

      r.insert(1);
      const h1 = await r.index();
      const fromOld = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, pos, h1, iChange), 'truncated, then a write, read from the old position');
      assert.equal(fromOld.restarted, true);
      assert.equal(fromOld.commits, 1);
      assertMap(fromOld.current, expectedFrom(await r.wal(), WAL_HEADER_SIZE), 'new generation');
      const fromEmpty = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, empty.next, h1, h0.iChange), 'read on from the empty WAL');
      assert.equal(fromEmpty.commits, 1);
      assert.deepEqual(fromEmpty.next, fromOld.next);
    });
  });

  it('TRUNCATE with unread commits is reported with the numbers', async () => {
    await withRig(async (r) => {
      const { pos, iChange } = await readAll(r);
      r.insert(1, 2);
      r.db.pragma('wal_checkpoint(TRUNCATE)');
      r.insert(1);
      const read = await readWalChanges(r.walPath, PAGE_SIZE, pos, await r.index(), iChange);
      assert.equal(read.ok, false);
      if (!read.ok) assert.match(read.reason, /^the WAL restarted: 3 transaction\(s\) were committed since the last read, 1 could be read$/);
    });
  });

  it('a commit count off by one is reported, naming both numbers', async () => {
    await withRig(async (r) => {
      const { pos, iChange } = await readAll(r);
      r.insert(1, 2);
      const h = await r.index();
      for (const [last, expected] of [[iChange - 1, 3], [iChange + 1, 1]] as const) {
        const read = await readWalChanges(r.walPath, PAGE_SIZE, pos, h, last);
        assert.equal(read.ok, false, `lastIChange ${last}`);
        if (!read.ok) assert.equal(read.reason, `the WAL changed: ${expected} transaction(s) were committed since the last read, 2 could be read`);
      }
      assert.ok((await readWalChanges(r.walPath, PAGE_SIZE, pos, h, iChange)).ok, 'the right count is fine');
      assert.ok((await readWalChanges(r.walPath, PAGE_SIZE, pos, h, undefined)).ok, 'nothing to count against: fine');
    });
  });

  it('the commit counter wraps at 2^32', async () => {
    await withRig(async (r) => {
      const { pos } = await readAll(r);
      r.insert(1);
      const h = await r.index();
      // Pretend the counter was at 2^32 - 1 and is now at 0: one commit.
      const wrapped = { ...h, iChange: 0 };
      const c = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, pos, wrapped, 0xffffffff), 'wrapped');
      assert.equal(c.commits, 1);
    });
  });

  it('a position past what the WAL holds is refused', async () => {
    await withRig(async (r) => {
      const { pos, iChange } = await readAll(r);
      const ahead: WalPosition = { ...pos, offset: pos.offset + 3 * FRAME };
      const read = await readWalChanges(r.walPath, PAGE_SIZE, ahead, await r.index(), iChange);
      assert.equal(read.ok, false);
      if (!read.ok) assert.match(read.reason, /holds less than the \d+ bytes already read/);
    });
  });

  it('without an index, reads every valid committed frame and counts nothing', async () => {
    await withRig(async (r) => {
      r.insert(3, 2);
      const c = changesOf(await readWalChanges(r.walPath, PAGE_SIZE, NO_WAL_POSITION, null, undefined), 'no index');
      assertMap(c.current, expectedFrom(await r.wal(), WAL_HEADER_SIZE), 'no index');
    });
  });

  it('a WAL deleted when the last connection closed: reported as deleted, counted against the index', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'gone.db');
      const walPath = `${dbPath}-wal`;
      let db = openAppDb(dbPath, PAGE_SIZE);
      let reader: WalIndexHeaderReader | null = null;
      let pos: WalPosition;
      let before: WalIndexHeader;
      let after: WalIndexHeader | null;
      try {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
        reader = await WalIndexHeaderReader.open(`${dbPath}-shm`);
        assert.ok(reader !== null);
        before = (await reader.read())!;
        pos = changesOf(await readWalChanges(walPath, PAGE_SIZE, NO_WAL_POSITION, before, undefined), 'before').next;
        db.prepare('INSERT INTO t (v) VALUES (randomblob(10))').run();
        db.prepare('INSERT INTO t (v) VALUES (randomblob(10))').run();
      } finally {
        db.close(); // the last connection: SQLite checkpoints and deletes the WAL (and the -shm)
      }
      try {
        // The reader's descriptor still names the -shm SQLite unlinked: its last header.
        after = await reader.read();
      } finally {
        await reader.close();
      }
      await assert.rejects(stat(walPath), { code: 'ENOENT' });
      assert.ok(after !== null);
      assert.equal(after.iChange, before.iChange + 2);

      const plain = changesOf(await readWalChanges(walPath, PAGE_SIZE, pos, null, undefined), 'deleted, no index');
      assert.equal(plain.deleted, true);
      assert.equal(plain.restarted, true, 'a generation had been read: it is gone');
      assert.equal(plain.commits, 0);
      assert.deepEqual(plain.next, NO_WAL_POSITION);
      const neverRead = changesOf(await readWalChanges(walPath, PAGE_SIZE, NO_WAL_POSITION, null, undefined), 'deleted, nothing read before');
      assert.equal(neverRead.restarted, false, 'no WAL before, none now');

      const counted = await readWalChanges(walPath, PAGE_SIZE, pos, after, before.iChange);
      assert.equal(counted.ok, false, 'two commits went with the WAL');
      if (!counted.ok) assert.equal(counted.reason, 'the WAL was deleted: 2 transaction(s) were committed since the last read, 0 could be read');
      assert.ok((await readWalChanges(walPath, PAGE_SIZE, pos, after, after.iChange)).ok, 'nothing unread: fine');

      // A new WAL, read from where the deleted one left the position.
      db = openAppDb(dbPath, PAGE_SIZE);
      try {
        db.prepare('INSERT INTO t (v) VALUES (randomblob(10))').run();
        const wal = await readFile(walPath);
        const c = changesOf(await readWalChanges(walPath, PAGE_SIZE, plain.next, null, undefined), 'the new WAL');
        assertMap(c.current, expectedFrom(wal, WAL_HEADER_SIZE), 'the new WAL');
        assert.equal(c.restarted, false);
      } finally {
        db.close();
      }
    });
  });
});
