import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { openAppDb, withTempDir } from '../../replication/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { FaultProxy } from './fault-proxy.js';
import { testS3Client } from './helpers.js';
import { startS3Server, type S3TestServer } from './s3-server.js';

const BUCKET = 'tidemark-idle';
/** Requests are counted over this window while the database sits idle (the benchmark watches 60 s). */
const IDLE_WINDOW_MS = 5000;
/** Short, so the window spans 50 sync intervals. */
const SYNC_INTERVAL_MS = 100;

let server: S3TestServer;
let proxy: FaultProxy;

before(async () => {
  server = await startS3Server([BUCKET]);
  proxy = await FaultProxy.start(server.endpoint);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

describe('an idle replicator on S3', () => {
  it('makes no request at all once the last write is on the replica, and resumes on the next write', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      app.prepare('INSERT INTO t (v) VALUES (?)').run('first');
      const client = testS3Client(proxy.endpoint, BUCKET, 'idle');
      const rep = await DbReplicator.open({ dbPath, client, syncIntervalMs: SYNC_INTERVAL_MS });
      try {
        rep.start();
        await rep.syncAndWait({ timeoutMs: 20_000 });
        // A few sync intervals with nothing new, then the window.
        await sleep(5 * SYNC_INTERVAL_MS);
        proxy.resetCounts();
        await sleep(IDLE_WINDOW_MS);
        assert.deepEqual(proxy.counts, { list: 0, get: 0, head: 0, put: 0, post: 0, delete: 0, other: 0 });

        app.prepare('INSERT INTO t (v) VALUES (?)').run('second');
        const txid = await rep.syncAndWait({ timeoutMs: 20_000 });
        assert.ok(proxy.counts.put >= 1, 'the next write is uploaded');
        const direct = testS3Client(server.endpoint, BUCKET, 'idle');
        assert.deepEqual(
          (await listAll(direct.ltxFiles(0))).map((f) => f.maxTxid),
          Array.from({ length: Number(txid) }, (_, i) => BigInt(i + 1)),
        );
        direct.destroy();
      } finally {
        await rep.close();
        app.close();
        client.destroy();
      }
    });
  });
});
