import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startAbsServer, type AbsTestServer } from './abs-server.js';
import { testAbsClient } from './helpers.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';

const CONTAINER = 'tidemark-format';

let server: AbsTestServer;

before(async () => {
  server = await startAbsServer([CONTAINER]);
});
after(async () => {
  await server.stop();
});

describe('what an abs replica stores is what Litestream writes', () => {
  it('blob names <path>/ltx/<level>/<min>-<max>.ltx, litestreamtimestamp metadata in RFC 3339 with trailing zeros dropped, Hot tier, octet-stream', async () => {
    const client = testAbsClient(server.endpoint, CONTAINER, 'app/db');
    const files: [number, bigint, bigint, number][] = [
      [0, 1n, 1n, Date.UTC(2024, 0, 2, 3, 4, 5, 120)],
      [0, 2n, 0x2an, Date.UTC(2024, 0, 2, 3, 4, 6, 0)],
      [1, 1n, 0x2an, Date.UTC(2024, 0, 2, 3, 4, 6, 7)],
      [9, 1n, 0xabcdef0123n, Date.UTC(2030, 11, 31, 23, 59, 59, 999)],
    ];
    for (const [level, min, max, ts] of files) {
      await client.writeLtxFile(level, min, max, chunked(await makeLtxFile({ minTxid: min, maxTxid: max, timestamp: ts })));
    }
    const listed: { name: string; meta: Record<string, string> | undefined; tier: string | undefined; type: string | undefined }[] = [];
    for await (const b of server.raw().getContainerClient(CONTAINER).listBlobsFlat({ prefix: 'app/', includeMetadata: true })) {
      listed.push({ name: b.name, meta: b.metadata, tier: b.properties.accessTier, type: b.properties.contentType });
    }
    assert.deepEqual(listed, [
      { name: 'app/db/ltx/0/0000000000000001-0000000000000001.ltx', meta: { litestreamtimestamp: '2024-01-02T03:04:05.12Z' }, tier: 'Hot', type: 'application/octet-stream' },
      { name: 'app/db/ltx/0/0000000000000002-000000000000002a.ltx', meta: { litestreamtimestamp: '2024-01-02T03:04:06Z' }, tier: 'Hot', type: 'application/octet-stream' },
      { name: 'app/db/ltx/1/0000000000000001-000000000000002a.ltx', meta: { litestreamtimestamp: '2024-01-02T03:04:06.007Z' }, tier: 'Hot', type: 'application/octet-stream' },
      { name: 'app/db/ltx/9/0000000000000001-000000abcdef0123.ltx', meta: { litestreamtimestamp: '2030-12-31T23:59:59.999Z' }, tier: 'Hot', type: 'application/octet-stream' },
    ]);
  });

  it('with no path, blobs go under ltx/ at the container root, as Go path.Join puts them', async () => {
    const client = testAbsClient(server.endpoint, CONTAINER, '');
    await client.writeLtxFile(3, 5n, 6n, chunked(await makeLtxFile({ minTxid: 5n, maxTxid: 6n, timestamp: Date.UTC(2024, 5, 6) })));
    const names: string[] = [];
    for await (const b of server.raw().getContainerClient(CONTAINER).listBlobsFlat({ prefix: 'ltx/' })) names.push(b.name);
    assert.deepEqual(names, ['ltx/3/0000000000000005-0000000000000006.ltx']);
    await client.deleteAll();
    const left: string[] = [];
    for await (const b of server.raw().getContainerClient(CONTAINER).listBlobsFlat()) left.push(b.name);
    assert.ok(left.length > 0 && left.every((n) => n.startsWith('app/')), 'deleteAll at the root removed ltx/ only');
  });

  it('reads blobs another writer left: its nanosecond timestamps, the creation time where there is none, and skips other names', async () => {
    const container = server.raw().getContainerClient(CONTAINER);
    const put = async (name: string, bytes: Uint8Array, metadata?: Record<string, string>): Promise<void> => {
      await container.getBlockBlobClient(name).upload(bytes, bytes.length, metadata === undefined ? {} : { metadata });
    };
    const a = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: Date.UTC(2024, 1, 1) });
    const b = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: Date.UTC(2024, 1, 2) });
    await put('foreign/ltx/0/0000000000000001-0000000000000001.ltx', a, { litestreamtimestamp: '2024-02-01T10:20:30.123456789Z' });
    const before = Date.now();
    await put('foreign/ltx/0/0000000000000002-0000000000000002.ltx', b);
    await put('foreign/ltx/0/README', new Uint8Array(1));
    await put('foreign/ltx/0/sub/0000000000000003-0000000000000003.ltx', new Uint8Array(1));
    await put('foreign/ltx/00/0000000000000004-0000000000000004.ltx', new Uint8Array(1));
    const client = testAbsClient(server.endpoint, CONTAINER, 'foreign');
    const files = await listAll(client.ltxFiles(0, 0n, { useMetadata: true }));
    assert.deepEqual(
      files.map((f) => [f.minTxid, f.maxTxid, f.size]),
      [
        [1n, 1n, a.length],
        [2n, 2n, b.length],
      ],
    );
    assert.equal(files[0]!.createdAt.toISOString(), '2024-02-01T10:20:30.123Z');
    // Azure's creation time has whole seconds.
    assert.ok(Math.abs(files[1]!.createdAt.getTime() - before) < 60_000, `creation time ${files[1]!.createdAt.toISOString()}`);
    assert.deepEqual(await collect(await client.openLtxFile(0, 2n, 2n)), b);
  });
});
