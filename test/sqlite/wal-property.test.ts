import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { PrevFrameMismatchError } from '../../src/sqlite/wal-errors.js';
import { parseWalHeader, sameSalts, WAL_HEADER_SIZE } from '../../src/sqlite/wal-header.js';
import { WalFrameReader } from '../../src/sqlite/wal-reader.js';
import { walPageMap } from '../../src/sqlite/wal-page-map.js';
import { applyPageMaps, assertReplayMatchesSqlite, blob, openWalDb, pageMapOf, snapshotFiles, sqliteCheckpoint, withTempDir, type DbFiles } from './helpers.js';

type Op =
  | { kind: 'insert'; size: number }
  | { kind: 'update'; pick: number; size: number }
  | { kind: 'delete'; pick: number; count: number }
  | { kind: 'vacuum' }
  | { kind: 'checkpoint' }
  | { kind: 'rolled-back'; rows: number };

type Tail = { kind: 'none' } | { kind: 'cut'; at: number } | { kind: 'flip'; at: number; bit: number } | { kind: 'open-transaction'; rows: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('insert' as const), size: fc.integer({ min: 1, max: 9000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), size: fc.integer({ min: 1, max: 9000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat(), count: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'vacuum' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rolled-back' as const), rows: fc.integer({ min: 5, max: 40 }) }) },
);

/** Where in the WAL to damage it, as a fraction; unbiased so cuts land all over rather than mostly at the ends. */
const position = fc.noBias(fc.integer({ min: 0, max: 1_000_000 })).map((n) => n / 1_000_000);

const tail: fc.Arbitrary<Tail> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('cut' as const), at: position }),
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('open-transaction' as const), rows: fc.integer({ min: 10, max: 40 }) }),
);

const scenario = fc.record({
  pageSize: fc.constantFrom(512, 1024, 4096),
  transactions: fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 }),
  midpoint: fc.double({ min: 0, max: 1, noNaN: true }),
  tail,
});

describe('WAL page map property', () => {
  it('random transaction sequences: replaying the page map equals SQLite’s own recovery and checkpoint', async () => {
    let seed = 0;
    await withTempDir(async (root) => {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const path = join(root, `run-${seed}.db`);
          seed++;
          const db = openWalDb(path, s.pageSize);
          try {
            db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
            const insert = db.prepare('INSERT INTO t(v) VALUES (?)');
            const update = db.prepare('UPDATE t SET v = ? WHERE id = (SELECT id FROM t ORDER BY id LIMIT 1 OFFSET ?)');
            const remove = db.prepare('DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY id LIMIT ? OFFSET ?)');
            const count = (): number => (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
            let n = 0;
            const spill = (rows: number): void => {
              db.pragma('cache_size = 4');
              db.exec('BEGIN');
              for (let i = 0; i < rows; i++) insert.run(blob(n++, 700));
            };

            const mid = Math.floor(s.midpoint * s.transactions.length);
            let early: { files: DbFiles; map: Awaited<ReturnType<typeof pageMapOf>> } | undefined;
            for (let t = 0; t < s.transactions.length; t++) {
              if (t === mid) {
                const files = await snapshotFiles(path);
                early = { files, map: await pageMapOf(root, files.wal) };
              }
              for (const o of s.transactions[t]!) {
                if (o.kind === 'vacuum') db.exec('VACUUM');
                else if (o.kind === 'checkpoint') db.pragma('wal_checkpoint(PASSIVE)');
                else if (o.kind === 'rolled-back') {
                  spill(o.rows);
                  db.exec('ROLLBACK');
                  db.pragma('cache_size = 2000');
                }
              }
              db.transaction(() => {
                for (const o of s.transactions[t]!) {
                  const rows = count();
                  if (o.kind === 'insert') insert.run(blob(n++, o.size));
                  else if (o.kind === 'update' && rows > 0) update.run(blob(n++, o.size), o.pick % rows);
                  else if (o.kind === 'delete' && rows > 0) remove.run(o.count, o.pick % rows);
                }
              })();
            }
            if (s.tail.kind === 'open-transaction') spill(s.tail.rows);
            const files = await snapshotFiles(path);
            if (s.tail.kind === 'open-transaction') db.exec('ROLLBACK');

            let wal = files.wal;
            if (s.tail.kind === 'cut') wal = wal.subarray(0, WAL_HEADER_SIZE + Math.floor(s.tail.at * (wal.length - WAL_HEADER_SIZE)));
            if (s.tail.kind === 'flip') {
              wal = Buffer.from(wal);
              const at = WAL_HEADER_SIZE + Math.floor(s.tail.at * (wal.length - WAL_HEADER_SIZE - 1));
              wal[at]! ^= 1 << s.tail.bit;
            }
            const mutated: DbFiles = { db: files.db, wal };
            const map = await pageMapOf(root, wal);
            await assertReplayMatchesSqlite(root, mutated, map, JSON.stringify(s.tail));

            // Resuming where the midpoint read ended: possible only within the same WAL generation.
            if (early !== undefined && s.tail.kind === 'none') {
              const walPath = join(root, `resume-${seed}`);
              await writeFile(walPath, wal);
              const fh = await open(walPath, 'r');
              try {
                const sameGeneration = sameSalts(parseWalHeader(wal), early.map);
                const { maxOffset, salt1, salt2 } = early.map;
                if (!sameGeneration) {
                  await assert.rejects(WalFrameReader.withOffset(fh, maxOffset, salt1, salt2), PrevFrameMismatchError);
                } else {
                  const rest = await walPageMap(await WalFrameReader.withOffset(fh, maxOffset, salt1, salt2));
                  assert.equal(rest.maxOffset, map.maxOffset);
                  assert.deepEqual(rest.checksum, map.checksum);
                  const replayed = await applyPageMaps(root, files.db, [
                    { wal, map: early.map },
                    { wal, map: rest },
                  ]);
                  assert.ok(replayed.equals(await sqliteCheckpoint(root, mutated)), 'two-step replay equals SQLite');
                }
              } finally {
                await fh.close();
              }
            }
          } finally {
            db.close();
          }
        }),
        { numRuns: 100 },
      );
    });
  });
});
