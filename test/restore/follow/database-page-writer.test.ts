// The follower's page writer against real SQLite: an apply cut short leaves a
// rollback journal that SQLite itself plays back to the exact bytes from
// before, and a complete apply is a valid database that readers see whole.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { DatabasePageWriter } from '../../../src/restore/follow/database-page-writer.js';
import { encodeJournalHeader, journalChecksum } from '../../../src/restore/follow/rollback-journal.js';
import { makeTempDir } from '../replica-fixtures.js';

const PAGE_SIZE = 4096;

/** A rollback-journal database with `rows` rows of `width` bytes each. */
function makeDb(path: string, rows: number, width = 300): void {
  const db = new Database(path);
  db.pragma(`page_size = ${PAGE_SIZE}`);
  db.pragma('journal_mode = DELETE');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`${i}:${'x'.repeat(width)}`);
  })();
  db.close();
}

function pagesOf(path: string): Map<number, Uint8Array> {
  const bytes = readFileSync(path);
  const pages = new Map<number, Uint8Array>();
  for (let i = 0; i * PAGE_SIZE < bytes.length; i++) pages.set(i + 1, new Uint8Array(bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)));
  return pages;
}

function rows(path: string): unknown[] {
  const db = new Database(path);
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return db.prepare('SELECT * FROM t ORDER BY id').all();
  } finally {
    db.close();
  }
}

describe('DatabasePageWriter', () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let n = 0;
  const fresh = (): string => join(dir, `db-${n++}`);
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('page-writer'));
  });
  after(() => cleanup());

  it('encodes the journal header and checksums as SQLite lays them out', () => {
    const h = encodeJournalHeader({ records: 3, nonce: 0xdeadbeef, pageCount: 10, pageSize: 4096 });
    assert.equal(h.length, 512);
    assert.equal(Buffer.from(h.subarray(0, 8)).toString('hex'), 'd9d505f920a163d7');
    assert.equal(Buffer.from(h.subarray(8, 28)).toString('hex'), '00000003' + 'deadbeef' + '0000000a' + '00000200' + '00001000');
    const page = new Uint8Array(1024);
    // Bytes 824, 624, 424, 224, 24 count; nothing else does.
    for (const i of [824, 624, 424, 224, 24]) page[i] = 1;
    page[0] = 99;
    page[1023] = 99;
    assert.equal(journalChecksum(10, page), 15);
    assert.equal(journalChecksum(0xffffffff, page), 4);
  });

  it('applies another database state whole: growing, then shrinking', async () => {
    const target = fresh();
    const bigger = fresh();
    const smaller = fresh();
    makeDb(target, 50);
    makeDb(bigger, 400);
    makeDb(smaller, 5);
    const w = await DatabasePageWriter.open(target);
    try {
      await w.apply({ pageSize: PAGE_SIZE, commit: statSync(bigger).size / PAGE_SIZE, pages: pagesOf(bigger) });
      assert.deepEqual(rows(target), rows(bigger));
      await w.apply({ pageSize: PAGE_SIZE, commit: statSync(smaller).size / PAGE_SIZE, pages: pagesOf(smaller) });
      assert.deepEqual(rows(target), rows(smaller));
      assert.equal(statSync(target).size, statSync(smaller).size);
      assert.equal(existsSync(target + '-journal'), false);
    } finally {
      await w.close();
    }
  });

  it('an apply cut short at any page is played back by SQLite to the exact bytes from before', async () => {
    const base = fresh();
    makeDb(base, 120);
    const baseBytes = readFileSync(base);
    const basePages = baseBytes.length / PAGE_SIZE;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: basePages + 8 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: basePages + 8 }),
        fc.nat({ max: 30 }),
        fc.integer(),
        async (pgnos, commit, failAfter, seed) => {
          const path = fresh();
          copyFileSync(base, path);
          const pages = new Map<number, Uint8Array>();
          for (const p of pgnos) pages.set(p, new Uint8Array(PAGE_SIZE).fill((seed + p) & 0xff));
          // Page 1 is always written (its header changes); pages past the commit size are not.
          const writes = new Set([1, ...pgnos].filter((p) => p <= commit)).size;
          const w = await DatabasePageWriter.open(path);
          try {
            await assert.rejects(w.apply({ pageSize: PAGE_SIZE, commit, pages }, { failAfterPages: failAfter % writes }), /stopped after/);
          } finally {
            await w.close();
          }
          assert.ok(existsSync(path + '-journal'), 'the journal is left hot');
          // Any connection that reads finds the hot journal and rolls it back.
          assert.equal(rows(path).length, 120);
          assert.ok(readFileSync(path).equals(baseBytes), 'bytes as before');
          assert.equal(existsSync(path + '-journal'), false);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('waits for a reader to finish its transaction; the reader never sees the change half made', async () => {
    const target = fresh();
    const next = fresh();
    makeDb(target, 50);
    makeDb(next, 300);
    const reader = new Database(target);
    reader.exec('BEGIN');
    const before = reader.prepare('SELECT count(*) AS n FROM t').get() as { n: number };
    const w = await DatabasePageWriter.open(target);
    try {
      let done = false;
      const applying = w.apply({ pageSize: PAGE_SIZE, commit: statSync(next).size / PAGE_SIZE, pages: pagesOf(next) }).then(() => (done = true));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(done, false, 'the apply waits while the read transaction is open');
      assert.deepEqual(reader.prepare('SELECT count(*) AS n FROM t').get(), before);
      reader.exec('COMMIT');
      await applying;
      assert.deepEqual(reader.prepare('SELECT count(*) AS n FROM t').get(), { n: 300 });
      assert.equal(reader.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      reader.close();
      await w.close();
    }
  });
});
