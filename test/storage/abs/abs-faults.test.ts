import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AbsStorageError } from '../../../src/storage/abs/abs-errors.js';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { restore } from '../../../src/restore/restore.js';
import { logicalDump, openAppDb, withTempDir, type LogicalDump } from '../../replication/helpers.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { AbsFaultProxy, type AbsFaultRule } from './abs-fault-proxy.js';
import { AZURITE_ACCOUNT, startAbsServer, type AbsTestServer } from './abs-server.js';
import { testAbsClient, TEST_TUNING } from './helpers.js';

const CONTAINER = 'tidemark-faults';

let server: AbsTestServer;
let proxy: AbsFaultProxy;
let proxied: string;

before(async () => {
  server = await startAbsServer([CONTAINER]);
  proxy = await AbsFaultProxy.start(server.origin);
  proxied = `${proxy.origin}/${AZURITE_ACCOUNT}`;
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

/** Faults on the requests replication makes: uploads (PUT) and the listings of the replica position. */
const REPLICATION_FAULTS: [string, AbsFaultRule[]][] = [
  ['500 InternalError on uploads and listings', [{ kind: 'internal-error', on: ['put', 'list'], times: 6 }]],
  ['503 ServerBusy on uploads', [{ kind: 'server-busy', on: 'put', times: 6 }]],
  ['connections reset before the reply', [{ kind: 'reset', on: ['put', 'list'], times: 5 }]],
  ['listing replies cut off mid-body', [{ kind: 'reset-body', on: 'list', afterBytes: 60, times: 3 }]],
  ['uploads that never get a reply (per-try deadline)', [{ kind: 'stall', on: 'put', times: 2 }]],
];

describe('replication to Azure through injected faults', () => {
  let n = 0;
  for (const [name, rules] of REPLICATION_FAULTS) {
    it(`converges with nothing lost: ${name}`, async () => {
      await withTempDir(async (dir) => {
        const path = `replication/case-${++n}`;
        const client = testAbsClient(proxied, CONTAINER, path);
        const direct = testAbsClient(server.endpoint, CONTAINER, path);
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
const RESTORE_FAULTS: [string, AbsFaultRule[]][] = [
  ['500 InternalError on reads and listings', [{ kind: 'internal-error', on: ['get', 'list'], times: 4 }, { kind: 'internal-error', on: 'get', times: 4 }]],
  ['503 ServerBusy on reads', [{ kind: 'server-busy', on: 'get', times: 5 }]],
  ['connections reset before the reply', [{ kind: 'reset', on: 'get', times: 4 }]],
  ['connections reset in the middle of a file', [{ kind: 'reset-body', on: 'get', afterBytes: 40_000, times: 4 }]],
  ['downloads that stall until the client times out', [{ kind: 'stall-body', on: 'get', afterBytes: 20_000, times: 2 }]],
  ['reads that never get a reply', [{ kind: 'stall', on: 'get', times: 1 }]],
];

describe('restore from Azure through injected faults', () => {
  const path = 'restore/source';
  let source: LogicalDump;
  let files = 0;

  before(async () => {
    await withTempDir(async (dir) => {
      const client = testAbsClient(server.endpoint, CONTAINER, path);
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
        const client = testAbsClient(proxied, CONTAINER, path);
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

describe('AbsReplicaClient reads through broken connections', () => {
  const T0 = Date.UTC(2024, 6, 1);
  let bytes: Uint8Array;

  before(async () => {
    bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    await testAbsClient(server.endpoint, CONTAINER, 'reads').writeLtxFile(0, 1n, 1n, chunked(bytes));
  });

  async function readThroughProxy(rules: AbsFaultRule[], offset?: number, size?: number): Promise<{ got: Uint8Array; gets: number; ranges: string[] }> {
    const client = testAbsClient(proxied, CONTAINER, 'reads');
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
    assert.equal(ranges[0], '', 'the first read asks for the whole blob');
    for (const r of ranges.slice(1)) assert.match(r, /^bytes=\d+-\d+$/);
    const starts = ranges.slice(1).map((r) => Number(/^bytes=(\d+)-/.exec(r)![1]));
    assert.ok(starts.every((s, i) => s > 0 && (i === 0 || s > starts[i - 1]!)), `each resume starts further on: ${ranges.join(', ')}`);
  });

  it('resumes a ranged read and still returns exactly the range', async () => {
    const { got, gets } = await readThroughProxy([{ kind: 'reset-body', on: 'get', afterBytes: 70_000, times: 2 }], 123_456, 400_000);
    assert.ok(Buffer.from(got).equals(bytes.subarray(123_456, 523_456)));
    assert.equal(gets, 3);
  });

  it('gives up a stalled download after the idle timeout and resumes it', async () => {
    const { got, gets } = await readThroughProxy([{ kind: 'stall-body', on: 'get', afterBytes: 200_000, times: 1 }]);
    assert.ok(Buffer.from(got).equals(bytes));
    assert.equal(gets, 2);
  });

  it('a resumed read refuses to splice in a blob replaced meanwhile', async () => {
    const client = testAbsClient(proxied, CONTAINER, 'replaced');
    const direct = testAbsClient(server.endpoint, CONTAINER, 'replaced');
    await direct.writeLtxFile(0, 1n, 1n, chunked(bytes));
    proxy.inject({ kind: 'stall-body', on: 'get', afterBytes: 100_000, times: 1 });
    try {
      const stream = await client.openLtxFile(0, 1n, 1n);
      const other = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 + 1, pages: 300, pageSize: 4096, incompressible: true });
      await direct.writeLtxFile(0, 1n, 1n, chunked(other));
      await assert.rejects(collect(stream), (err: unknown) => {
        assert.ok(err instanceof AbsStorageError, String(err));
        assert.match(err.message, /replaced\/ltx\/0\/0000000000000001-0000000000000001\.ltx: the blob was replaced while being read/);
        return true;
      });
    } finally {
      proxy.clear();
    }
  });

  it('stops after three resumes in a row that bring nothing', async () => {
    await assert.rejects(readThroughProxy([{ kind: 'reset-body', on: 'get', afterBytes: 0 }]), (err: unknown) => {
      assert.ok(err instanceof AbsStorageError, String(err));
      assert.match(err.message, /reads\/ltx\/0\/0000000000000001-0000000000000001\.ltx: the download broke off at byte 0 and 3 attempts to resume it failed/);
      return true;
    });
  });

  it('a failed block of a large upload is retried, and the blob appears whole', async () => {
    const big = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    const client = testAbsClient(proxied, CONTAINER, 'staged', { ...TEST_TUNING, blockSize: 256 * 1024 });
    await client.init();
    proxy.inject({ kind: 'internal-error', on: 'put', times: 2 }).inject({ kind: 'reset', on: 'put', times: 1 });
    try {
      await client.writeLtxFile(0, 2n, 2n, chunked(big, 50_000));
    } finally {
      proxy.clear();
    }
    assert.ok(Buffer.from(await collect(await testAbsClient(server.endpoint, CONTAINER, 'staged').openLtxFile(0, 2n, 2n))).equals(big));
  });
});
