import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { openAppDb, withTempDir } from '../../replication/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { GsFaultProxy } from './gs-fault-proxy.js';
import { startGsServer, type GsTestServer } from './gs-server.js';
import { testGsClient } from './helpers.js';

const BUCKET = 'tidemark-idle';
/** Requests are counted over this window while the database sits idle. */
const IDLE_WINDOW_MS = 5000;
/** Short, so the window spans 50 sync intervals. */
const SYNC_INTERVAL_MS = 100;

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

describe('an idle replicator on GCS', () => {
  it('makes no request at all once the last write is on the replica, and resumes on the next write', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      app.prepare('INSERT INTO t (v) VALUES (?)').run('first');
      const client = testGsClient(proxy.origin, BUCKET, 'idle');
      const rep = await DbReplicator.open({ dbPath, client, syncIntervalMs: SYNC_INTERVAL_MS });
      try {
        rep.start();
        await rep.syncAndWait({ timeoutMs: 20_000 });
        await sleep(5 * SYNC_INTERVAL_MS);
        proxy.resetCounts();
        await sleep(IDLE_WINDOW_MS);
        assert.deepEqual(proxy.counts, { list: 0, get: 0, meta: 0, upload: 0, delete: 0, other: 0 });

        app.prepare('INSERT INTO t (v) VALUES (?)').run('second');
        const txid = await rep.syncAndWait({ timeoutMs: 20_000 });
        assert.ok(proxy.counts.upload >= 1, 'the next write is uploaded');
        assert.deepEqual(
          (await listAll(testGsClient(server.origin, BUCKET, 'idle').ltxFiles(0))).map((f) => f.maxTxid),
          Array.from({ length: Number(txid) }, (_, i) => BigInt(i + 1)),
        );
      } finally {
        await rep.close();
        app.close();
      }
    });
  });
});
