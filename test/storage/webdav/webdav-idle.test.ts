import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { openAppDb, withTempDir } from '../../replication/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { testWebdavClient } from './helpers.js';
import { WebdavFaultProxy } from './webdav-fault-proxy.js';
import { startWebdavServer, type WebdavTestServer } from './webdav-server.js';

/** Requests are counted over this window while the database sits idle. */
const IDLE_WINDOW_MS = 5000;
/** Short, so the window spans 50 sync intervals. */
const SYNC_INTERVAL_MS = 100;

let server: WebdavTestServer;
let proxy: WebdavFaultProxy;

before(async () => {
  server = await startWebdavServer();
  proxy = await WebdavFaultProxy.start(server.origin);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

describe('an idle replicator on WebDAV', () => {
  it('makes no request at all once the last write is on the replica, and resumes on the next write', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      app.prepare('INSERT INTO t (v) VALUES (?)').run('first');
      const client = testWebdavClient(server, 'idle', { port: proxy.port });
      const rep = await DbReplicator.open({ dbPath, client, syncIntervalMs: SYNC_INTERVAL_MS });
      const direct = testWebdavClient(server, 'idle');
      try {
        rep.start();
        await rep.syncAndWait({ timeoutMs: 20_000 });
        await sleep(5 * SYNC_INTERVAL_MS);
        proxy.resetCounts();
        await sleep(IDLE_WINDOW_MS);
        assert.deepEqual(proxy.counts, {});

        app.prepare('INSERT INTO t (v) VALUES (?)').run('second');
        const txid = await rep.syncAndWait({ timeoutMs: 20_000 });
        assert.ok((proxy.counts['PUT'] ?? 0) >= 1, 'the next write is uploaded');
        assert.ok((proxy.counts['MOVE'] ?? 0) >= 1);
        assert.deepEqual(
          (await listAll(direct.ltxFiles(0))).map((f) => f.maxTxid),
          Array.from({ length: Number(txid) }, (_, i) => BigInt(i + 1)),
        );
      } finally {
        await rep.close();
        client.destroy();
        direct.destroy();
        app.close();
      }
    });
  });
});
