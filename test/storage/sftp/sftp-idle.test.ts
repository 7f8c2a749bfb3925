import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { openAppDb, withTempDir } from '../../replication/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { testSftpClient } from './helpers.js';
import { startSftpServer, type SftpTestServer } from './sftp-server.js';
import { TcpFaultProxy } from './tcp-fault-proxy.js';

/** Bytes are counted over this window while the database sits idle. */
const IDLE_WINDOW_MS = 4000;
/** Short, so the window spans 40 sync intervals. */
const SYNC_INTERVAL_MS = 100;
/** Long enough for a loaded machine to finish a sync, short for the test. */
const IDLE_CLOSE_MS = 1500;

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

describe('an idle replicator on SFTP', () => {
  it('sends not one byte once the last write is on the replica, and resumes on the next write', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      app.prepare('INSERT INTO t (v) VALUES (?)').run('first');
      const remote = srv.mkdir('idle');
      const client = testSftpClient(srv, remote, {}, {}, proxy.port);
      const rep = await DbReplicator.open({ dbPath, client, syncIntervalMs: SYNC_INTERVAL_MS });
      try {
        rep.start();
        await rep.syncAndWait({ timeoutMs: 20_000 });
        await sleep(5 * SYNC_INTERVAL_MS);
        proxy.resetCounts();
        await sleep(IDLE_WINDOW_MS);
        assert.deepEqual({ up: proxy.bytesUp, down: proxy.bytesDown, connections: proxy.connections }, { up: 0, down: 0, connections: 0 });
        assert.equal(proxy.open, 1, 'the connection stays open meanwhile');

        app.prepare('INSERT INTO t (v) VALUES (?)').run('second');
        const txid = await rep.syncAndWait({ timeoutMs: 20_000 });
        assert.ok(proxy.bytesUp > 0, 'the next write is uploaded');
        const direct = testSftpClient(srv, remote);
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

  it('closes the connection after a long idle spell and opens a new one for the next write', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const client = testSftpClient(srv, srv.mkdir('idle-close'), {}, { idleCloseMs: IDLE_CLOSE_MS }, proxy.port);
      const rep = await DbReplicator.open({ dbPath, client, syncIntervalMs: SYNC_INTERVAL_MS });
      try {
        rep.start();
        await rep.syncAndWait({ timeoutMs: 20_000 });
        const opened = client.connection.connects;
        const started = Date.now();
        while (proxy.open > 0) {
          assert.ok(Date.now() - started < 20_000, 'the idle connection was never closed');
          await sleep(100);
        }
        assert.equal(client.connection.isOpen, false);
        app.prepare('INSERT INTO t (v) VALUES (?)').run('after the close');
        await rep.syncAndWait({ timeoutMs: 20_000 });
        assert.equal(client.connection.connects, opened + 1);
      } finally {
        await rep.close();
        app.close();
        client.destroy();
      }
    });
  });
});
