import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startGsServer, type GsTestServer } from './gs-server.js';
import { testGsClient } from './helpers.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';

const BUCKET = 'tidemark-format';

let server: GsTestServer;

before(async () => {
  server = await startGsServer();
});
after(async () => {
  await server.stop();
});

interface Stored {
  name: string;
  meta: Record<string, unknown> | undefined;
  type: string | undefined;
}

async function stored(prefix: string): Promise<Stored[]> {
  const [files] = await server.raw().bucket(BUCKET).getFiles({ prefix });
  return files.map((f) => ({ name: f.name, meta: f.metadata.metadata as Record<string, unknown> | undefined, type: f.metadata.contentType }));
}

describe('what a gs replica stores is what Litestream writes', () => {
  it('object names <path>/ltx/<level>/<min>-<max>.ltx, litestream-timestamp metadata in RFC 3339 with trailing zeros dropped, octet-stream', async () => {
    const client = testGsClient(server.origin, BUCKET, 'app/db');
    const files: [number, bigint, bigint, number][] = [
      [0, 1n, 1n, Date.UTC(2024, 0, 2, 3, 4, 5, 120)],
      [0, 2n, 0x2an, Date.UTC(2024, 0, 2, 3, 4, 6, 0)],
      [1, 1n, 0x2an, Date.UTC(2024, 0, 2, 3, 4, 6, 7)],
      [9, 1n, 0xabcdef0123n, Date.UTC(2030, 11, 31, 23, 59, 59, 999)],
    ];
    const written = new Map<string, Uint8Array>();
    for (const [level, min, max, ts] of files) {
      const bytes = await makeLtxFile({ minTxid: min, maxTxid: max, timestamp: ts });
      await client.writeLtxFile(level, min, max, chunked(bytes));
      written.set(`${level}/${min}`, bytes);
    }
    assert.deepEqual(await stored('app/'), [
      { name: 'app/db/ltx/0/0000000000000001-0000000000000001.ltx', meta: { 'litestream-timestamp': '2024-01-02T03:04:05.12Z' }, type: 'application/octet-stream' },
      { name: 'app/db/ltx/0/0000000000000002-000000000000002a.ltx', meta: { 'litestream-timestamp': '2024-01-02T03:04:06Z' }, type: 'application/octet-stream' },
      { name: 'app/db/ltx/1/0000000000000001-000000000000002a.ltx', meta: { 'litestream-timestamp': '2024-01-02T03:04:06.007Z' }, type: 'application/octet-stream' },
      { name: 'app/db/ltx/9/0000000000000001-000000abcdef0123.ltx', meta: { 'litestream-timestamp': '2030-12-31T23:59:59.999Z' }, type: 'application/octet-stream' },
    ]);
    // The stored bytes are the LTX file itself, nothing wrapped around it.
    const [raw] = await server.raw().bucket(BUCKET).file('app/db/ltx/0/0000000000000002-000000000000002a.ltx').download();
    assert.ok(raw.equals(Buffer.from(written.get('0/2')!)));
  });

  it('with no path, objects go under ltx/ at the bucket root, as Go path.Join puts them', async () => {
    const client = testGsClient(server.origin, BUCKET, '');
    await client.writeLtxFile(3, 5n, 6n, chunked(await makeLtxFile({ minTxid: 5n, maxTxid: 6n, timestamp: Date.UTC(2024, 5, 6) })));
    assert.deepEqual(
      (await stored('ltx/')).map((s) => s.name),
      ['ltx/3/0000000000000005-0000000000000006.ltx'],
    );
    await client.deleteAll();
    const left = (await stored('')).map((s) => s.name);
    assert.ok(left.length > 0 && left.every((n) => n.startsWith('app/')), 'deleteAll at the root removed ltx/ only');
  });

  it('reads objects another writer left: its nanosecond timestamps, the creation time where there is none, and skips other names', async () => {
    const bucket = server.raw().bucket(BUCKET);
    const put = async (name: string, bytes: Uint8Array, metadata?: Record<string, string>): Promise<void> => {
      await bucket.file(name).save(Buffer.from(bytes), { resumable: false, ...(metadata === undefined ? {} : { metadata: { metadata } }) });
    };
    const a = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: Date.UTC(2024, 1, 1) });
    const b = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: Date.UTC(2024, 1, 2) });
    await put('foreign/ltx/0/0000000000000001-0000000000000001.ltx', a, { 'litestream-timestamp': '2024-02-01T10:20:30.123456789Z' });
    const before = Date.now();
    await put('foreign/ltx/0/0000000000000002-0000000000000002.ltx', b);
    await put('foreign/ltx/0/README', new Uint8Array(1));
    await put('foreign/ltx/0/sub/0000000000000003-0000000000000003.ltx', new Uint8Array(1));
    await put('foreign/ltx/00/0000000000000004-0000000000000004.ltx', new Uint8Array(1));
    const client = testGsClient(server.origin, BUCKET, 'foreign');
    const files = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
    assert.deepEqual(
      files.map((f) => [f.minTxid, f.maxTxid, f.size]),
      [
        [1n, 1n, a.length],
        [2n, 2n, b.length],
      ],
    );
    assert.equal(files[0]!.createdAt.toISOString(), '2024-02-01T10:20:30.123Z');
    assert.ok(Math.abs(files[1]!.createdAt.getTime() - before) < 60_000, `creation time ${files[1]!.createdAt.toISOString()}`);
    assert.deepEqual(await collect(await client.openLtxFile(0, 2n, 2n)), b);
  });
});
