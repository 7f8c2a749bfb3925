import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GsStorageError } from '../../../src/storage/gs/gs-errors.js';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { restore } from '../../../src/restore/restore.js';
import { logicalDump, openAppDb, withTempDir, type LogicalDump } from '../../replication/helpers.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { GsFaultProxy, type GsFaultRule } from './gs-fault-proxy.js';
import { startGsServer, type GsTestServer } from './gs-server.js';
import { testGsClient, TEST_TUNING } from './helpers.js';

const BUCKET = 'tidemark-faults';

let server: GsTestServer;
let proxy: GsFaultProxy;

before(async () => {
  server = await startGsServer();
  proxy = await GsFaultProxy.start(server.origin);
});

after(async () => {
  await proxy.close();
  await server.stop();
});

/** Rows of random text, so LTX files stay about as large as the pages they carry. */
function insert(app: Database.Database, n: number, size = 300): void {
  const stmt = app.prepare('INSERT INTO t (v) VALUES (?)');
  app.transaction(() => {
    for (let i = 0; i < n; i++) stmt.run(randomBytes(size / 2).toString('hex'));
  })();
}

function restoredState(path: string): { dump: LogicalDump; integrity: string } {
  const db = new Database(path, { readonly: true });
  try {
    return { dump: logicalDump(db), integrity: db.pragma('integrity_check', { simple: true }) as string };
  } finally {
    db.close();
  }
}

/** Faults on the requests replication makes: uploads and the listings of the replica position. */
const REPLICATION_FAULTS: [string, GsFaultRule[]][] = [
  ['500 backendError on uploads and listings', [{ kind: 'internal-error', on: ['upload', 'list'], times: 6 }]],
  ['503 and 429 on uploads', [{ kind: 'unavailable', on: 'upload', times: 4 }, { kind: 'rate-limited', on: 'upload', times: 3 }]],
  ['connections reset before the reply', [{ kind: 'reset', on: ['upload', 'list'], times: 5 }]],
  ['listing replies cut off mid-body', [{ kind: 'reset-body', on: 'list', afterBytes: 60, times: 3 }]],
  ['uploads that never get a reply (per-try deadline)', [{ kind: 'stall', on: 'upload', times: 2 }]],
];

describe('replication to GCS through injected faults', () => {
  let n = 0;
  for (const [name, rules] of REPLICATION_FAULTS) {
    it(`converges with nothing lost: ${name}`, async () => {
      await withTempDir(async (dir) => {
        const path = `replication/case-${++n}`;
        const client = testGsClient(proxy.origin, BUCKET, path);
        const direct = testGsClient(server.origin, BUCKET, path);
        const dbPath = join(dir, 'app.db');
        const app = openAppDb(dbPath);
        app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
        const rep = await DbReplicator.open({ dbPath, client, uploadRetryBaseMs: 5, uploadRetryMaxMs: 50, replicaCheckIntervalMs: 0, checkpointIntervalMs: 0 });
        let txid: bigint;
        try {
          insert(app, 50);
          await rep.syncAndWait({ timeoutMs: 20_000 });
          const injectedBefore = proxy.injected;
          for (const r of rules) proxy.inject(r);
          for (let i = 0; i < 6; i++) {
            insert(app, 40 + i * 10);
            if (i === 3) app.exec('DELETE FROM t WHERE id % 7 = 0');
            await rep.sync();
          }
          txid = await rep.syncAndWait({ timeoutMs: 60_000 });
          assert.ok(proxy.injected > injectedBefore, 'faults were injected');
        } finally {
          proxy.clear();
          await rep.close();
        }
        const l0 = await listAll(direct.ltxFiles(0));
        assert.deepEqual(
          l0.map((f) => f.maxTxid),
          Array.from({ length: Number(txid) }, (_, i) => BigInt(i + 1)),
          'every TXID reached the replica once, in order',
        );
        const out = join(dir, 'restored.db');
        await restore({ client: direct, outputPath: out });
        const got = restoredState(out);
        assert.equal(got.integrity, 'ok');
        assert.deepEqual(got.dump, logicalDump(app));
        app.close();
      });
    });
  }
});

/** Faults on the requests a restore makes: the listings of the plan and the ranged reads of every file. */
const RESTORE_FAULTS: [string, GsFaultRule[]][] = [
  ['500 backendError on reads and listings', [{ kind: 'internal-error', on: ['get', 'list'], times: 4 }, { kind: 'internal-error', on: 'get', times: 4 }]],
  ['503 on reads', [{ kind: 'unavailable', on: 'get', times: 5 }]],
  ['connections reset before the reply', [{ kind: 'reset', on: 'get', times: 4 }]],
  ['connections reset in the middle of a file', [{ kind: 'reset-body', on: 'get', afterBytes: 40_000, times: 4 }]],
  ['downloads that stall until the client times out', [{ kind: 'stall-body', on: 'get', afterBytes: 20_000, times: 2 }]],
  ['reads that never get a reply', [{ kind: 'stall', on: 'get', times: 1 }]],
];

