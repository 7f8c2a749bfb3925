import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LtxEncoder } from '../../src/ltx/encoder.js';
import { makeHeader } from '../../src/ltx/header.js';
import { restore } from '../../src/restore/restore.js';
import { ltxFilePath, type FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { measurePeakGrowth } from '../helpers/memory.js';
import { pattern } from '../helpers/testdata.js';
import { encodeLtx, makeReplica, makeTempDir, putLtx, T0 } from './replica-fixtures.js';

const PAGE_SIZE = 4096;
/** 100 MiB database. */
const PAGES = 25_600;
const DB_SIZE = PAGES * PAGE_SIZE;
const L0_FILES = 3;
const SAMPLE_INTERVAL_MS = 10;

/** Page content of the final database: the snapshot's pattern, overwritten by each L0 file on its pages. */
function finalPage(pgno: number): Uint8Array {
  for (let t = L0_FILES + 1; t >= 2; t--) if (pgno % 1000 === t) return pattern(pgno, t, PAGE_SIZE);
  return pattern(pgno, 1, PAGE_SIZE);
}

/** Streams a snapshot of PAGES pages straight into the replica directory, never holding the file in memory. */
async function writeSnapshot(client: FileReplicaClient): Promise<void> {
  const path = ltxFilePath(client.root, 9, 1n, 1n);
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  try {
    let pos = 0;
    const sink = {
      async write(chunk: Uint8Array): Promise<void> {
        await fh.write(chunk, 0, chunk.length, pos);
        pos += chunk.length;
      },
    };
    const enc = new LtxEncoder(sink, makeHeader({ pageSize: PAGE_SIZE, commit: PAGES, minTxid: 1n, maxTxid: 1n, timestamp: T0 }));
    for (let pgno = 1; pgno <= PAGES; pgno++) await enc.writePage(pgno, pattern(pgno, 1, PAGE_SIZE));
    await enc.finish();
  } finally {
    await fh.close();
  }
  await utimes(path, new Date(T0), new Date(T0));
}

describe('restore memory', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let client: FileReplicaClient;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('restore-memory'));
    client = await makeReplica(dir, 'big');
    await writeSnapshot(client);
    for (let t = 2; t <= L0_FILES + 1; t++) {
      const pages = [];
      for (let pgno = t; pgno <= PAGES; pgno += 1000) pages.push({ pgno, data: pattern(pgno, t, PAGE_SIZE) });
      await putLtx(
        client,
        0,
        await encodeLtx({ pageSize: PAGE_SIZE, commit: PAGES, minTxid: BigInt(t), maxTxid: BigInt(t), timestamp: T0 + t * 1000, pages }),
      );
    }
  });
  after(() => cleanup());

  it(`restores a ${DB_SIZE / 2 ** 20} MiB database with memory growth far below its size`, async () => {
    const outputPath = join(dir, 'restored.db');
    const { result: r, growth } = await measurePeakGrowth(() => restore({ client, outputPath }), SAMPLE_INTERVAL_MS);
    assert.equal(r.bytes, DB_SIZE);
    assert.equal(r.files, 1 + L0_FILES);

    assert.ok(growth < DB_SIZE / 5, `memory grew by ${(growth / 2 ** 20).toFixed(1)} MiB restoring ${DB_SIZE / 2 ** 20} MiB`);

    const expected = createHash('sha256');
    for (let pgno = 1; pgno <= PAGES; pgno++) expected.update(finalPage(pgno));
    const actual = createHash('sha256');
    for await (const chunk of createReadStream(outputPath)) actual.update(chunk as Buffer);
    assert.equal(actual.digest('hex'), expected.digest('hex'));
  });
});
