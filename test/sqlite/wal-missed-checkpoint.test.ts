import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectMissedCheckpoint } from '../../src/sqlite/wal-missed-checkpoint.js';
import { WalFormatError } from '../../src/sqlite/wal-errors.js';
import { parseWalHeader, walFrameSize, type WalSalts } from '../../src/sqlite/wal-header.js';
import { blob, buildWal, framesOf, openWalDb, snapshotFiles, withTempDir } from './helpers.js';

const PAGE = 512;
const CURRENT: [number, number] = [10, 11];
const PREVIOUS: [number, number] = [20, 21];
const OTHER: [number, number] = [30, 31];
const ANOTHER: [number, number] = [40, 41];

/** A WAL whose header carries CURRENT and whose frames carry the given salts in order. */
function walWithSalts(salts: [number, number][]): Uint8Array {
  return buildWal({
    pageSize: PAGE,
    salt1: CURRENT[0],
    salt2: CURRENT[1],
    frames: salts.map((s, i) => ({ pgno: i + 1, commit: i + 1, data: new Uint8Array(PAGE), salts: s })),
  });
}

const asSalts = ([salt1, salt2]: [number, number]): WalSalts => ({ salt1, salt2 });

describe('detectMissedCheckpoint', () => {
  const cases: { name: string; frames: [number, number][]; detected: boolean; unknown: [number, number][]; scanned: number; cut?: number }[] = [
    { name: 'current frames then the previous generation', frames: [CURRENT, CURRENT, PREVIOUS, PREVIOUS], detected: false, unknown: [], scanned: 3 },
    { name: 'only current frames', frames: [CURRENT, CURRENT], detected: false, unknown: [], scanned: 2 },
    { name: 'no frames', frames: [], detected: false, unknown: [], scanned: 0 },
    { name: 'an unknown generation between current and previous', frames: [CURRENT, OTHER, OTHER, PREVIOUS], detected: true, unknown: [OTHER], scanned: 4 },
    { name: 'two unknown generations and no previous', frames: [CURRENT, OTHER, ANOTHER, OTHER], detected: true, unknown: [OTHER, ANOTHER], scanned: 4 },
    { name: 'unknown salts after the previous generation (not looked at)', frames: [CURRENT, PREVIOUS, OTHER], detected: false, unknown: [], scanned: 2 },
    { name: 'a torn last frame whose header is whole', frames: [CURRENT, OTHER], detected: true, unknown: [OTHER], scanned: 2, cut: 30 },
    { name: 'a torn last frame whose header is not', frames: [CURRENT, OTHER], detected: false, unknown: [], scanned: 1, cut: 20 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await withTempDir(async (dir) => {
        let wal = walWithSalts(c.frames);
        if (c.cut !== undefined) wal = wal.subarray(0, wal.length - walFrameSize(PAGE) + c.cut);
        const path = join(dir, 'w');
        await writeFile(path, wal);
        for (const chunkBytes of [1, 3 * walFrameSize(PAGE), undefined]) {
          const scan = await detectMissedCheckpoint(path, asSalts(PREVIOUS), { chunkBytes });
          assert.equal(scan.detected, c.detected);
          assert.deepEqual(scan.unknownSalts, c.unknown.map(asSalts));
          assert.equal(scan.framesScanned, c.scanned);
        }
      });
    });
  }

  it('propagates an unreadable header as WalFormatError', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'w');
      await writeFile(path, new Uint8Array(10));
      await assert.rejects(detectMissedCheckpoint(path, asSalts(PREVIOUS)), WalFormatError);
    });
  });

  it('on a real WAL restarted twice, sees the generation skipped between the previous and the current one', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'main.db');
      const db = openWalDb(path, 1024);
      try {
        db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
        const insert = db.prepare('INSERT INTO t(v) VALUES (?)');
        const generation = (rows: number, seed: number): void => {
          db.transaction(() => {
            for (let i = 0; i < rows; i++) insert.run(blob(seed + i, 900));
          })();
        };
        generation(40, 0);
        const gen1 = parseWalHeader((await snapshotFiles(path)).wal);
        db.pragma('wal_checkpoint(PASSIVE)');
        generation(15, 100);
        const gen2 = parseWalHeader((await snapshotFiles(path)).wal);
        db.pragma('wal_checkpoint(PASSIVE)');
        generation(2, 200);
        const files = await snapshotFiles(path);
        const gen3 = parseWalHeader(files.wal);
        assert.ok(gen1.salt1 !== gen2.salt1 && gen2.salt1 !== gen3.salt1);
        assert.ok((await framesOf(dir, files.wal)).length > 0);

        const walPath = `${path}-wal`;
        // Read up to gen2 before this restart: the only other salts on the way are gen2's own frames.
        assert.equal((await detectMissedCheckpoint(walPath, gen2)).detected, false);
        // Last read gen1: gen2 came and went unseen, and its frames are still there to tell.
        const missed = await detectMissedCheckpoint(walPath, gen1);
        assert.equal(missed.detected, true);
        assert.deepEqual(missed.unknownSalts, [{ salt1: gen2.salt1, salt2: gen2.salt2 }]);
      } finally {
        db.close();
      }
    });
  });
});
