// recoverModel: a model saved at TXID k, brought forward through the local
// L0 files k+1..n, is exactly the model of TXID n; a gap, a damaged or
// foreign file, a model ahead of the files or a file that leaves pages
// without content each give a reason instead (and so a full image).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { pageChecksum } from '../../src/ltx/checksum.js';
import { CHECKSUM_FLAG, HEADER_FLAG_NO_CHECKSUM } from '../../src/ltx/constants.js';
import { LtxEncoder } from '../../src/ltx/encoder.js';
import { makeHeader } from '../../src/ltx/header.js';
import { seededRandom } from '../../src/seeded-random.js';
import { DatabaseModel } from '../../src/replication/db-model.js';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { writeL0 } from '../../src/replication/l0-writer.js';
import { LocalMeta } from '../../src/replication/local-meta.js';
import { recoverModel } from '../../src/replication/model-recovery.js';
import { loadModel, modelPath, saveModel, type ModelLoad } from '../../src/replication/model-file.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { openAppDb, withTempDir } from './helpers.js';

const PAGE_SIZE = 512;
/** TXIDs in the synthetic history: a full image at 1, then deltas that update, grow and shrink. */
const HISTORY_TXIDS = 10;
const START_PAGES = 30;
const MAX_PAGES = 60;
const HISTORY_RUNS = 8;
const SYNC_TIMEOUT_MS = 5000;

/** The database at one TXID, as page contents (index pgno - 1). */
type Db = Uint8Array[];

function randomPage(rand: () => number): Uint8Array {
  const out = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < PAGE_SIZE; i += 4) new DataView(out.buffer).setUint32(i, Math.floor(rand() * 2 ** 32));
  return out;
}

/** The model of a database, computed from its pages afresh: the oracle recovery must reach. */
function oracleModel(db: Db, txid: bigint): DatabaseModel {
  return DatabaseModel.fromSums(PAGE_SIZE, txid, BigUint64Array.from(db, (data, i) => pageChecksum(i + 1, data)));
}

function assertSameModel(actual: DatabaseModel, expected: DatabaseModel, label: string): void {
  assert.equal(actual.txid, expected.txid, `${label}: txid`);
  assert.equal(actual.commit, expected.commit, `${label}: commit`);
  assert.equal(actual.checksum, expected.checksum, `${label}: checksum`);
  assert.deepEqual(actual.sums(), expected.sums(), `${label}: page checksums`);
}

function assertRefused(load: ModelLoad, why: RegExp): void {
  assert.equal(load.model, null, 'an unusable history was accepted');
  if (load.model === null) assert.match(load.reason, why);
}

/** Writes one L0 file carrying `pages` (ascending) with database size `commit`. */
async function writeFile0(meta: LocalMeta, txid: bigint, commit: number, pages: [number, Uint8Array][], base: DatabaseModel | null, pageSize = PAGE_SIZE): Promise<DatabaseModel> {
  const full = base === null;
  const written = await writeL0(
    meta,
    {
      txid,
      pageSize,
      commit,
      full,
      walOffset: 32,
      walSize: 0,
      salts: { salt1: 0, salt2: 0 },
      what: `test TXID ${txid}`,
      emit: async (write) => {
        for (const [pgno, data] of pages) await write(pgno, data);
      },
    },
    base,
  );
  return written.change.applyTo(base?.clone() ?? null, txid);
}

/**
 * Writes a history of L0 files 1..HISTORY_TXIDS to `meta` and returns the
 * database at each TXID (index t; index 0 is the empty database).
 */
async function writeHistory(meta: LocalMeta, seed: number): Promise<Db[]> {
  const rand = seededRandom(seed);
  const dbs: Db[] = [[]];
  let db: Db = Array.from({ length: START_PAGES }, () => randomPage(rand));
  let model = await writeFile0(meta, 1n, db.length, db.map((d, i) => [i + 1, d]), null);
  dbs.push(db);
  for (let t = 2; t <= HISTORY_TXIDS; t++) {
    const next = db.slice();
    const r = rand();
    // A third of the files shrink the database, a third grow it (carrying every new page), the rest only update.
    const commit = r < 1 / 3 ? Math.max(1, db.length - 1 - Math.floor(rand() * 5)) : r < 2 / 3 ? Math.min(MAX_PAGES, db.length + 1 + Math.floor(rand() * 8)) : db.length;
    next.length = Math.min(next.length, commit);
    const changed = new Set<number>();
    for (let p = db.length + 1; p <= commit; p++) changed.add(p);
    for (let i = Math.floor(rand() * 6); i > 0; i--) changed.add(1 + Math.floor(rand() * commit));
    for (const p of changed) next[p - 1] = randomPage(rand);
    const pages = [...changed].sort((a, b) => a - b).map((p): [number, Uint8Array] => [p, next[p - 1]!]);
    model = await writeFile0(meta, BigInt(t), commit, pages, model);
    db = next;
    dbs.push(db);
  }
  return dbs;
}

