import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { restore } from '../../../src/restore/restore.js';
import { isPermanentError } from '../../../src/storage/permanent-error.js';
import { SftpStorageError } from '../../../src/storage/sftp/sftp-errors.js';
import { SFTP_READ_CHUNK_SIZE, type SftpClientTuning } from '../../../src/storage/sftp/sftp-replica-client.js';
import { logicalDump, openAppDb, withTempDir, type LogicalDump } from '../../replication/helpers.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { testSftpClient } from './helpers.js';
import { startSftpServer, type SftpTestServer } from './sftp-server.js';
import { TcpFaultProxy } from './tcp-fault-proxy.js';

const T0 = Date.UTC(2024, 6, 1, 2, 3, 4, 500);
/** Short timeouts, so a stall is noticed and the operation retried within the test. */
const FAULT_TUNING: SftpClientTuning = { requestTimeoutMs: 1_000, connectTimeoutMs: 2_000, maxAttempts: 6 };
/** How long a stall lasts: longer than the request timeout, so it is detected. */
const STALL_MS = 2_500;

let srv: SftpTestServer;
let proxy: TcpFaultProxy;

before(async () => {
  srv = await startSftpServer();
  proxy = await TcpFaultProxy.start(srv.port);
});

after(async () => {
  await proxy.close();
  await srv.stop();
});

