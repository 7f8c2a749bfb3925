import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { startNatsServer, type NatsTestServer } from './nats-server.js';
import { testNatsClient } from './helpers.js';

const BUCKET = 'tidemark-format';
/** Milliseconds with a trailing zero, which Go's RFC3339Nano drops. */
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 120);

let server: NatsTestServer;

before(async () => {
  server = await startNatsServer();
  await server.createBucket(BUCKET);
});
after(async () => {
  await server.stop();
});

/** The subject the object store keeps an object's metadata under: base64url of its name, padded, as every NATS client encodes it. */
function metaSubject(bucket: string, name: string): string {
  return `$O.${bucket}.M.${Buffer.from(name).toString('base64url').padEnd(Math.ceil(name.length / 3) * 4, '=')}`;
}

describe("the NATS layout is Litestream's, byte for byte", () => {
  it('objects are ltx/<level>/<min>-<max>.ltx at the bucket root, with the timestamp header as Litestream writes it', async () => {
    const client = testNatsClient(server.port, BUCKET);
    const files: [number, bigint, bigint][] = [
      [0, 1n, 1n],
      [1, 1n, 0x2an],
      [9, 1n, 0xabcdefn],
    ];
    const stored = new Map<string, Uint8Array>();
    for (const [level, min, max] of files) {
      const bytes = await makeLtxFile({ minTxid: min, maxTxid: max, timestamp: T0, pages: 40, pageSize: 4096, incompressible: true });
      await client.writeLtxFile(level, min, max, chunked(bytes, 5000));
      stored.set(`ltx/${level}/${min.toString(16).padStart(16, '0')}-${max.toString(16).padStart(16, '0')}.ltx`, bytes);
    }
    const nc = await server.raw();
    const os = await new Objm(nc).open(BUCKET);
    assert.deepEqual((await os.list()).map((o) => o.name).sort(), [...stored.keys()].sort());
    assert.deepEqual([...stored.keys()].sort(), [
      'ltx/0/0000000000000001-0000000000000001.ltx',
      'ltx/1/0000000000000001-000000000000002a.ltx',
      'ltx/9/0000000000000001-0000000000abcdef.ltx',
    ]);
    const jsm = await jetstreamManager(nc);
    for (const [name, bytes] of stored) {
      const m = await jsm.streams.getMessage(`OBJ_${BUCKET}`, { last_by_subj: metaSubject(BUCKET, name) });
      assert.ok(m !== null, name);
      const meta = m.json<Record<string, unknown>>();
      assert.equal(meta['name'], name);
      assert.equal(meta['bucket'], BUCKET);
      assert.equal(meta['size'], bytes.length);
      assert.deepEqual(meta['headers'], { 'Litestream-Timestamp': ['2024-01-02T03:04:05.12Z'] });
      assert.equal(meta['digest'], `SHA-256=${createHash('sha256').update(bytes).digest('base64url')}=`);
      // The object's bytes are exactly the LTX file, whoever reads them.
      const got = await os.getBlob(name);
      assert.ok(got !== null && Buffer.from(got).equals(bytes), name);
    }
    await client.close();
  });

  it('reads objects stored by another client the way Litestream stores them, and falls back to the modification time without the header', async () => {
    const nc = await server.raw();
    const os = await new Objm(nc).open(BUCKET);
    const withHeader = await makeLtxFile({ minTxid: 5n, maxTxid: 6n, timestamp: T0 + 1 });
    const h = headers();
    // Go's RFC3339Nano keeps up to nine digits; other writers may send all of them.
    h.set('Litestream-Timestamp', '2024-01-02T03:04:05.121000000Z');
    await os.putBlob({ name: 'ltx/2/0000000000000005-0000000000000006.ltx', headers: h }, withHeader);
    const bare = await makeLtxFile({ minTxid: 7n, maxTxid: 7n, timestamp: T0 + 2 });
    const before = Date.now();
    await os.putBlob({ name: 'ltx/2/0000000000000007-0000000000000007.ltx' }, bare);
    // Names that are not LTX files are skipped.
    await os.putBlob({ name: 'ltx/2/notes.txt' }, new TextEncoder().encode('x'));
    await os.putBlob({ name: 'ltx/2/sub/0000000000000008-0000000000000008.ltx' }, bare);
    const client = testNatsClient(server.port, BUCKET);
    const listed = await listAll(client.ltxFiles(2));
    assert.deepEqual(
      listed.map((f) => [f.minTxid, f.maxTxid, f.size]),
      [
        [5n, 6n, withHeader.length],
        [7n, 7n, bare.length],
      ],
    );
    assert.equal(listed[0]!.createdAt.getTime(), T0 + 1);
    assert.ok(Math.abs(listed[1]!.createdAt.getTime() - before) < 60_000, 'the modification time');
    assert.ok(Buffer.from(await collect(await client.openLtxFile(2, 5n, 6n))).equals(withHeader));
    await client.close();
  });
});
