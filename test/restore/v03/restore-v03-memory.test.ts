import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { restore } from '../../../src/restore/restore.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import { measurePeakGrowth } from '../../helpers/memory.js';
import { pattern } from '../../helpers/testdata.js';
import { buildWal, type FrameSpec } from '../../sqlite/helpers.js';
import { makeTempDir } from '../replica-fixtures.js';

const PAGE_SIZE = 4096;
/** 100 MiB database. */
const PAGES = 25_600;
const DB_SIZE = PAGES * PAGE_SIZE;
/** Pages the WAL index rewrites: every 1000th. */
const WAL_STRIDE = 1000;
const GEN = '0123456789abcdef';
const SAMPLE_INTERVAL_MS = 10;

/** Page 1 carries a SQLite header naming the page size; the rest is the test pattern. */
function snapshotPage(pgno: number): Uint8Array {
  const page = pattern(pgno, 1, PAGE_SIZE);
  if (pgno === 1) {
    page.set(new TextEncoder().encode('SQLite format 3\0'), 0);
    page[16] = PAGE_SIZE >> 8;
    page[17] = PAGE_SIZE & 0xff;
  }
  return page;
}

function walPage(pgno: number): Uint8Array {
  return pattern(pgno, 2, PAGE_SIZE);
}

describe('v0.3 restore memory', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let replica: string;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('v03-memory'));
    replica = join(dir, 'replica');
    const gen = join(replica, 'generations', GEN);
    await mkdir(join(gen, 'snapshots'), { recursive: true });
    await mkdir(join(gen, 'wal'), { recursive: true });
    // The raw database goes through a file and the lz4 tool (4 MiB blocks, as the Go writer), never memory.
    const raw = join(dir, 'raw.db');
    const fh = await open(raw, 'w');
    try {
      for (let pgno = 1; pgno <= PAGES; pgno++) await fh.write(snapshotPage(pgno), 0, PAGE_SIZE, (pgno - 1) * PAGE_SIZE);
    } finally {
      await fh.close();
    }
    const snap = spawnSync('lz4', ['-z', '-q', '-f', '-B7', raw, join(gen, 'snapshots', '00000000.snapshot.lz4')]);
    assert.equal(snap.status, 0, snap.stderr.toString());
    const frames: FrameSpec[] = [];
    for (let pgno = WAL_STRIDE; pgno <= PAGES; pgno += WAL_STRIDE) frames.push({ pgno, data: walPage(pgno) });
    frames.at(-1)!.commit = PAGES;
    const wal = buildWal({ pageSize: PAGE_SIZE, salt1: 11, salt2: 22, frames });
    const z = spawnSync('lz4', ['-z', '-q', '-B7', '-c'], { input: wal, maxBuffer: 64 * 1024 * 1024 });
    await writeFile(join(gen, 'wal', '00000000_00000000.wal.lz4'), z.stdout);
  });
  after(() => cleanup());

  it(`restores a ${DB_SIZE / 2 ** 20} MiB snapshot and its WAL with memory growth far below its size`, async () => {
    const outputPath = join(dir, 'restored.db');
    const { result: r, growth } = await measurePeakGrowth(() => restore({ client: new FileReplicaClient(replica), outputPath }), SAMPLE_INTERVAL_MS);
    assert.equal(r.format, 'v0.3');
    assert.equal(r.bytes, DB_SIZE);
    assert.ok(growth < DB_SIZE / 4, `memory grew by ${(growth / 2 ** 20).toFixed(1)} MiB restoring ${DB_SIZE / 2 ** 20} MiB`);

    const expected = createHash('sha256');
    for (let pgno = 1; pgno <= PAGES; pgno++) expected.update(pgno % WAL_STRIDE === 0 ? walPage(pgno) : snapshotPage(pgno));
    const actual = createHash('sha256');
    for await (const chunk of createReadStream(outputPath)) actual.update(chunk as Buffer);
    assert.equal(actual.digest('hex'), expected.digest('hex'));
  });
});
