import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { decodeHeader } from '../../../src/ltx/header.js';
import { restore } from '../../../src/restore/restore.js';
import { LTX_TESTDATA, VECTOR_SETS, readManifest } from '../../helpers/testdata.js';
import { chunked, collect, listAll } from '../ltx-fixtures.js';
import { FaultProxy } from './fault-proxy.js';
import { testS3Client } from './helpers.js';
import { startS3Server, type S3TestServer } from './s3-server.js';

const BUCKET = 'tidemark-interop';

/** Where each vector goes: the golden files of one database's history, and the checksum-tracking ones at other levels. */
const LEVEL_OF: Record<string, number> = { A_: 8, B_: 8, I_: 8, C_: 0, D_: 0, F_: 0, G_: 0, E_: 1, J_: 1, H_: 9 };

let server: S3TestServer;
let raw: S3Client;

before(async () => {
  server = await startS3Server([BUCKET]);
  raw = server.raw();
});
after(async () => {
  await server.stop();
});

async function objectBytes(key: string): Promise<Uint8Array> {
  const out = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return out.Body!.transformToByteArray();
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

/** Go's RFC3339Nano of a millisecond timestamp, written out by hand for the vectors' round seconds. */
function goTimestamp(ms: number): string {
  assert.equal(ms % 1000, 0, 'the vectors have whole-second timestamps');
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

for (const set of VECTOR_SETS) {
  describe(`S3 layout of Go-written LTX files (${set.dir})`, () => {
    const manifest = readManifest(set.dir, set.manifest);

    function vector(prefix: string): { file: string; bytes: Uint8Array; level: number; minTxid: bigint; maxTxid: bigint; timestamp: number } {
      const entry = manifest.find((e) => e.file.startsWith(prefix));
      assert.ok(entry, `${set.dir} has a ${prefix}* vector`);
      return { file: entry.file, bytes: new Uint8Array(), level: LEVEL_OF[prefix]!, minTxid: 0n, maxTxid: 0n, timestamp: entry.header.Timestamp };
    }

    async function load(prefix: string): Promise<ReturnType<typeof vector>> {
      const v = vector(prefix);
      const bytes = new Uint8Array(await readFile(join(LTX_TESTDATA, set.dir, v.file)));
      const h = decodeHeader(bytes);
      return { ...v, bytes, minTxid: h.minTxid, maxTxid: h.maxTxid };
    }

    it('writes every vector under Litestream\'s key, with its bytes and its litestream-timestamp', async () => {
      const path = `written/${set.dir}`;
      const client = testS3Client(server.endpoint, BUCKET, path);
      const want: string[] = [];
      try {
        for (const prefix of Object.keys(LEVEL_OF)) {
          const v = await load(prefix);
          const info = await client.writeLtxFile(v.level, v.minTxid, v.maxTxid, chunked(v.bytes, 77));
          assert.deepEqual(info, { level: v.level, minTxid: v.minTxid, maxTxid: v.maxTxid, size: v.bytes.length, createdAt: new Date(v.timestamp) });
          const key = `${path}/${v.level.toString(16).padStart(4, '0')}/${v.minTxid.toString(16).padStart(16, '0')}-${v.maxTxid.toString(16).padStart(16, '0')}.ltx`;
          want.push(key);
          assert.deepEqual(await objectBytes(key), v.bytes, v.file);
          const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
          assert.deepEqual(head.Metadata, { 'litestream-timestamp': goTimestamp(v.timestamp) }, v.file);
        }
        assert.deepEqual(await keysUnder(`${path}/`), [...new Set(want)].sort());
      } finally {
        client.destroy();
      }
    });

    it('reads objects placed the way Litestream places them, skips foreign keys, and restores them byte for byte', async () => {
      const path = `placed/${set.dir}`;
      const placed = await Promise.all(['C_', 'D_', 'F_', 'E_'].map(load));
      for (const v of placed) {
        const key = `${path}/${v.level.toString(16).padStart(4, '0')}/${v.minTxid.toString(16).padStart(16, '0')}-${v.maxTxid.toString(16).padStart(16, '0')}.ltx`;
        await raw.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: v.bytes, Metadata: { 'litestream-timestamp': goTimestamp(v.timestamp) } }),
        );
      }
      // Things a bucket shared with other tools may hold: none of them is an LTX file of the level.
      for (const junk of [`${path}/0000/notes.txt`, `${path}/0000/sub/0000000000000009-0000000000000009.ltx`, `${path}/0000/0000000000000009-0000000000000009.ltx.tmp`]) {
        await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: junk, Body: 'x' }));
      }
      const client = testS3Client(server.endpoint, BUCKET, path);
      const dir = await mkdtemp(join(tmpdir(), 'tidemark-s3-interop-'));
      try {
        const l0 = placed.filter((v) => v.level === 0);
        assert.deepEqual(
          await listAll(client.ltxFiles(0, 0n, { useMetadata: true })),
          l0.map((v) => ({ level: 0, minTxid: v.minTxid, maxTxid: v.maxTxid, size: v.bytes.length, createdAt: new Date(v.timestamp) })),
        );
        assert.deepEqual(
          (await listAll(client.ltxFiles(1))).map((f) => [f.minTxid, f.maxTxid, f.size]),
          [[1n, 2n, placed[3]!.bytes.length]],
        );
        for (const v of placed) assert.deepEqual(await collect(await client.openLtxFile(v.level, v.minTxid, v.maxTxid)), v.bytes, v.file);

        const out = join(dir, 'restored.db');
        const r = await restore({ client, outputPath: out });
        assert.equal(r.txid, 3n);
        assert.deepEqual(await readFile(out), await readFile(join(LTX_TESTDATA, set.dir, 'K_restore_C+D+F.db')));
        assert.deepEqual(await readdir(dir), ['restored.db']);
      } finally {
        client.destroy();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

describe('S3 objects from other writers', () => {
  it('falls back to LastModified for an object without a readable litestream-timestamp', async () => {
    const path = 'foreign';
    const bytes = new Uint8Array(await readFile(join(LTX_TESTDATA, 'go-v0.5.1-frame', 'C_snapshot_nochecksum.ltx')));
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${path}/0000/0000000000000001-0000000000000001.ltx`, Body: bytes }));
    await raw.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `${path}/0000/0000000000000002-0000000000000002.ltx`, Body: bytes, Metadata: { 'litestream-timestamp': 'yesterday' } }),
    );
    const client = testS3Client(server.endpoint, BUCKET, path);
    try {
      const cheap = await listAll(client.ltxFiles(0));
      const stamped = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
      assert.equal(stamped.length, 2);
      assert.deepEqual(
        stamped.map((f) => f.createdAt),
        cheap.map((f) => f.createdAt),
      );
      assert.ok(stamped.every((f) => Math.abs(f.createdAt.getTime() - Date.now()) < 60_000), 'LastModified is about now');
    } finally {
      client.destroy();
    }
  });

  it('puts an empty path\'s files under a leading "/", as Litestream does', async () => {
    const proxy = await FaultProxy.start(server.endpoint);
    const client = testS3Client(proxy.endpoint, BUCKET, '');
    try {
      const bytes = new Uint8Array(await readFile(join(LTX_TESTDATA, 'go-v0.5.1-frame', 'C_snapshot_nochecksum.ltx')));
      proxy.resetCounts();
      // s3rver itself cannot store keys with an empty first segment, so only the requests are checked.
      await client.writeLtxFile(0, 1n, 1n, chunked(bytes)).catch(() => undefined);
      await listAll(client.ltxFiles(3)).catch(() => undefined);
      const put = proxy.requests.find((r) => r.kind === 'put');
      assert.equal(put?.path.split('?')[0], `/${BUCKET}//0000/0000000000000001-0000000000000001.ltx`);
      // The first listing is the start-up check of the whole replica, the second one level.
      const prefixes = proxy.requests.filter((r) => r.kind === 'list').map((r) => new URL(r.path, 'http://x').searchParams.get('prefix'));
      assert.deepEqual(prefixes, ['/', '/0003/']);
    } finally {
      client.destroy();
      await proxy.close();
    }
  });
});
