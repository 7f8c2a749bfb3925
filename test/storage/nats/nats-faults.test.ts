import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { restore } from '../../../src/restore/restore.js';
import { NatsStorageError } from '../../../src/storage/nats/nats-errors.js';
import type { NatsClientTuning } from '../../../src/storage/nats/nats-replica-client.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { logicalDump, openAppDb, withTempDir, type LogicalDump } from '../../replication/helpers.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { TcpFaultProxy } from '../sftp/tcp-fault-proxy.js';
import { startNatsServer, type NatsTestServer } from './nats-server.js';
import { testNatsClient, TEST_TUNING } from './helpers.js';

const T0 = Date.UTC(2024, 6, 1, 2, 3, 4, 500);
const FAULT_TUNING: NatsClientTuning = { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, maxTries: 8 } };
/** How long a stall lasts: longer than the read idle timeout, so it is detected. */
const STALL_MS = 3_500;

let srv: NatsTestServer;
let proxy: TcpFaultProxy;
let buckets = 0;

before(async () => {
  srv = await startNatsServer();
  proxy = await TcpFaultProxy.start(srv.port);
});
after(async () => {
  await proxy.close();
  await srv.stop();
});

/** A fresh bucket, and a client that reaches it through the proxy and one that does not. */
async function pair(name: string, tuning = FAULT_TUNING): Promise<{ through: ReturnType<typeof testNatsClient>; direct: ReturnType<typeof testNatsClient> }> {
  const bucket = `${name}-${++buckets}`;
  await srv.createBucket(bucket);
  return { through: testNatsClient(proxy.port, bucket, tuning), direct: testNatsClient(srv.port, bucket) };
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

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

describe('NATS reads through broken connections', () => {
  let bytes: Uint8Array;

  before(async () => {
    bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 3n, timestamp: T0, pages: 500, pageSize: 4096, incompressible: true });
  });

  it('a read cut midway is opened again, skips what it handed out, and returns every byte once', async () => {
    const { through, direct } = await pair('read-cut');
    await direct.writeLtxFile(9, 1n, 3n, chunked(bytes));
    await through.init();
    proxy.resetCounts();
    proxy.cutAfterDownstream(700_000);
    const got = await collect(await through.openLtxFile(9, 1n, 3n));
    assert.ok(proxy.cuts >= 1, 'the connection was cut');
    assert.equal(got.length, bytes.length);
    assert.ok(Buffer.from(got).equals(bytes));
    await through.close();
    await direct.close();
  });

  it('a ranged read cut twice still returns exactly the range', async () => {
    const { through, direct } = await pair('range-cut');
    await direct.writeLtxFile(9, 1n, 3n, chunked(bytes));
    await through.init();
    proxy.resetCounts();
    proxy.cutAfterDownstream(400_000);
    const offset = 300_001;
    const size = 1_200_000;
    const stream = await through.openLtxFile(9, 1n, 3n, { offset, size });
    const parts: Uint8Array[] = [];
    for await (const c of stream) {
      parts.push(c);
      if (parts.length === 2) proxy.cutAfterDownstream(200_000);
    }
    const got = Buffer.concat(parts);
    assert.ok(proxy.cuts >= 2, `cut twice (${proxy.cuts})`);
    assert.ok(got.equals(bytes.subarray(offset, offset + size)));
    await through.close();
    await direct.close();
  });

  it('a read that stalls is given up after the idle timeout and resumed on a new connection', async () => {
    const { through, direct } = await pair('read-stall');
    // Large enough that most of it is still to come when the stall begins.
    const big = await makeLtxFile({ minTxid: 1n, maxTxid: 3n, timestamp: T0, pages: 4000, pageSize: 4096, incompressible: true });
    await direct.writeLtxFile(9, 1n, 3n, chunked(big));
    await through.init();
    const connects = through.connection.connects;
    const stream = await through.openLtxFile(9, 1n, 3n);
    const parts: Uint8Array[] = [];
    let resumed: Promise<void> | undefined;
    try {
      for await (const c of stream) {
        parts.push(c);
        if (resumed === undefined) {
          proxy.stall();
          resumed = new Promise((res) => setTimeout(res, STALL_MS)).then(() => proxy.resume());
        }
      }
    } finally {
      await resumed;
      proxy.resume();
    }
    assert.ok(Buffer.concat(parts).equals(big));
    assert.ok(through.connection.connects > connects, 'a new connection was opened');
    await through.close();
    await direct.close();
  });

  it('a resumed read refuses to splice in an object replaced meanwhile', async () => {
    const { through, direct } = await pair('read-replaced');
    const big = await makeLtxFile({ minTxid: 1n, maxTxid: 3n, timestamp: T0, pages: 4000, pageSize: 4096, incompressible: true });
    await direct.writeLtxFile(9, 1n, 3n, chunked(big));
    const stream = await through.openLtxFile(9, 1n, 3n);
    let resumed: Promise<void> | undefined;
    try {
      await assert.rejects(
        (async () => {
          for await (const c of stream) {
            assert.ok(c.length > 0);
            if (resumed === undefined) {
              proxy.stall();
              // The new version goes in past the proxy while the read is held up.
              const other = await makeLtxFile({ minTxid: 1n, maxTxid: 3n, timestamp: T0 + 1, pages: 10 });
              await direct.writeLtxFile(9, 1n, 3n, chunked(other));
              resumed = new Promise((res) => setTimeout(res, STALL_MS)).then(() => proxy.resume());
            }
          }
        })(),
        (err: unknown) => {
          assert.ok(err instanceof NatsStorageError, String(err));
          assert.match(err.message, /reading ltx\/9\/0000000000000001-0000000000000003\.ltx: the object was replaced while being read/);
          return true;
        },
      );
    } finally {
      await resumed;
      proxy.resume();
    }
    await through.close();
    await direct.close();
  });

  it('gives up, with one transient error, when the server stays out of reach', async () => {
    const { through, direct } = await pair('read-gone', { ...FAULT_TUNING, retry: { ...FAULT_TUNING.retry, maxTries: 3 } });
    await direct.writeLtxFile(9, 1n, 3n, chunked(bytes));
    const stream = await through.openLtxFile(9, 1n, 3n);
    proxy.refuse(true);
    proxy.cutAll();
    try {
      await assert.rejects(collect(stream), (err: unknown) => {
        assert.ok(err instanceof NatsStorageError, String(err));
        assert.match(err.message, /^nats:\/\/127\.0\.0\.1:\d+\/read-gone-\d+: reading ltx\/9\/0000000000000001-0000000000000003\.ltx: /);
        assert.doesNotMatch(err.message, /\n/);
        assert.equal(isPermanentError(err), false);
        return true;
      });
    } finally {
      proxy.refuse(false);
    }
    await through.close();
    await direct.close();
  });
});

