import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { openAppDb, withTempDir } from '../../replication/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { TcpFaultProxy } from '../sftp/tcp-fault-proxy.js';
import { startNatsServer, type NatsTestServer } from './nats-server.js';
import { testNatsClient, TEST_TUNING } from './helpers.js';

/** Requests are counted over this window while the database sits idle. */
const IDLE_WINDOW_MS = 5000;
/** Short, so the window spans 50 sync intervals. */
const SYNC_INTERVAL_MS = 100;

let server: NatsTestServer;
let proxy: TcpFaultProxy;

before(async () => {
  server = await startNatsServer();
  proxy = await TcpFaultProxy.start(server.port);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

describe('an idle replicator on NATS', () => {
  for (const [name, idleCloseMs] of [
    ['closing its idle connection (the default)', TEST_TUNING.idleCloseMs!],
    ['keeping its connection open', 60_000],
  ] as const) {
    it(`makes no object store request once the last write is on the replica, ${name}; the next write is uploaded`, async () => {
      const bucket = `idle-${idleCloseMs}`;
      await server.createBucket(bucket);
      await withTempDir(async (dir) => {
        const dbPath = join(dir, 'app.db');
        const app = openAppDb(dbPath);
        app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
        app.prepare('INSERT INTO t (v) VALUES (?)').run('first');
        const client = testNatsClient(proxy.port, bucket, { ...TEST_TUNING, idleCloseMs });
        const rep = await DbReplicator.open({ dbPath, client, syncIntervalMs: SYNC_INTERVAL_MS });
        try {
          rep.start();
          await rep.syncAndWait({ timeoutMs: 20_000 });
          await sleep(5 * SYNC_INTERVAL_MS + TEST_TUNING.idleCloseMs!);
          proxy.resetCounts();
          const apiBefore = await server.apiRequests();
          await sleep(IDLE_WINDOW_MS);
          assert.equal(await server.apiRequests(), apiBefore, 'no JetStream API request');
          assert.equal(proxy.connections, 0, 'no connection opened');
          if (idleCloseMs < IDLE_WINDOW_MS) {
            assert.deepEqual({ up: proxy.bytesUp, down: proxy.bytesDown }, { up: 0, down: 0 }, 'the closed connection sends nothing');
          } else {
            // An open connection may carry the protocol's keep-alive (PING\r\n and PONG\r\n, 6 bytes each) and nothing more.
            assert.ok(proxy.bytesUp % 6 === 0 && proxy.bytesUp <= 12 && proxy.bytesDown % 6 === 0 && proxy.bytesDown <= 12, `keep-alives only: ${proxy.bytesUp} up, ${proxy.bytesDown} down`);
          }

          app.prepare('INSERT INTO t (v) VALUES (?)').run('second');
          const txid = await rep.syncAndWait({ timeoutMs: 20_000 });
          assert.ok(proxy.bytesUp > 0, 'the next write is uploaded');
          const direct = testNatsClient(server.port, bucket);
          assert.deepEqual(
            (await listAll(direct.ltxFiles(0))).map((f) => f.maxTxid),
            Array.from({ length: Number(txid) }, (_, i) => BigInt(i + 1)),
          );
          await direct.close();
        } finally {
          await rep.close();
          await client.close();
          app.close();
        }
      });
    });
  }
});