describe('restore from GCS through injected faults', () => {
  const path = 'restore/source';
  let source: LogicalDump;
  let files = 0;

  before(async () => {
    await withTempDir(async (dir) => {
      const client = testGsClient(server.origin, BUCKET, path);
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      insert(app, 4000, 500);
      const rep = await DbReplicator.open({ dbPath, client, checkpointIntervalMs: 0 });
      try {
        await rep.syncAndWait({ timeoutMs: 20_000 });
        for (let i = 0; i < 5; i++) {
          insert(app, 300, 400);
          app.exec(`UPDATE t SET v = 'u${i}' || v WHERE id % ${i + 3} = 0`);
          await rep.syncAndWait({ timeoutMs: 20_000 });
        }
      } finally {
        await rep.close();
      }
      source = logicalDump(app);
      app.close();
      files = (await listAll(client.ltxFiles(0))).length;
    });
    assert.ok(files >= 6);
  });

  for (const [name, rules] of RESTORE_FAULTS) {
    it(`completes byte-correct: ${name}`, async () => {
      await withTempDir(async (dir) => {
        const client = testGsClient(proxy.origin, BUCKET, path);
        const injectedBefore = proxy.injected;
        for (const r of rules) proxy.inject(r);
        const out = join(dir, 'restored.db');
        try {
          const result = await restore({ client, outputPath: out, parallelism: 3 });
          assert.equal(result.restored, true);
          assert.equal(result.files, files);
        } finally {
          proxy.clear();
        }
        assert.ok(proxy.injected > injectedBefore, 'faults were injected');
        const got = restoredState(out);
        assert.equal(got.integrity, 'ok');
        assert.deepEqual(got.dump, source);
      });
    });
  }
});