describe('recoverModel', () => {
  it('brings a model saved at any TXID forward to the newest local L0 file', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const dbs = await writeHistory(meta, 1);
      const n = BigInt(HISTORY_TXIDS);
      const expected = oracleModel(dbs[HISTORY_TXIDS]!, n);
      for (let k = 0; k <= HISTORY_TXIDS; k++) {
        await saveModel(meta.dir, oracleModel(dbs[k]!, BigInt(k)));
        const r = await recoverModel(meta, PAGE_SIZE, n);
        assert.ok(r.model !== null, r.model === null ? `from TXID ${k}: ${r.reason}` : '');
        assertSameModel(r.model, expected, `from TXID ${k}`);
      }
    });
  });

  it('property: any history, any saved TXID, any target TXID', async () => {
    await withTempDir(async (dir) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.integer(), fc.integer({ min: 0, max: HISTORY_TXIDS }), fc.integer({ min: 0, max: HISTORY_TXIDS }), async (seed, a, b) => {
          const [k, n] = a <= b ? [a, b] : [b, a];
          const meta = new LocalMeta(join(dir, `meta-${run++}`));
          const dbs = await writeHistory(meta, seed);
          await saveModel(meta.dir, oracleModel(dbs[k]!, BigInt(k)));
          const r = await recoverModel(meta, PAGE_SIZE, BigInt(n));
          assert.ok(r.model !== null, r.model === null ? r.reason : '');
          assertSameModel(r.model, oracleModel(dbs[n]!, BigInt(n)), `seed ${seed}, ${k} -> ${n}`);
          await rm(meta.dir, { recursive: true });
        }),
        { numRuns: HISTORY_RUNS },
      );
    });
  });

  it('a model saved at the newest TXID is used as it is, without reading any L0 file', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const dbs = await writeHistory(meta, 2);
      const n = BigInt(HISTORY_TXIDS);
      await saveModel(meta.dir, oracleModel(dbs[HISTORY_TXIDS]!, n));
      await meta.clear();
      const r = await recoverModel(meta, PAGE_SIZE, n);
      assert.ok(r.model !== null, r.model === null ? r.reason : '');
      assertSameModel(r.model, oracleModel(dbs[HISTORY_TXIDS]!, n), 'as saved');
    });
  });

  it('refuses when an L0 file between the model and the newest is missing', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const dbs = await writeHistory(meta, 3);
      await saveModel(meta.dir, oracleModel(dbs[3]!, 3n));
      await rm(meta.pathOf(6n));
      const r = await recoverModel(meta, PAGE_SIZE, BigInt(HISTORY_TXIDS));
      assertRefused(r, new RegExp(`cannot bring the model forward through .*${'0000000000000006-0000000000000006'}\\.ltx.*ENOENT`));
    });
  });

  it('refuses a model ahead of the newest local L0 file', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const dbs = await writeHistory(meta, 4);
      await saveModel(meta.dir, oracleModel(dbs[HISTORY_TXIDS]!, BigInt(HISTORY_TXIDS)));
      const r = await recoverModel(meta, PAGE_SIZE, BigInt(HISTORY_TXIDS - 2));
      assertRefused(r, new RegExp(`model file is at TXID ${HISTORY_TXIDS}, past the newest local L0 file ${HISTORY_TXIDS - 2}`));
    });
  });

  it('refuses a corrupt L0 file on the way', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const dbs = await writeHistory(meta, 5);
      await saveModel(meta.dir, oracleModel(dbs[2]!, 2n));
      const path = meta.pathOf(7n);
      const bytes = await readFile(path);
      // Past the 100-byte header: a page's content or the index, which the file checksum covers.
      const mid = Math.floor(bytes.length / 2);
      bytes[mid] = bytes[mid]! ^ 0x5a;
      await writeFile(path, bytes);
      assertRefused(await recoverModel(meta, PAGE_SIZE, BigInt(HISTORY_TXIDS)), /cannot bring the model forward through .*0000000000000007-0000000000000007\.ltx/);
    });
  });

  it('refuses an L0 file that holds another TXID than its name says', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const dbs = await writeHistory(meta, 6);
      await saveModel(meta.dir, oracleModel(dbs[4]!, 4n));
      await copyFile(meta.pathOf(5n), meta.pathOf(6n));
      assertRefused(await recoverModel(meta, PAGE_SIZE, BigInt(HISTORY_TXIDS)), /0000000000000006-0000000000000006\.ltx does not hold TXID 6/);
    });
  });

  it('refuses an L0 file of another page size', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const other = 1024;
      await writeFile0(meta, 1n, 2, [[1, new Uint8Array(other)], [2, new Uint8Array(other)]], null, other);
      await saveModel(meta.dir, new DatabaseModel(PAGE_SIZE, 0n));
      assertRefused(await recoverModel(meta, PAGE_SIZE, 1n), /has 1024-byte pages/);
    });
  });

  it('refuses when the files leave pages of the database without content', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const dbs = await writeHistory(meta, 7);
      const n = BigInt(HISTORY_TXIDS);
      await saveModel(meta.dir, oracleModel(dbs[HISTORY_TXIDS]!, n));
      // TXID n+1 grows the database by two pages but carries one: writeL0 would refuse it, so it is encoded by hand.
      const commit = dbs[HISTORY_TXIDS]!.length + 2;
      const header = makeHeader({ flags: HEADER_FLAG_NO_CHECKSUM, pageSize: PAGE_SIZE, commit, minTxid: n + 1n, maxTxid: n + 1n });
      await meta.write(n + 1n, async (sink) => {
        const enc = new LtxEncoder(sink, header);
        await enc.writePage(commit, new Uint8Array(PAGE_SIZE).fill(9));
        return enc.finish();
      });
      assertRefused(await recoverModel(meta, PAGE_SIZE, n + 1n), /leave pages of the database without content/);
    });
  });

  it('a missing or damaged model file gives its own reason', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      await writeHistory(meta, 8);
      assertRefused(await recoverModel(meta, PAGE_SIZE, BigInt(HISTORY_TXIDS)), /^no model file$/);
      await writeFile(modelPath(meta.dir), 'not a model');
      assertRefused(await recoverModel(meta, PAGE_SIZE, BigInt(HISTORY_TXIDS)), /truncated|not a version/);
    });
  });

  it("brings a real replicator's saved model forward to the checksum the replicator reports", async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const insert = app.prepare('INSERT INTO t (v) VALUES (?)');
      const write = (n: number, tag: string): void => {
        app.transaction(() => {
          for (let i = 0; i < n; i++) insert.run(`${tag}:${i}`.padEnd(300, 'x'));
        })();
        app.prepare('DELETE FROM t WHERE id % 7 = 0').run();
      };
      const open = (): Promise<DbReplicator> =>
        DbReplicator.open({
          dbPath,
          client: new FileReplicaClient(join(dir, 'replica')),
          uploadRetryBaseMs: 2,
          uploadRetryMaxMs: 20,
          replicaCheckIntervalMs: 0,
          checkpointIntervalMs: 0,
          // Every local L0 file stays: the recovery below reads them all.
          localL0RetentionMs: 0,
        });
      const savedK = join(dir, 'model-k');
      let k: bigint;
      let n: bigint;
      let checksumN: bigint | undefined;
      let rep = await open();
      try {
        write(50, 'a');
        await rep.syncAndWait({ timeoutMs: SYNC_TIMEOUT_MS });
        write(20, 'b');
        await rep.syncAndWait({ timeoutMs: SYNC_TIMEOUT_MS });
        k = rep.status().localTxid;
      } finally {
        await rep.close(); // saves the model of TXID k
      }
      try {
        await copyFile(modelPath(rep.meta.dir), savedK);
        rep = await open();
        try {
          for (let i = 0; i < 4; i++) {
            write(15 + i * 10, `c${i}`);
            await rep.syncAndWait({ timeoutMs: SYNC_TIMEOUT_MS });
          }
          n = rep.status().localTxid;
          checksumN = rep.status().checksum;
        } finally {
          await rep.close(); // saves the model of TXID n
        }
      } finally {
        app.close();
      }
      assert.ok(n > k + 2n, `files were written after TXID ${k}: newest ${n}`);
      assert.ok(checksumN !== undefined);
      const atN = await loadModel(rep.meta.dir, 4096);
      assert.ok(atN.model !== null && atN.model.txid === n, 'the replicator saved its model of TXID n on close');

      await copyFile(savedK, modelPath(rep.meta.dir));
      const r = await recoverModel(rep.meta, 4096, n);
      assert.ok(r.model !== null, r.model === null ? r.reason : '');
      assert.equal(r.model.txid, n);
      assert.equal(r.model.checksum, checksumN, 'the checksum the replicator reported at TXID n');
      assertSameModel(r.model, atN.model, 'the model the replicator saved at TXID n');
      assert.notEqual(r.model.checksum, CHECKSUM_FLAG);
    });
  });
});
