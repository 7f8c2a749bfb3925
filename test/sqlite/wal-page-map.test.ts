import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PrevFrameMismatchError } from '../../src/sqlite/wal-errors.js';
import { parseWalHeader, walFrameSize, WAL_HEADER_SIZE } from '../../src/sqlite/wal-header.js';
import { WalFrameReader } from '../../src/sqlite/wal-reader.js';
import { walPageMap, type WalPageMap } from '../../src/sqlite/wal-page-map.js';
import {
  applyPageMaps,
  assertReplayMatchesSqlite,
  blob,
  flipChecksumOrder,
  framesOf,
  openWalDb,
  pageMapOf,
  runWorkload,
  snapshotFiles,
  sqliteCheckpoint,
  withTempDir,
  type DbFiles,
} from './helpers.js';

function comparable(map: WalPageMap): object {
  return { pages: [...map.pages].sort((a, b) => a[0] - b[0]), commit: map.commit, maxOffset: map.maxOffset, frames: map.frames };
}

/** Opens a WAL-mode database in `dir`, runs `fn` with it, and always closes it. */
async function withDb<T>(dir: string, pageSize: number, fn: (db: ReturnType<typeof openWalDb>, path: string) => Promise<T>): Promise<T> {
  const path = join(dir, 'main.db');
  const db = openWalDb(path, pageSize);
  try {
    return await fn(db, path);
  } finally {
    db.close();
  }
}

