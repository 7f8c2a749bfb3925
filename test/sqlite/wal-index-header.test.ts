// WalIndexHeaderReader against real SQLite: the header it reads from the
// -shm file (commit counter, last committed frame, salts, backfill) agrees
// with what SQLite did and with the WAL file itself, and the page numbers it
// reads from the index blocks are those of the WAL's frame headers.
//
// A reader is opened only after a connection has opened the database (the
// -shm exists then), and closed only after every connection: closing any
// descriptor of the -shm drops the POSIX locks SQLite holds on it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { walFrameSize, WAL_HEADER_SIZE } from '../../src/sqlite/wal-header.js';
import { WalIndexHeaderReader, type WalIndexHeader } from '../../src/sqlite/wal-index-header.js';
import { committedFrameHeaders, openWalDb, withTempDir } from './helpers.js';

/** Small pages make a WAL of many frames cheap. */
const PAGE_SIZE = 512;
/** Frames in the first index block, and in each later one (SQLite's HASHTABLE_NPAGE(_ONE)). */
const FIRST_BLOCK_FRAMES = 4062;
const BLOCK_FRAMES = 4096;
const INDEX_BLOCK_BYTES = 32 * 1024;
/** Enough frames to reach the third index block. */
const MANY_FRAMES = FIRST_BLOCK_FRAMES + BLOCK_FRAMES + 500;
/** Rows per transaction in the many-frame WAL: several commits, each a few thousand frames. */
const ROWS_PER_TX = 2500;
/** A 400-byte blob fills most of a 512-byte page: about one frame per row. */
const ROW_BYTES = 400;
const RANGE_RUNS = 300;

interface Rig {
  path: string;
  db: Database.Database;
  reader: WalIndexHeaderReader;
  /** The header, read both ways and checked to agree. */
  header(): Promise<WalIndexHeader>;
  wal(): Promise<Buffer>;
}

/** A WAL database with a table, and a reader opened after the connection; closes both in the safe order. */
async function withRig<T>(pageSize: number, fn: (r: Rig) => Promise<T>): Promise<T> {
  return withTempDir(async (dir) => {
    const path = join(dir, 'a.db');
    const db = openWalDb(path, pageSize);
    let reader: WalIndexHeaderReader | null = null;
    try {
      db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
      reader = await WalIndexHeaderReader.open(`${path}-shm`);
      assert.ok(reader !== null, 'the -shm exists once a connection has opened the database');
      const r = reader;
      return await fn({
        path,
        db,
        reader: r,
        async header() {
          const h = await r.read();
          assert.ok(h !== null, 'a consistent header');
          assert.deepEqual(r.readSync(), h, 'readSync agrees with read');
          return h;
        },
        wal: () => readFile(`${path}-wal`),
      });
    } finally {
      db.close();
      await reader?.close();
    }
  });
}

/** The index header agrees with the WAL file: salts, committed frames, database size. */
async function assertMatchesWal(r: Rig, h: WalIndexHeader, pageSize: number): Promise<void> {
  const wal = await r.wal();
  assert.equal(h.salt1, wal.readUInt32BE(16), 'salt-1 as in the WAL header');
  assert.equal(h.salt2, wal.readUInt32BE(20), 'salt-2 as in the WAL header');
  const frames = committedFrameHeaders(wal, pageSize);
  assert.equal(h.mxFrame, frames.length, "mxFrame is the WAL's last committed frame");
  assert.equal(h.nPage, frames[frames.length - 1]!.commit, 'nPage is the last commit frame\'s database size');
  assert.equal(h.nPage, r.db.pragma('page_count', { simple: true }));
}

