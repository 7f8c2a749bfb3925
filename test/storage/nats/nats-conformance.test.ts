import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Objm } from '@nats-io/obj';
import { FaultInjectingClient } from '../../../src/storage/fault-injecting-client.js';
import { runReplicaClientConformance } from '../conformance.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { startNatsServer, type NatsTestServer } from './nats-server.js';
import { testNatsClient } from './helpers.js';

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 120);
let server: Promise<NatsTestServer> | undefined;
let runs = 0;

function nats(): Promise<NatsTestServer> {
  server ??= startNatsServer();
  return server;
}

after(async () => {
  await (await server)?.stop();
});

/** A NATS replica is a whole bucket, so every test gets a bucket of its own. */
async function freshClient(prefix: string): Promise<ReturnType<typeof testNatsClient>> {
  const srv = await nats();
  const bucket = `${prefix}-${++runs}`;
  await srv.createBucket(bucket);
  return testNatsClient(srv.port, bucket);
}

runReplicaClientConformance('nats (nats-server on loopback)', async () => {
  const client = await freshClient('conformance');
  return { client, cleanup: () => client.close() };
});

runReplicaClientConformance('nats behind a FaultInjectingClient with no faults', async () => {
  const client = await freshClient('wrapped');
  return { client: new FaultInjectingClient(client), cleanup: () => client.close() };
});

describe('NatsReplicaClient on nats-server', () => {
  it('stores a file of many chunks and reads any range of it, skipping to the offset and stopping at the end', async () => {
    const client = await freshClient('chunks');
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 9n, timestamp: T0, pages: 300, pageSize: 4096, incompressible: true });
    const info = await client.writeLtxFile(9, 1n, 9n, chunked(bytes, 100_000));
    assert.deepEqual(info, { level: 9, minTxid: 1n, maxTxid: 9n, size: bytes.length, createdAt: new Date(T0) });
    const nc = await (await nats()).raw();
    const stored = await (await new Objm(nc).open(client.settings.bucket)).info('ltx/9/0000000000000001-0000000000000009.ltx');
    assert.ok(stored !== null && stored.chunks > 5, 'spans several chunks');
    assert.equal(stored.size, bytes.length);
    assert.ok(Buffer.from(await collect(await client.openLtxFile(9, 1n, 9n))).equals(bytes));
    for (const [offset, size] of [
      [131_072, 131_072],
      [131_071, 2],
      [600_000, 300_000],
      [bytes.length - 1, 0],
      [5, 1],
    ] as const) {
      const got = await collect(await client.openLtxFile(9, 1n, 9n, { offset, size }));
      assert.ok(Buffer.from(got).equals(bytes.subarray(offset, size === 0 ? undefined : offset + size)), `offset ${offset} size ${size}`);
    }
    await client.close();
  });

  it('lists a bucket of hundreds of objects completely, by level and seek', async () => {
    const client = await freshClient('many');
    const n = 300;
    const bytes = await Promise.all(Array.from({ length: n }, (_, i) => makeLtxFile({ minTxid: BigInt(i + 1), maxTxid: BigInt(i + 1), timestamp: T0 })));
    for (let i = 0; i < n; i += 30) {
      await Promise.all(bytes.slice(i, i + 30).map((b, j) => client.writeLtxFile((i + j) % 2, BigInt(i + j + 1), BigInt(i + j + 1), chunked(b))));
    }
    const l0 = await listAll(client.ltxFiles(0));
    const l1 = await listAll(client.ltxFiles(1));
    assert.equal(l0.length + l1.length, n);
    assert.deepEqual(
      l0.map((f) => f.minTxid),
      Array.from({ length: n / 2 }, (_, i) => BigInt(2 * i + 1)),
    );
    assert.ok(l1.every((f) => f.createdAt.getTime() === T0));
    assert.deepEqual(
      (await listAll(client.ltxFiles(1, 291n))).map((f) => f.minTxid),
      [292n, 294n, 296n, 298n, 300n],
    );
    await client.deleteAll();
    assert.deepEqual(await listAll(client.ltxFiles(0)), []);
    await client.close();
  });

  it('closes its connection when idle and opens a new one for the next request', async () => {
    const client = await freshClient('idle-close');
    await client.init();
    assert.equal(client.connection.connects, 1);
    assert.equal(client.connection.open, true);
    const started = Date.now();
    while (client.connection.open) {
      assert.ok(Date.now() - started < 20_000, 'the idle connection was closed');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(await listAll(client.ltxFiles(0)), []);
    assert.equal(client.connection.connects, 2);
    await client.close();
  });
});