describe('NATS writes and listings through broken connections', () => {
  it('an upload cut midway is sent again whole; the object appears once, byte-exact', async () => {
    const { through, direct } = await pair('write-cut');
    const bytes = await makeLtxFile({ minTxid: 4n, maxTxid: 4n, timestamp: T0, pages: 200, pageSize: 4096, incompressible: true });
    await through.init();
    proxy.resetCounts();
    proxy.cutAfterUpstream(300_000);
    const info = await through.writeLtxFile(0, 4n, 4n, chunked(bytes));
    assert.ok(proxy.cuts >= 1, 'the connection was cut');
    assert.equal(info.size, bytes.length);
    const listed = await listAll(direct.ltxFiles(0));
    assert.deepEqual(listed, [{ level: 0, minTxid: 4n, maxTxid: 4n, size: bytes.length, createdAt: new Date(T0) }]);
    assert.ok(Buffer.from(await collect(await direct.openLtxFile(0, 4n, 4n))).equals(bytes));
    await through.close();
    await direct.close();
  });

  it('connections refused for a while: retried with backoff until the server is back', async () => {
    const { through, direct } = await pair('refused');
    proxy.resetCounts();
    proxy.refuse(true);
    setTimeout(() => proxy.refuse(false), 600);
    await through.init();
    assert.ok(proxy.connections >= 2, `retried (${proxy.connections} connections)`);
    assert.deepEqual(await listAll(through.ltxFiles(0)), []);
    await through.close();
    await direct.close();
  });

  it('a stalled listing is abandoned after the request timeout and retried', async () => {
    const { through, direct } = await pair('list-stall');
    const b = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
    await direct.writeLtxFile(0, 1n, 1n, chunked(b));
    await through.init();
    proxy.stall();
    setTimeout(() => proxy.resume(), 6_000);
    const listed = await listAll(through.ltxFiles(0));
    assert.deepEqual(
      listed.map((f) => f.maxTxid),
      [1n],
    );
    await through.close();
    await direct.close();
  });
});