function insertRows(db: Database.Database, n: number, bytes = ROW_BYTES): void {
  db.prepare(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) INSERT INTO t(v) SELECT randomblob(?) FROM c`).run(n, bytes);
}

describe('WalIndexHeaderReader', () => {
  it('iChange counts commits: one per transaction, however many statements; none for empty or rolled-back ones', async () => {
    await withRig(PAGE_SIZE, async (r) => {
      const ins = r.db.prepare('INSERT INTO t(v) VALUES (?)');
      let h = await r.header();
      await assertMatchesWal(r, h, PAGE_SIZE);
      const steps: [string, () => void, number][] = [
        ['one insert', () => ins.run(Buffer.alloc(10)), 1],
        ['a transaction of three statements', () => r.db.transaction(() => { ins.run(Buffer.alloc(10)); ins.run(Buffer.alloc(20)); r.db.exec('DELETE FROM t WHERE id = 1'); })(), 1],
        ['BEGIN; COMMIT', () => r.db.exec('BEGIN; COMMIT'), 0],
        ['BEGIN IMMEDIATE; COMMIT', () => r.db.exec('BEGIN IMMEDIATE; COMMIT'), 0],
        ['a read', () => r.db.prepare('SELECT count(*) FROM t').get(), 0],
        ['a rolled-back write', () => r.db.exec('BEGIN; INSERT INTO t(v) VALUES (1); ROLLBACK'), 0],
        ['an UPDATE that changes no row', () => r.db.exec('UPDATE t SET v = 1 WHERE id < 0'), 0],
        ['a transaction big enough to spill frames before its commit', () => insertRows(r.db, 3000), 1],
        ['two inserts, two transactions', () => { ins.run(Buffer.alloc(1)); ins.run(Buffer.alloc(2)); }, 2],
      ];
      for (const [what, run, commits] of steps) {
        const before = h;
        run();
        h = await r.header();
        assert.equal(h.iChange, (before.iChange + commits) >>> 0, `${what}: iChange`);
        if (commits === 0) assert.deepEqual(h, before, `${what}: nothing in the header changes`);
        else await assertMatchesWal(r, h, PAGE_SIZE);
      }
    });
  });

  it('salts follow a restart (PASSIVE checkpoint, then a write), and nBackfill the checkpoints', async () => {
    await withRig(PAGE_SIZE, async (r) => {
      insertRows(r.db, 50);
      const h1 = await r.header();
      await assertMatchesWal(r, h1, PAGE_SIZE);
      assert.equal(h1.nBackfill, 0);

      const [cp] = r.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      const h2 = await r.header();
      assert.equal(cp!.log, h2.mxFrame);
      assert.equal(h2.nBackfill, cp!.checkpointed, 'nBackfill is what the checkpoint copied');
      assert.equal(h2.nBackfill, h2.mxFrame, 'no reader held it back: everything was copied');
      assert.equal(h2.iChange, h1.iChange, 'a checkpoint is not a commit');
      assert.deepEqual([h2.salt1, h2.salt2], [h1.salt1, h1.salt2], 'no restart before the next write');

      r.db.prepare('INSERT INTO t(v) VALUES (1)').run();
      const h3 = await r.header();
      assert.notDeepEqual([h3.salt1, h3.salt2], [h1.salt1, h1.salt2], 'the write restarted the WAL: new salts');
      assert.equal(h3.iChange, h1.iChange + 1, 'a restart is not a commit; the write is');
      assert.equal(h3.nBackfill, 0);
      assert.ok(h3.mxFrame < h1.mxFrame);
      await assertMatchesWal(r, h3, PAGE_SIZE);
    });
  });

  it('a checkpoint held back by a reader backfills only up to the reader, and nBackfill says how far', async () => {
    await withRig(PAGE_SIZE, async (r) => {
      insertRows(r.db, 20);
      const other = new Database(r.path);
      try {
        other.exec('BEGIN');
        other.prepare('SELECT count(*) FROM t').get(); // the read transaction starts here, at the current mxFrame
        const held = await r.header();
        insertRows(r.db, 20);
        const [cp] = r.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
        const h = await r.header();
        assert.equal(h.nBackfill, cp!.checkpointed);
        assert.equal(h.nBackfill, held.mxFrame, 'copied up to the reader\'s snapshot, not past it');
        assert.ok(h.nBackfill < h.mxFrame);
        other.exec('COMMIT');
        r.db.pragma('wal_checkpoint(PASSIVE)');
        assert.equal((await r.header()).nBackfill, h.mxFrame, 'the reader gone, the rest is copied');
      } finally {
        other.close();
      }
    });
  });

  it('after TRUNCATE the index has no frames and new salts; the next write starts a WAL with those salts', async () => {
    await withRig(PAGE_SIZE, async (r) => {
      insertRows(r.db, 30);
      const h1 = await r.header();
      r.db.pragma('wal_checkpoint(TRUNCATE)');
      assert.equal((await stat(`${r.path}-wal`)).size, 0);
      const h2 = await r.header();
      assert.equal(h2.mxFrame, 0);
      assert.equal(h2.nBackfill, 0);
      assert.equal(h2.iChange, h1.iChange);
      assert.notDeepEqual([h2.salt1, h2.salt2], [h1.salt1, h1.salt2]);
      r.db.prepare('INSERT INTO t(v) VALUES (1)').run();
      const h3 = await r.header();
      assert.deepEqual([h3.salt1, h3.salt2], [h2.salt1, h2.salt2], 'the new WAL header carries the salts the index already had');
      assert.equal(h3.iChange, h1.iChange + 1);
      await assertMatchesWal(r, h3, PAGE_SIZE);
    });
  });

  it(`pageNumbers gives the frame headers' page numbers across three index blocks (${MANY_FRAMES}+ frames)`, async () => {
    await withRig(PAGE_SIZE, async (r) => {
      let h = await r.header();
      while (h.mxFrame < MANY_FRAMES) {
        insertRows(r.db, ROWS_PER_TX);
        // Updates rewrite pages already in the WAL: page numbers repeat across commits.
        r.db.exec('UPDATE t SET v = randomblob(10) WHERE id % 97 = 0');
        h = await r.header();
      }
      await assertMatchesWal(r, h, PAGE_SIZE);
      const expected = Uint32Array.from(committedFrameHeaders(await r.wal(), PAGE_SIZE), (f) => f.pgno);
      assert.ok(expected.length > FIRST_BLOCK_FRAMES + BLOCK_FRAMES, 'the WAL reaches the third index block');
      assert.deepEqual(await r.reader.pageNumbers(1, h.mxFrame), expected, 'every frame');

      const last = h.mxFrame;
      const b1 = FIRST_BLOCK_FRAMES;
      const b2 = FIRST_BLOCK_FRAMES + BLOCK_FRAMES;
      const edges: [number, number][] = [[1, 1], [b1, b1], [b1, b1 + 1], [b1 + 1, b1 + 1], [b2, b2 + 1], [b1 - 3, b2 + 3], [last, last], [1, last]];
      for (const [first, end] of edges) {
        assert.deepEqual(await r.reader.pageNumbers(first, end), expected.subarray(first - 1, end), `frames ${first}..${end}`);
      }
      assert.equal((await r.reader.pageNumbers(10, 9)).length, 0, 'an empty range');

      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: last }), fc.integer({ min: 1, max: last }), async (a, b) => {
          const [first, end] = a <= b ? [a, b] : [b, a];
          assert.deepEqual(await r.reader.pageNumbers(first, end), expected.subarray(first - 1, end));
        }),
        { numRuns: RANGE_RUNS },
      );

      // The -shm holds three index blocks; a frame past them is not there to be read.
      assert.equal((await stat(`${r.path}-shm`)).size, 3 * INDEX_BLOCK_BYTES);
      const past = b2 + BLOCK_FRAMES + 1;
      await assert.rejects(r.reader.pageNumbers(past, past), /the WAL index ends before frame/);
    });
  });

  it('pageNumbers after a restart gives the new generation\'s frames', async () => {
    await withRig(PAGE_SIZE, async (r) => {
      insertRows(r.db, 200);
      r.db.pragma('wal_checkpoint(PASSIVE)');
      r.db.exec('UPDATE t SET v = randomblob(5) WHERE id % 10 = 0');
      const h = await r.header();
      await assertMatchesWal(r, h, PAGE_SIZE);
      const expected = Uint32Array.from(committedFrameHeaders(await r.wal(), PAGE_SIZE), (f) => f.pgno);
      assert.deepEqual(await r.reader.pageNumbers(1, h.mxFrame), expected);
    });
  });

  it('page sizes other than 512 read the same way (szPage is not in the way)', async () => {
    for (const pageSize of [4096, 65536]) {
      await withRig(pageSize, async (r) => {
        insertRows(r.db, 40, 3000);
        const h = await r.header();
        await assertMatchesWal(r, h, pageSize);
        const wal = await r.wal();
        assert.equal(wal.length, WAL_HEADER_SIZE + h.mxFrame * walFrameSize(pageSize));
        assert.deepEqual(await r.reader.pageNumbers(1, h.mxFrame), Uint32Array.from(committedFrameHeaders(wal, pageSize), (f) => f.pgno));
      });
    }
  });
});