describe('WAL page map against SQLite', () => {
  for (const pageSize of [512, 4096, 65536]) {
    it(`${pageSize}-byte pages: every frame committed, last version of each page, replay equals SQLite's checkpoint`, async () => {
      await withTempDir(async (dir) => {
        await withDb(dir, pageSize, async (db, path) => {
          runWorkload(db, pageSize, 12, Math.min(3000, pageSize * 2));
          const files = await snapshotFiles(path);
          const header = parseWalHeader(files.wal);
          const map = await pageMapOf(dir, files.wal);
          const frames = await framesOf(dir, files.wal);
          const frameSize = walFrameSize(pageSize);

          assert.equal(header.pageSize, pageSize);
          assert.equal((files.wal.length - WAL_HEADER_SIZE) % frameSize, 0);
          assert.equal(frames.length, (files.wal.length - WAL_HEADER_SIZE) / frameSize, 'every frame in the file is valid');
          assert.equal(map.frames, frames.length, 'and committed');
          assert.equal(map.uncommittedFrames, 0);
          assert.equal(map.maxOffset, files.wal.length);
          assert.equal(map.endReason, 'end-of-file');
          assert.equal(map.commit, db.pragma('page_count', { simple: true }));
          assert.equal(map.salt1, header.salt1);
          assert.equal(map.salt2, header.salt2);
          const latest = new Map<number, number>();
          for (const f of frames) latest.set(f.pgno, f.offset);
          assert.deepEqual(map.pages, latest);

          await assertReplayMatchesSqlite(dir, files, map, `page size ${pageSize}`);
        });
      });
    });
  }

  it('ignores the tail of a transaction cut at a frame boundary', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 1024, async (db, path) => {
        runWorkload(db, 1, 6, 4000);
        const files = await snapshotFiles(path);
        const frames = await framesOf(dir, files.wal);
        const commits = frames.filter((f) => f.commit !== 0);
        const lastCommit = commits.at(-1)!;
        const prevCommit = commits.at(-2)!;
        const frameSize = walFrameSize(1024);
        const lastTxFrames = (lastCommit.offset - prevCommit.offset) / frameSize;
        assert.ok(lastTxFrames >= 2, 'the last transaction spans several frames');

        const committedOnly = files.wal.subarray(0, prevCommit.offset + frameSize);
        const reference = await pageMapOf(dir, committedOnly);
        for (let keep = 1; keep < lastTxFrames; keep++) {
          const cut = files.wal.subarray(0, prevCommit.offset + frameSize + keep * frameSize);
          const map = await pageMapOf(dir, cut);
          assert.deepEqual(comparable(map), comparable(reference), `keeping ${keep} frames of the last transaction`);
          assert.equal(map.uncommittedFrames, keep);
          assert.equal(map.maxOffset, prevCommit.offset + frameSize);
          await assertReplayMatchesSqlite(dir, { db: files.db, wal: Buffer.from(cut) }, map, `keep ${keep}`);
        }
      });
    });
  });

  it('ignores the frames of a transaction still in progress (spilled from a small page cache)', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 1024, async (db, path) => {
        runWorkload(db, 2, 3, 2000);
        const committed = await snapshotFiles(path);
        db.pragma('cache_size = 4');
        db.exec('BEGIN');
        const insert = db.prepare('INSERT INTO t(v) VALUES (?)');
        for (let i = 0; i < 60; i++) insert.run(blob(500 + i, 900));
        const during = await snapshotFiles(path);
        assert.ok(during.wal.length > committed.wal.length, 'the open transaction spilled frames into the WAL');
        const map = await pageMapOf(dir, during.wal);
        assert.ok(map.uncommittedFrames > 0);
        assert.deepEqual(comparable(map), comparable(await pageMapOf(dir, committed.wal)));
        await assertReplayMatchesSqlite(dir, during, map, 'in progress');

        // Roll back and commit something smaller: the spilled frames past it are stale and break the chain.
        db.exec('ROLLBACK');
        db.pragma('cache_size = 2000');
        insert.run(blob(999, 100));
        const after = await snapshotFiles(path);
        const afterMap = await pageMapOf(dir, after.wal);
        assert.ok(afterMap.maxOffset < after.wal.length, 'stale spilled frames remain after the last commit');
        assert.notEqual(afterMap.endReason, 'end-of-file');
        await assertReplayMatchesSqlite(dir, after, afterMap, 'after rollback');
      });
    });
  });

  it('treats a torn last frame as the end of the WAL', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 4096, async (db, path) => {
        runWorkload(db, 3, 5, 5000);
        const files = await snapshotFiles(path);
        const frameSize = walFrameSize(4096);
        for (const torn of [1, 24, 100, frameSize - 1]) {
          const wal = files.wal.subarray(0, files.wal.length - frameSize + torn);
          const map = await pageMapOf(dir, wal);
          assert.equal(map.endReason, 'partial-frame');
          assert.ok(map.maxOffset <= files.wal.length - frameSize);
          await assertReplayMatchesSqlite(dir, { db: files.db, wal: Buffer.from(wal) }, map, `torn ${torn}`);
        }
      });
    });
  });

  it('ends the valid region at a corrupted frame', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 512, async (db, path) => {
        runWorkload(db, 4, 8, 700);
        const files = await snapshotFiles(path);
        const frames = await framesOf(dir, files.wal);
        for (const k of [0, 5, Math.floor(frames.length / 2), frames.length - 1]) {
          const at = frames[k]!.offset;
          const corrupt = Buffer.from(files.wal);
          corrupt[at + 24 + 100]! ^= 0x40;
          const map = await pageMapOf(dir, corrupt);
          assert.equal(map.endReason, 'checksum-mismatch');
          assert.deepEqual(comparable(map), comparable(await pageMapOf(dir, files.wal.subarray(0, at))), `frame ${k}`);
          await assertReplayMatchesSqlite(dir, { db: files.db, wal: corrupt }, map, `corrupt frame ${k}`);
        }
      });
    });
  });

  it('reads only the new generation after a checkpoint restarts the WAL', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 1024, async (db, path) => {
        runWorkload(db, 5, 10, 3000);
        const first = await snapshotFiles(path);
        const firstHeader = parseWalHeader(first.wal);
        db.pragma('wal_checkpoint(PASSIVE)');
        db.prepare('INSERT INTO t(v) VALUES (?)').run(blob(77, 50));
        const second = await snapshotFiles(path);
        const header = parseWalHeader(second.wal);

        assert.equal(second.wal.length, first.wal.length, 'the file keeps its length: old frames remain past the new ones');
        assert.equal(header.checkpointSeq, firstHeader.checkpointSeq + 1);
        assert.notEqual(header.salt1, firstHeader.salt1);
        const map = await pageMapOf(dir, second.wal);
        assert.equal(map.endReason, 'salt-mismatch');
        assert.ok(map.frames > 0 && map.maxOffset < second.wal.length);
        assert.equal(map.salt1, header.salt1);
        await assertReplayMatchesSqlite(dir, second, map, 'restarted');

        // Resuming where the first generation was read to is refused: its frames are gone.
        const firstMap = await pageMapOf(dir, first.wal);
        const walPath = join(dir, 'restarted-wal');
        await writeFile(walPath, second.wal);
        const fh = await open(walPath, 'r');
        try {
          await assert.rejects(WalFrameReader.withOffset(fh, firstMap.maxOffset, firstMap.salt1, firstMap.salt2), PrevFrameMismatchError);
        } finally {
          await fh.close();
        }
      });
    });
  });

  it('drops pages above the final commit when VACUUM shrinks the database', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 1024, async (db, path) => {
        db.exec('CREATE TABLE big(id INTEGER PRIMARY KEY, v BLOB)');
        const insert = db.prepare('INSERT INTO big(v) VALUES (?)');
        db.transaction(() => {
          for (let i = 0; i < 80; i++) insert.run(blob(i, 800));
        })();
        const grown = db.pragma('page_count', { simple: true }) as number;
        db.exec('DELETE FROM big WHERE id > 5');
        db.exec('VACUUM');
        const shrunk = db.pragma('page_count', { simple: true }) as number;
        assert.ok(shrunk < grown / 4, `shrank from ${grown} to ${shrunk} pages`);

        const files = await snapshotFiles(path);
        const frames = await framesOf(dir, files.wal);
        assert.ok(frames.some((f) => f.pgno > shrunk), 'the WAL holds pages beyond the final size');
        const map = await pageMapOf(dir, files.wal);
        assert.equal(map.commit, shrunk);
        assert.ok([...map.pages.keys()].every((p) => p <= shrunk));
        await assertReplayMatchesSqlite(dir, files, map, 'vacuum');
      });
    });
  });

  it('withOffset continues where an earlier page map ended: same end, same checksum, same replay', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 4096, async (db, path) => {
        runWorkload(db, 6, 6, 6000);
        const early = await snapshotFiles(path);
        const earlyMap = await pageMapOf(dir, early.wal);
        runWorkload(db, 7, 6, 6000);
        db.exec('DELETE FROM t WHERE id % 2 = 0');
        const late = await snapshotFiles(path);

        const walPath = join(dir, 'late-wal');
        await writeFile(walPath, late.wal);
        const fh = await open(walPath, 'r');
        try {
          const full = await walPageMap(await WalFrameReader.open(fh));
          const rest = await walPageMap(await WalFrameReader.withOffset(fh, earlyMap.maxOffset, earlyMap.salt1, earlyMap.salt2));
          const resumed = await walPageMap(await WalFrameReader.resume(fh, { ...earlyMap, offset: earlyMap.maxOffset }));
          assert.deepEqual(comparable(resumed), comparable(rest));
          assert.equal(rest.offset, earlyMap.maxOffset);
          assert.equal(rest.maxOffset, full.maxOffset);
          assert.deepEqual(rest.checksum, full.checksum);
          assert.equal(earlyMap.frames + rest.frames, full.frames);
          assert.equal(rest.commit, full.commit);
          const merged = new Map([...earlyMap.pages, ...rest.pages]);
          for (const pgno of merged.keys()) if (pgno > rest.commit) merged.delete(pgno);
          assert.deepEqual(new Map([...merged].sort((a, b) => a[0] - b[0])), new Map([...full.pages].sort((a, b) => a[0] - b[0])));

          // Two incremental steps replayed in order equal SQLite's checkpoint of the whole WAL.
          const replayed = await applyPageMaps(dir, early.db, [
            { wal: late.wal, map: earlyMap },
            { wal: late.wal, map: rest },
          ]);
          assert.ok(replayed.equals(await sqliteCheckpoint(dir, late)));
        } finally {
          await fh.close();
        }
      });
    });
  });

  it('reads big-endian checksums: the same WAL re-checksummed gives the same map, and SQLite agrees', async () => {
    await withTempDir(async (dir) => {
      await withDb(dir, 2048, async (db, path) => {
        runWorkload(db, 8, 6, 3000);
        const files = await snapshotFiles(path);
        const be = await flipChecksumOrder(dir, files.wal);
        assert.equal(parseWalHeader(be).bigEndianChecksum, true);
        assert.notDeepEqual(be.subarray(WAL_HEADER_SIZE + 16, WAL_HEADER_SIZE + 24), files.wal.subarray(WAL_HEADER_SIZE + 16, WAL_HEADER_SIZE + 24));
        const leMap = await pageMapOf(dir, files.wal);
        const beMap = await pageMapOf(dir, be);
        assert.deepEqual(comparable(beMap), comparable(leMap));
        const beFiles: DbFiles = { db: files.db, wal: Buffer.from(be) };
        await assertReplayMatchesSqlite(dir, beFiles, beMap, 'big-endian');
        const flippedBack = await flipChecksumOrder(dir, be);
        assert.ok(Buffer.from(flippedBack).equals(files.wal));
      });
    });
  });
});
