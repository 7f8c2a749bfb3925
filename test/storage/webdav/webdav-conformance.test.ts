import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaultInjectingClient } from '../../../src/storage/fault-injecting-client.js';
import { runReplicaClientConformance } from '../conformance.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { testWebdavClient, TEST_TUNING } from './helpers.js';
import { settleDirectWrites, startWebdavServer, type WebdavTestServer } from './webdav-server.js';

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 120);
let http: Promise<WebdavTestServer> | undefined;
let https: Promise<WebdavTestServer> | undefined;
let runs = 0;

function plain(): Promise<WebdavTestServer> {
  http ??= startWebdavServer();
  return http;
}

function tls(): Promise<WebdavTestServer> {
  https ??= startWebdavServer({ tls: true });
  return https;
}

after(async () => {
  await (await http)?.stop();
  await (await https)?.stop();
});

// Every test gets a path of its own on the shared server, which is all a replica sees.
runReplicaClientConformance('webdav (rclone serve webdav on loopback)', async () => {
  const client = testWebdavClient(await plain(), `conformance/run-${++runs}`);
  return { client, cleanup: async () => client.destroy() };
});

runReplicaClientConformance('webdavs (rclone serve webdav with TLS from a test CA)', async () => {
  const client = testWebdavClient(await tls(), `conformance/tls-${++runs}`);
  return { client, cleanup: async () => client.destroy() };
});

runReplicaClientConformance('webdav behind a FaultInjectingClient with no faults', async () => {
  const inner = testWebdavClient(await plain(), `conformance/wrapped-${++runs}`);
  return { client: new FaultInjectingClient(inner), cleanup: async () => inner.destroy() };
});

describe('WebdavReplicaClient on rclone', () => {
  it('stages a file larger than the memory limit in a local file, uploads it whole and reads it back in ranges', async () => {
    const srv = await plain();
    const client = testWebdavClient(srv, 'staged', { tuning: { ...TEST_TUNING, memoryUploadLimit: 256 * 1024 } });
    try {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 9n, timestamp: T0, pages: 400, pageSize: 4096, incompressible: true });
      assert.ok(bytes.length > 4 * client.memoryUploadLimit);
      const info = await client.writeLtxFile(9, 1n, 9n, chunked(bytes, 100_000));
      assert.deepEqual(info, { level: 9, minTxid: 1n, maxTxid: 9n, size: bytes.length, createdAt: new Date(T0) });
      assert.ok(readFileSync(join(srv.dir, 'staged', 'ltx', '9', '0000000000000001-0000000000000009.ltx')).equals(bytes));
      assert.deepEqual(readdirSync(join(srv.dir, 'staged', 'ltx', '9')), ['0000000000000001-0000000000000009.ltx']);
      assert.ok(Buffer.from(await collect(await client.openLtxFile(9, 1n, 9n))).equals(bytes));
      const mid = await collect(await client.openLtxFile(9, 1n, 9n, { offset: 600_000, size: 300_000 }));
      assert.ok(Buffer.from(mid).equals(bytes.subarray(600_000, 900_000)));
    } finally {
      client.destroy();
    }
  });

  it('lists a level of 1000 files in one PROPFIND, in order, filtering by seek; deleteAll removes the replica', async () => {
    const srv = await plain();
    // One PROPFIND of a thousand entries may take the loaded server a while.
    const client = testWebdavClient(srv, 'many', { tuning: { ...TEST_TUNING, retry: { ...TEST_TUNING.retry, tryTimeoutMs: 60_000 } } });
    try {
      const n = 1000;
      const one = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      await client.writeLtxFile(0, 1n, 1n, chunked(one));
      // The rest are placed on disk directly: the listing is what is under test, and 1000 uploads would take long on a loaded machine.
      for (let i = 2; i <= n; i++) {
        const t = BigInt(i);
        writeFileSync(join(srv.dir, 'many', 'ltx', '0', `${t.toString(16).padStart(16, '0')}-${t.toString(16).padStart(16, '0')}.ltx`), one);
      }
      await settleDirectWrites();
      const all = await listAll(client.ltxFiles(0));
      assert.deepEqual(
        all.map((f) => f.minTxid),
        Array.from({ length: n }, (_, i) => BigInt(i + 1)),
      );
      const tail = await listAll(client.ltxFiles(0, 901n));
      assert.equal(tail.length, 100);
      assert.equal(tail[0]!.minTxid, 901n);
      await client.deleteAll();
      assert.deepEqual(await listAll(client.ltxFiles(0)), []);
      assert.equal(existsSync(join(srv.dir, 'many')), false);
    } finally {
      client.destroy();
    }
  });
});