describe('GsReplicaClient reads through broken connections', () => {
  const T0 = Date.UTC(2024, 6, 1);
  let bytes: Uint8Array;

  before(async () => {
    bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    await testGsClient(server.origin, BUCKET, 'reads').writeLtxFile(0, 1n, 1n, chunked(bytes));
  });

  async function readThroughProxy(rules: GsFaultRule[], offset?: number, size?: number): Promise<{ got: Uint8Array; gets: number; ranges: string[] }> {
    const client = testGsClient(proxy.origin, BUCKET, 'reads');
    try {
      await client.init();
      proxy.resetCounts();
      for (const r of rules) proxy.inject(r);
      const got = await collect(await client.openLtxFile(0, 1n, 1n, { offset, size }));
      return { got, gets: proxy.counts.get, ranges: proxy.requests.filter((r) => r.kind === 'get').map((r) => r.range ?? '') };
    } finally {
      proxy.clear();
    }
  }

  it('resumes a download cut off mid-body with a ranged request from the byte it reached', async () => {
    const { got, gets, ranges } = await readThroughProxy([{ kind: 'reset-body', on: 'get', afterBytes: 150_000, times: 3 }]);
    assert.ok(Buffer.from(got).equals(bytes));
    assert.equal(gets, 4, 'one GET, then one per cut');
    assert.match(ranges[0]!, /^(|bytes=0-)$/, 'the first read asks for the whole object');
    for (const r of ranges.slice(1)) assert.match(r, /^bytes=\d+-\d+$/);
    const starts = ranges.slice(1).map((r) => Number(/^bytes=(\d+)-/.exec(r)![1]));
    assert.ok(starts.every((s, i) => s > 0 && (i === 0 || s > starts[i - 1]!)), `each resume starts further on: ${ranges.join(', ')}`);
  });

  it('resumes a ranged read and still returns exactly the range', async () => {
    const { got, gets, ranges } = await readThroughProxy([{ kind: 'reset-body', on: 'get', afterBytes: 70_000, times: 2 }], 123_456, 400_000);
    assert.ok(Buffer.from(got).equals(bytes.subarray(123_456, 523_456)));
    assert.equal(gets, 3);
    assert.equal(ranges[0], 'bytes=123456-523455');
    assert.match(ranges.at(-1)!, /-523455$/);
  });

  it('gives up a stalled download after the idle timeout and resumes it', async () => {
    const { got, gets } = await readThroughProxy([{ kind: 'stall-body', on: 'get', afterBytes: 200_000, times: 1 }]);
    assert.ok(Buffer.from(got).equals(bytes));
    assert.equal(gets, 2);
  });

  it('a resumed read refuses to splice in an object replaced meanwhile', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'replaced');
    const direct = testGsClient(server.origin, BUCKET, 'replaced');
    await direct.writeLtxFile(0, 1n, 1n, chunked(bytes));
    proxy.inject({ kind: 'stall-body', on: 'get', afterBytes: 100_000, times: 1 });
    try {
      const stream = await client.openLtxFile(0, 1n, 1n);
      const other = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 + 1, pages: 300, pageSize: 4096, incompressible: true });
      await direct.writeLtxFile(0, 1n, 1n, chunked(other));
      await assert.rejects(collect(stream), (err: unknown) => {
        assert.ok(err instanceof GsStorageError, String(err));
        assert.match(err.message, /replaced\/ltx\/0\/0000000000000001-0000000000000001\.ltx: the object was replaced while being read/);
        return true;
      });
    } finally {
      proxy.clear();
    }
  });

  it('a read whose every request is cut before its first byte fails after the bounded tries, in one line', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'reads');
    await client.init();
    proxy.resetCounts();
    proxy.inject({ kind: 'reset-body', on: 'get', afterBytes: 0 });
    try {
      // The open itself fails: it waits for the first byte.
      await assert.rejects(client.openLtxFile(0, 1n, 1n), (err: unknown) => {
        assert.ok(err instanceof GsStorageError, String(err));
        assert.match(err.message, /reading reads\/ltx\/0\/0000000000000001-0000000000000001\.ltx: cannot reach Google Cloud Storage after 5 attempts \(ECONNRESET/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
      assert.equal(proxy.counts.get, 5);
    } finally {
      proxy.clear();
    }
  });

  it('a resumed read whose reopenings all break off fails in one line, after the bytes it delivered', async () => {
    const client = testGsClient(proxy.origin, BUCKET, 'reads');
    await client.init();
    proxy.resetCounts();
    proxy.inject({ kind: 'reset-body', on: 'get', afterBytes: 150_000, times: 1 }).inject({ kind: 'reset-body', on: 'get', afterBytes: 0 });
    try {
      let delivered = 0;
      const stream = await client.openLtxFile(0, 1n, 1n);
      await assert.rejects(
        (async () => {
          for await (const c of stream) delivered += c.length;
        })(),
        (err: unknown) => {
          assert.ok(err instanceof GsStorageError, String(err));
          assert.match(err.message, /reading reads\/ltx\/0\/0000000000000001-0000000000000001\.ltx: cannot reach Google Cloud Storage after 5 attempts/);
          return true;
        },
      );
      assert.ok(delivered > 0 && delivered <= 150_000, `delivered ${delivered}`);
      assert.equal(proxy.counts.get, 1 + 5);
    } finally {
      proxy.clear();
    }
  });

  it('a failed single-request upload is retried, and the object appears whole', async () => {
    const file = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    const client = testGsClient(proxy.origin, BUCKET, 'retried');
    await client.init();
    proxy.resetCounts();
    proxy.inject({ kind: 'internal-error', on: 'upload', times: 2 }).inject({ kind: 'reset', on: 'upload', times: 1 });
    try {
      await client.writeLtxFile(0, 2n, 2n, chunked(file, 50_000));
    } finally {
      proxy.clear();
    }
    assert.equal(proxy.counts.upload, 4);
    assert.ok(Buffer.from(await collect(await testGsClient(server.origin, BUCKET, 'retried').openLtxFile(0, 2n, 2n))).equals(file));
  });

  it('a resumable upload that fails fails the write with one error, and leaves no object', async () => {
    const big = await makeLtxFile({ minTxid: 3n, maxTxid: 3n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    const client = testGsClient(proxy.origin, BUCKET, 'resumable-fails', { ...TEST_TUNING, singleUploadLimit: 256 * 1024 });
    await client.init();
    proxy.inject({ kind: 'unavailable', on: 'upload' });
    try {
      await assert.rejects(client.writeLtxFile(0, 3n, 3n, chunked(big, 50_000)), (err: unknown) => {
        assert.ok(err instanceof GsStorageError, String(err));
        assert.match(err.message, /writing resumable-fails\/ltx\/0\/0000000000000003-0000000000000003\.ltx: /);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    } finally {
      proxy.clear();
    }
    assert.deepEqual(await listAll(testGsClient(server.origin, BUCKET, 'resumable-fails').ltxFiles(0)), []);
  });
});
