import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { FaultInjectingClient } from '../../../src/storage/fault-injecting-client.js';
import { runReplicaClientConformance } from '../conformance.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { startS3Server, type S3TestServer } from './s3-server.js';
import { testS3Client } from './helpers.js';

const BUCKET = 'tidemark-conformance';
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 120);
let server: Promise<S3TestServer> | undefined;
let runs = 0;

function s3(): Promise<S3TestServer> {
  server ??= startS3Server([BUCKET]);
  return server;
}

after(async () => {
  await (await server)?.stop();
});

// Every test gets a prefix of its own in the shared bucket, which is all a replica sees.
runReplicaClientConformance('s3 (s3rver on loopback)', async () => {
  const srv = await s3();
  const client = testS3Client(srv.endpoint, BUCKET, `conformance/run-${++runs}`);
  return { client, cleanup: async () => client.destroy() };
});

runReplicaClientConformance('s3 behind a FaultInjectingClient with no faults', async () => {
  const srv = await s3();
  const inner = testS3Client(srv.endpoint, BUCKET, `conformance/wrapped-${++runs}`);
  return { client: new FaultInjectingClient(inner), cleanup: async () => inner.destroy() };
});

describe('S3ReplicaClient on s3rver', () => {
  it('uploads a file larger than the part size as a multipart upload, with its metadata, and reads it back', async () => {
    const srv = await s3();
    const client = testS3Client(srv.endpoint, BUCKET, 'multipart');
    try {
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 9n, timestamp: T0, pages: 2900, pageSize: 4096, incompressible: true });
      assert.ok(bytes.length > 2 * client.settings.partSize, 'spans more than two parts');
      const info = await client.writeLtxFile(9, 1n, 9n, chunked(bytes, 100_000));
      assert.deepEqual(info, { level: 9, minTxid: 1n, maxTxid: 9n, size: bytes.length, createdAt: new Date(T0) });
      const raw = srv.raw();
      const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'multipart/0009/0000000000000001-0000000000000009.ltx' }));
      assert.equal(head.ContentLength, bytes.length);
      assert.equal(head.Metadata?.['litestream-timestamp'], '2024-01-02T03:04:05.12Z');
      assert.ok(Buffer.from(await collect(await client.openLtxFile(9, 1n, 9n))).equals(bytes));
      const mid = await collect(await client.openLtxFile(9, 1n, 9n, { offset: 6_000_000, size: 300_000 }));
      assert.ok(Buffer.from(mid).equals(bytes.subarray(6_000_000, 6_300_000)));
    } finally {
      client.destroy();
    }
  });

  it('lists levels with more than one page of keys, seeking with StartAfter', async () => {
    const srv = await s3();
    const client = testS3Client(srv.endpoint, BUCKET, 'paged');
    try {
      const raw = srv.raw();
      // Just over one page of 1000 keys.
      const n = 1010;
      for (let batch = 0; batch < n; batch += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, n - batch) }, async (_, i) => {
            const t = BigInt(batch + i + 1);
            const bytes = await makeLtxFile({ minTxid: t, maxTxid: t, timestamp: T0 });
            await client.writeLtxFile(0, t, t, chunked(bytes));
          }),
        );
      }
      const page = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'paged/0000/' }));
      assert.equal(page.IsTruncated, true, 'the server pages the listing');
      const all = await listAll(client.ltxFiles(0));
      assert.deepEqual(
        all.map((f) => f.minTxid),
        Array.from({ length: n }, (_, i) => BigInt(i + 1)),
      );
      const tail = await listAll(client.ltxFiles(0, 995n));
      assert.deepEqual(
        tail.map((f) => f.minTxid),
        Array.from({ length: n - 994 }, (_, i) => BigInt(i + 995)),
      );
      const stamped = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
      assert.equal(stamped.length, n);
      assert.ok(stamped.every((f) => f.createdAt.getTime() === T0));
      await client.deleteAll();
      assert.deepEqual(await listAll(client.ltxFiles(0)), []);
    } finally {
      client.destroy();
    }
  });
});
