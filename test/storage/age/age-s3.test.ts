import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgeReplicaClient } from '../../../src/storage/age/age-replica-client.js';
import { AGE_CHUNK_SIZE, storedSizeOf } from '../../../src/storage/age/age-object-layout.js';
import { runReplicaClientConformance } from '../conformance.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { FaultProxy, type FaultRule } from '../s3/fault-proxy.js';
import { testS3Client } from '../s3/helpers.js';
import { startS3Server, type S3TestServer } from '../s3/s3-server.js';
import { KEY_A } from './age-test-keys.js';

const BUCKET = 'tidemark-age-s3';
const T0 = Date.UTC(2024, 7, 8, 9, 10, 11, 121);
const KEYS = { recipients: [KEY_A.recipient], identities: [KEY_A.identity] };
let server: Promise<S3TestServer> | undefined;
let runs = 0;

function s3(): Promise<S3TestServer> {
  server ??= startS3Server([BUCKET]);
  return server;
}

after(async () => {
  await (await server)?.stop();
});

// The stored timestamp is the public header's, so S3's metadata path (HeadObject per key) is exercised too.
runReplicaClientConformance('age around s3 (s3rver on loopback)', async () => {
  const srv = await s3();
  const inner = testS3Client(srv.endpoint, BUCKET, `conformance/run-${++runs}`);
  return { client: new AgeReplicaClient(inner, KEYS, 'replica s3'), cleanup: async () => inner.destroy() };
});

describe('age around s3 through a fault proxy', () => {
  let proxy: FaultProxy;
  let bytes: Uint8Array;
  before(async () => {
    const srv = await s3();
    proxy = await FaultProxy.start(srv.endpoint);
    bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 200, pageSize: 4096, incompressible: true });
  });
  after(async () => proxy.close());

  async function through<T>(rules: FaultRule[], f: (c: AgeReplicaClient) => Promise<T>): Promise<{ result: T; gets: number; puts: number }> {
    const inner = testS3Client(proxy.endpoint, BUCKET, 'faults');
    try {
      await inner.init();
      proxy.resetCounts();
      for (const r of rules) proxy.inject(r);
      const result = await f(new AgeReplicaClient(inner, KEYS, 'replica s3 faults'));
      return { result, gets: proxy.counts.get, puts: proxy.counts.put };
    } finally {
      proxy.clear();
      inner.destroy();
    }
  }

  it('an upload whose connection is reset is retried and stored whole', async () => {
    const { result } = await through([{ kind: 'reset', on: 'put', times: 2 }], (c) => c.writeLtxFile(0, 1n, 1n, chunked(bytes)));
    assert.equal(result.size, bytes.length);
    const { result: listed } = await through([], (c) => listAll(c.ltxFiles(0, 0n, { useMetadata: true })));
    assert.deepEqual(listed.map((f) => [f.size, f.createdAt.getTime()]), [[bytes.length, T0]]);
  });

  it('a download cut mid-body resumes and decrypts to the same bytes', async () => {
    await through([], (c) => c.writeLtxFile(0, 1n, 1n, chunked(bytes)));
    const { result, gets } = await through([{ kind: 'reset-body', on: 'get', afterBytes: 150_000, times: 3 }], async (c) => collect(await c.openLtxFile(0, 1n, 1n)));
    assert.ok(Buffer.from(result).equals(bytes));
    assert.ok(gets >= 4, `one GET, then one per cut (${gets})`);
  });

  it('a ranged read cut mid-body, and one stalled, still return exactly the range', async () => {
    const offset = 3 * AGE_CHUNK_SIZE + 17;
    const size = 4 * AGE_CHUNK_SIZE;
    // A ranged read past the first chunk makes two GETs (header, then the chunks); the rule's first use
    // falls on the header, too short to be cut, so the second one is what breaks the chunk download.
    for (const rule of [
      { kind: 'reset-body', on: 'get', afterBytes: 70_000, times: 2 },
      { kind: 'stall-body', on: 'get', afterBytes: 100_000, times: 2 },
    ] as FaultRule[]) {
      const { result, gets } = await through([rule], async (c) => collect(await c.openLtxFile(0, 1n, 1n, { offset, size })));
      assert.ok(Buffer.from(result).equals(bytes.subarray(offset, offset + size)), rule.kind);
      assert.equal(gets, 3, `${rule.kind}: header, chunks, then the chunks again from where they stopped`);
    }
  });

  it('what the server holds is the encrypted size, what the client lists is the plaintext size', async () => {
    const srv = await s3();
    const raw = testS3Client(srv.endpoint, BUCKET, 'faults');
    try {
      const [stored] = await listAll(raw.ltxFiles(0));
      assert.equal(stored!.size, storedSizeOf(bytes.length));
    } finally {
      raw.destroy();
    }
  });
});
