import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaultInjectingClient } from '../../../src/storage/fault-injecting-client.js';
import { runReplicaClientConformance } from '../conformance.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { startGsServer, type GsTestServer } from './gs-server.js';
import { testGsClient, TEST_TUNING } from './helpers.js';

const BUCKET = 'tidemark-conformance';
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 120);
let server: Promise<GsTestServer> | undefined;
let runs = 0;

function emulator(): Promise<GsTestServer> {
  server ??= startGsServer();
  return server;
}

after(async () => {
  await (await server)?.stop();
});

// Every test gets a path of its own in the shared bucket, which is all a replica sees.
runReplicaClientConformance('gs (the Firebase Cloud Storage emulator on loopback)', async () => {
  const srv = await emulator();
  const client = testGsClient(srv.origin, BUCKET, `conformance/run-${++runs}`);
  return { client, cleanup: async () => undefined };
});

runReplicaClientConformance('gs behind a FaultInjectingClient with no faults', async () => {
  const srv = await emulator();
  const inner = testGsClient(srv.origin, BUCKET, `conformance/wrapped-${++runs}`);
  return { client: new FaultInjectingClient(inner), cleanup: async () => undefined };
});

describe('GsReplicaClient on the emulator', () => {
  it('streams a file larger than the single-request limit through a resumable upload, with the metadata, and reads it back', async () => {
    const srv = await emulator();
    const client = testGsClient(srv.origin, BUCKET, 'resumable', { ...TEST_TUNING, singleUploadLimit: 256 * 1024 });
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 9n, timestamp: T0, pages: 400, pageSize: 4096, incompressible: true });
    assert.ok(bytes.length > 4 * client.singleUploadLimit, 'well past the limit');
    const info = await client.writeLtxFile(9, 1n, 9n, chunked(bytes, 100_000));
    assert.deepEqual(info, { level: 9, minTxid: 1n, maxTxid: 9n, size: bytes.length, createdAt: new Date(T0) });
    const [meta] = await srv.raw().bucket(BUCKET).file('resumable/ltx/9/0000000000000001-0000000000000009.ltx').getMetadata();
    assert.equal(Number(meta.size), bytes.length);
    assert.deepEqual(meta.metadata, { 'litestream-timestamp': '2024-01-02T03:04:05.12Z' });
    assert.equal(meta.contentType, 'application/octet-stream');
    assert.ok(Buffer.from(await collect(await client.openLtxFile(9, 1n, 9n))).equals(bytes));
    const mid = await collect(await client.openLtxFile(9, 1n, 9n, { offset: 600_000, size: 300_000 }));
    assert.ok(Buffer.from(mid).equals(bytes.subarray(600_000, 900_000)));
  });

  it('lists levels with more than one page of names, filtering by seek, and deleteAll empties them', async () => {
    const srv = await emulator();
    const client = testGsClient(srv.origin, BUCKET, 'paged', { ...TEST_TUNING, listPageSize: 7 });
    const n = 40;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const t = BigInt(i + 1);
        await client.writeLtxFile(0, t, t, chunked(await makeLtxFile({ minTxid: t, maxTxid: t, timestamp: T0 })));
      }),
    );
    const all = await listAll(client.ltxFiles(0));
    assert.deepEqual(
      all.map((f) => f.minTxid),
      Array.from({ length: n }, (_, i) => BigInt(i + 1)),
    );
    assert.ok(all.every((f) => f.createdAt.getTime() === T0));
    const tail = await listAll(client.ltxFiles(0, 33n));
    assert.deepEqual(
      tail.map((f) => f.minTxid),
      Array.from({ length: n - 32 }, (_, i) => BigInt(i + 33)),
    );
    await client.deleteAll();
    assert.deepEqual(await listAll(client.ltxFiles(0)), []);
  });
});