describe('replication through drops, stalls and resets', () => {
  it('converges with nothing lost, and a restore through more cuts and a stall equals the source', async () => {
    await withTempDir(async (tmp) => {
      const { through: client, direct } = await pair('replication');
      const dbPath = join(tmp, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const rep = await DbReplicator.open({ dbPath, client, uploadRetryBaseMs: 5, uploadRetryMaxMs: 50, replicaCheckIntervalMs: 0, checkpointIntervalMs: 0 });
      let txid: bigint;
      try {
        insert(app, 50);
        await rep.syncAndWait({ timeoutMs: 30_000 });
        proxy.resetCounts();
        for (let i = 0; i < 6; i++) {
          if (i % 2 === 0) proxy.cutAfterUpstream(1_000 + i * 700);
          insert(app, 40 + i * 10);
          if (i === 3) app.exec('DELETE FROM t WHERE id % 7 = 0');
          if (i === 1) setTimeout(() => proxy.cutAll(), 5);
          if (i === 4) {
            proxy.stall();
            setTimeout(() => proxy.resume(), STALL_MS);
          }
          const cutsBefore = proxy.cuts;
          await rep.sync();
          await waitFor(() => proxy.cuts > cutsBefore || rep.status().replicatedTxid >= rep.status().localTxid, 60_000);
        }
        txid = await rep.syncAndWait({ timeoutMs: 90_000 });
        assert.ok(proxy.cuts >= 2, `connections were cut (${proxy.cuts})`);
      } finally {
        proxy.cutAfterUpstream(Number.MAX_SAFE_INTEGER);
        proxy.resume();
        await rep.close();
        await client.close();
      }
      const l0 = await listAll(direct.ltxFiles(0));
      assert.deepEqual(
        l0.map((f) => f.maxTxid),
        Array.from({ length: Number(txid) }, (_, i) => BigInt(i + 1)),
        'every TXID reached the replica once, in order',
      );
      await direct.close();

      const { through: reader } = { through: testNatsClient(proxy.port, client.settings.bucket, FAULT_TUNING) };
      proxy.resetCounts();
      let armed = 0;
      proxy.cutAfterDownstream(40_000);
      const cutter = setInterval(() => {
        if (proxy.cuts > armed && armed < 4) proxy.cutAfterDownstream(40_000 + 10_000 * ++armed);
      }, 20);
      const out = join(tmp, 'restored.db');
      try {
        await restore({ client: reader, outputPath: out, parallelism: 3 });
      } finally {
        clearInterval(cutter);
        proxy.cutAfterDownstream(Number.MAX_SAFE_INTEGER);
        await reader.close();
      }
      assert.ok(proxy.cuts >= 1, 'the restore lost connections');
      const got = restoredState(out);
      assert.equal(got.integrity, 'ok');
      assert.deepEqual(got.dump, logicalDump(app));
      app.close();
    });
  });
});