function through(dir: string) {
  return testSftpClient(srv, dir, {}, FAULT_TUNING, proxy.port);
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

/** Every file under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('SFTP uploads through broken connections', () => {
  let bytes: Uint8Array;

  before(async () => {
    bytes = await makeLtxFile({ minTxid: 5n, maxTxid: 9n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
  });

  it('an upload cut mid-transfer fails as a transient error, leaves no final file, and the next try lands whole', async () => {
    const dir = srv.mkdir('cut-upload');
    const client = through(dir);
    try {
      await client.init();
      proxy.resetCounts();
      proxy.cutAfterUpstream(400_000);
      await assert.rejects(client.writeLtxFile(1, 5n, 9n, chunked(bytes, 64 * 1024)), (err: unknown) => {
        assert.ok(err instanceof SftpStorageError, String(err));
        assert.equal(isPermanentError(err), false);
        assert.match(err.message, /writing .*0000000000000005-0000000000000009\.ltx: lost the connection to the SFTP server/);
        return true;
      });
      assert.equal(proxy.cuts, 1);
      assert.equal(existsSync(join(dir, 'ltx', '1', '0000000000000005-0000000000000009.ltx')), false, 'no torn final file');
      await client.writeLtxFile(1, 5n, 9n, chunked(bytes, 64 * 1024));
      assert.deepEqual(tree(dir), ['ltx/1/0000000000000005-0000000000000009.ltx']);
      assert.ok(readFileSync(join(dir, 'ltx', '1', '0000000000000005-0000000000000009.ltx')).equals(bytes));
      assert.equal(proxy.connections, 1, 'reconnected once');
    } finally {
      client.destroy();
    }
  });

  it('a rewrite cut mid-transfer keeps the earlier file intact', async () => {
    const dir = srv.mkdir('cut-rewrite');
    const client = through(dir);
    const first = await makeLtxFile({ minTxid: 5n, maxTxid: 9n, timestamp: T0 - 1000, pages: 3 });
    try {
      await client.writeLtxFile(1, 5n, 9n, chunked(first));
      proxy.cutAfterUpstream(300_000);
      await assert.rejects(client.writeLtxFile(1, 5n, 9n, chunked(bytes, 64 * 1024)), SftpStorageError);
      assert.ok(readFileSync(join(dir, 'ltx', '1', '0000000000000005-0000000000000009.ltx')).equals(first));
      assert.deepEqual(await collect(await client.openLtxFile(1, 5n, 9n)), first);
    } finally {
      client.destroy();
    }
  });

  it('a stale .tmp from a killed upload is replaced and gone afterwards', async () => {
    const dir = srv.mkdir('stale-tmp');
    mkdirSync(join(dir, 'ltx', '0'), { recursive: true });
    writeFileSync(join(dir, 'ltx', '0', '0000000000000005-0000000000000009.ltx.tmp'), randomBytes(900_000));
    const client = through(dir);
    try {
      const small = await makeLtxFile({ minTxid: 5n, maxTxid: 9n, timestamp: T0, pages: 2 });
      await client.writeLtxFile(0, 5n, 9n, chunked(small));
      assert.deepEqual(tree(dir), ['ltx/0/0000000000000005-0000000000000009.ltx']);
      assert.ok(readFileSync(join(dir, 'ltx', '0', '0000000000000005-0000000000000009.ltx')).equals(small));
    } finally {
      client.destroy();
    }
  });

  it('a stalled connection is given up after the request timeout and the operation retried on a new one', async () => {
    const dir = srv.mkdir('stall-list');
    const client = through(dir);
    try {
      await client.writeLtxFile(0, 5n, 9n, chunked(await makeLtxFile({ minTxid: 5n, maxTxid: 9n, timestamp: T0 })));
      proxy.resetCounts();
      proxy.stall();
      const resume = setTimeout(() => proxy.resume(), STALL_MS);
      try {
        const listed = await listAll(client.ltxFiles(0));
        assert.deepEqual(listed.map((f) => f.maxTxid), [9n]);
      } finally {
        clearTimeout(resume);
        proxy.resume();
      }
      assert.ok(proxy.connections >= 1, 'a new connection was opened');
      assert.ok(client.connection.connects >= 2);
    } finally {
      client.destroy();
    }
  });
});

describe('SFTP reads through broken connections', () => {
  const dir = () => join(srv.dir, 'data', 'reads');
  let bytes: Uint8Array;

  before(async () => {
    mkdirSync(dir(), { recursive: true });
    bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    const direct = testSftpClient(srv, dir());
    await direct.writeLtxFile(0, 1n, 1n, chunked(bytes));
    direct.destroy();
  });

  it('a read cut mid-file resumes where it stopped', async () => {
    const client = through(dir());
    try {
      await client.init();
      proxy.resetCounts();
      proxy.cutAfterDownstream(500_000);
      const got = await collect(await client.openLtxFile(0, 1n, 1n));
      assert.equal(proxy.cuts, 1);
      assert.equal(proxy.connections, 1, 'one reconnect');
      assert.ok(Buffer.from(got).equals(bytes));
      const range = await collect(await client.openLtxFile(0, 1n, 1n, { offset: 100_000, size: 700_000 }));
      assert.ok(Buffer.from(range).equals(bytes.subarray(100_000, 800_000)));
    } finally {
      client.destroy();
    }
  });

  it('a ranged read cut twice still returns exactly the range', async () => {
    const client = through(dir());
    try {
      await client.init();
      proxy.cutAfterDownstream(200_000);
      // A range longer than one read chunk, so the second cut hits the chunk read ahead while the first is handed out.
      const size = bytes.length - 100_000;
      assert.ok(size > SFTP_READ_CHUNK_SIZE);
      const stream = (await client.openLtxFile(0, 1n, 1n, { offset: 50_000, size }))[Symbol.asyncIterator]();
      const parts: Uint8Array[] = [];
      for (let r = await stream.next(); r.done !== true; r = await stream.next()) {
        parts.push(r.value);
        if (parts.length === 1) proxy.cutAfterDownstream(10_000);
      }
      assert.ok(Buffer.concat(parts).equals(bytes.subarray(50_000, 50_000 + size)));
      assert.ok(client.connection.connects >= 3);
    } finally {
      client.destroy();
    }
  });

  it('a read that stalls is given up and resumed', async () => {
    const client = through(dir());
    try {
      await client.init();
      const stream = (await client.openLtxFile(0, 1n, 1n))[Symbol.asyncIterator]();
      const first = await stream.next();
      proxy.stall();
      const resume = setTimeout(() => proxy.resume(), STALL_MS);
      const parts: Uint8Array[] = [first.value as Uint8Array];
      try {
        for (let r = await stream.next(); r.done !== true; r = await stream.next()) parts.push(r.value);
      } finally {
        clearTimeout(resume);
        proxy.resume();
      }
      assert.ok(Buffer.concat(parts).equals(bytes));
      assert.ok(client.connection.connects >= 2);
    } finally {
      client.destroy();
    }
  });
});

describe('replication and restore over SFTP through cut and stalled connections', () => {
  it('converges with nothing lost, and a restore through more cuts and a stall equals the source', async () => {
    await withTempDir(async (tmp) => {
      const dir = srv.mkdir('replication');
      const client = through(dir);
      const direct = testSftpClient(srv, dir);
      const dbPath = join(tmp, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const rep = await DbReplicator.open({
        dbPath,
        client,
        uploadRetryBaseMs: 5,
        uploadRetryMaxMs: 50,
        replicaCheckIntervalMs: 0,
        checkpointIntervalMs: 0,
      });
      let txid: bigint;
      try {
        insert(app, 50);
        await rep.syncAndWait({ timeoutMs: 20_000 });
        proxy.resetCounts();
        for (let i = 0; i < 6; i++) {
          proxy.cutAfterUpstream(1_000 + i * 700);
          insert(app, 40 + i * 10);
          if (i === 3) app.exec('DELETE FROM t WHERE id % 7 = 0');
          if (i === 4) {
            proxy.stall();
            setTimeout(() => proxy.resume(), STALL_MS);
          }
          const cutsBefore = proxy.cuts;
          await rep.sync();
          // Each round's upload runs under its own armed cut: on a loaded machine the next round must not re-arm it first.
          await waitFor(() => proxy.cuts > cutsBefore || rep.status().replicatedTxid >= rep.status().localTxid, 30_000);
        }
        txid = await rep.syncAndWait({ timeoutMs: 60_000 });
        assert.ok(proxy.cuts >= 3, `connections were cut (${proxy.cuts})`);
      } finally {
        proxy.cutAfterUpstream(Number.MAX_SAFE_INTEGER);
        await rep.close();
        client.destroy();
      }
      const l0 = await listAll(direct.ltxFiles(0));
      assert.deepEqual(
        l0.map((f) => f.maxTxid),
        Array.from({ length: Number(txid) }, (_, i) => BigInt(i + 1)),
        'every TXID reached the replica once, in order',
      );
      assert.deepEqual(
        tree(dir).filter((f) => f.endsWith('.tmp')),
        [],
        'no upload left a .tmp behind',
      );
      direct.destroy();

      const reader = through(dir);
      proxy.resetCounts();
      // A handful of cuts spread over the restore, each after enough bytes for the handshake and some data.
      let armed = 0;
      proxy.cutAfterDownstream(40_000);
      const cutter = setInterval(() => {
        if (proxy.cuts > armed && armed < 5) proxy.cutAfterDownstream(40_000 + 10_000 * ++armed);
      }, 20);
      const staller = setTimeout(() => {
        proxy.stall();
        setTimeout(() => proxy.resume(), STALL_MS);
      }, 100);
      const out = join(tmp, 'restored.db');
      try {
        await restore({ client: reader, outputPath: out, parallelism: 3 });
      } finally {
        clearInterval(cutter);
        clearTimeout(staller);
        proxy.cutAfterDownstream(Number.MAX_SAFE_INTEGER);
        proxy.resume();
        reader.destroy();
      }
      assert.ok(proxy.cuts >= 1, 'the restore lost connections');
      const got = restoredState(out);
      assert.equal(got.integrity, 'ok');
      assert.deepEqual(got.dump, logicalDump(app));
      app.close();
    });
  });
});