describe('WalIndexHeaderReader with the WAL index in heap memory', () => {
  it('open gives null for a database in locking_mode=EXCLUSIVE (SQLite keeps no -shm)', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'x.db');
      const db = new Database(path);
      try {
        db.pragma('locking_mode = EXCLUSIVE');
        assert.equal(db.pragma('journal_mode = WAL', { simple: true }), 'wal');
        db.exec('CREATE TABLE t(x); INSERT INTO t VALUES (1)');
        assert.ok((await stat(`${path}-wal`)).size > WAL_HEADER_SIZE, 'the WAL is in use');
        assert.equal(await WalIndexHeaderReader.open(`${path}-shm`), null);
      } finally {
        db.close();
      }
    });
  });
});

describe('WalIndexHeaderReader without SQLite', () => {
  it('open gives null when there is no -shm', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await WalIndexHeaderReader.open(join(dir, 'none.db-shm')), null);
    });
  });

  it('a header not built yet, a short file, or two copies that disagree read as null', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'fake-shm');
      const cases: [string, Uint8Array][] = [
        ['all zeros: isInit is 0', new Uint8Array(136)],
        ['shorter than both copies', new Uint8Array(50)],
      ];
      // Two copies that differ in one byte: a writer between them, forever.
      const torn = new Uint8Array(136);
      torn[12] = 1;
      torn[48 + 12] = 1;
      torn[8] = 5;
      cases.push(['copies that disagree', torn]);
      // Copies that agree, isInit set, but a checksum that does not match.
      const badSum = new Uint8Array(136);
      badSum[12] = 1;
      badSum[48 + 12] = 1;
      badSum[40] = 1;
      badSum[48 + 40] = 1;
      cases.push(['a wrong checksum', badSum]);
      for (const [what, bytes] of cases) {
        await writeFile(path, bytes);
        const reader = await WalIndexHeaderReader.open(path);
        assert.ok(reader !== null);
        try {
          assert.equal(await reader.read(), null, what);
          assert.equal(reader.readSync(), null, what);
        } finally {
          await reader.close();
        }
      }
    });
  });
});
