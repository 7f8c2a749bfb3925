import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { decodeHeader } from '../../../src/ltx/header.js';
import { restore } from '../../../src/restore/restore.js';
import { SNAPSHOT_LEVEL } from '../../../src/restore/plan.js';
import type { LtxFileInfo } from '../../../src/storage/replica-client.js';
import { TESTDATA } from '../../helpers/testdata.js';
import { withTempDir } from '../../replication/helpers.js';
import { chunked, collect, listAll, makeLtxFile } from '../ltx-fixtures.js';
import { testWebdavClient, TEST_TUNING } from './helpers.js';
import { WebdavFaultProxy } from './webdav-fault-proxy.js';
import { settleDirectWrites, startWebdavServer, type WebdavTestServer } from './webdav-server.js';

/** A replica the real Litestream v0.5 wrote (its file backend; the WebDAV backend lays files out the same way), and its restore. */
const V05 = join(TESTDATA, 'litestream-v0.5');

let server: WebdavTestServer;
let proxy: WebdavFaultProxy;

before(async () => {
  server = await startWebdavServer();
  proxy = await WebdavFaultProxy.start(server.origin);
});
after(async () => {
  await proxy.close();
  await server.stop();
});

/** Every entry under `dir` (collections with a trailing '/'), relative, sorted. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1) + (e.isDirectory() ? '/' : ''))
    .sort();
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('what a webdav replica stores is what Litestream writes', () => {
  it('files at <path>/ltx/<level>/<min>-<max>.ltx with exactly the bytes given, uploaded with a Content-Length, no .tmp left', async () => {
    const client = testWebdavClient(server, 'app/db', { port: proxy.port });
    const files: [number, bigint, bigint, number][] = [
      [0, 1n, 1n, Date.UTC(2024, 0, 2, 3, 4, 5, 120)],
      [0, 2n, 0x2an, Date.UTC(2024, 0, 2, 3, 4, 6, 0)],
      [1, 1n, 0x2an, Date.UTC(2024, 0, 2, 3, 4, 6, 7)],
      [9, 1n, 0xabcdef0123n, Date.UTC(2030, 11, 31, 23, 59, 59, 999)],
    ];
    const written = new Map<string, Uint8Array>();
    proxy.resetCounts();
    try {
      for (const [level, min, max, ts] of files) {
        const bytes = await makeLtxFile({ minTxid: min, maxTxid: max, timestamp: ts });
        const info = await client.writeLtxFile(level, min, max, chunked(bytes, 50));
        assert.equal(info.createdAt.getTime(), ts);
        written.set(`${level}/${min.toString(16).padStart(16, '0')}-${max.toString(16).padStart(16, '0')}.ltx`, bytes);
      }
    } finally {
      client.destroy();
    }
    assert.deepEqual(tree(join(server.dir, 'app')), [
      'db/',
      'db/ltx/',
      'db/ltx/0/',
      'db/ltx/0/0000000000000001-0000000000000001.ltx',
      'db/ltx/0/0000000000000002-000000000000002a.ltx',
      'db/ltx/1/',
      'db/ltx/1/0000000000000001-000000000000002a.ltx',
      'db/ltx/9/',
      'db/ltx/9/0000000000000001-000000abcdef0123.ltx',
    ]);
    for (const [rel, bytes] of written) assert.ok(readFileSync(join(server.dir, 'app', 'db', 'ltx', rel)).equals(bytes), rel);
    const puts = proxy.requests.filter((r) => r.method === 'PUT');
    assert.ok(puts.length >= files.length);
    for (const p of puts) {
      assert.match(p.path, /\.ltx\.tmp$/, 'uploads go to a temporary name');
      assert.equal(p.transferEncoding, undefined, 'not chunked');
      assert.ok(Number(p.contentLength) > 0);
    }
    const moves = proxy.requests.filter((r) => r.method === 'MOVE').map((r) => r.path);
    assert.deepEqual(moves, [...written.keys()].map((rel) => `/app/db/ltx/${rel}.tmp`));
  });

  it('with no path, files go under /ltx at the server root, and deleteAll removes only that', async () => {
    mkdirSync(join(server.dir, 'neighbour'), { recursive: true });
    writeFileSync(join(server.dir, 'neighbour', 'keep.txt'), 'not ours');
    const client = testWebdavClient(server, '');
    try {
      await client.writeLtxFile(3, 5n, 6n, chunked(await makeLtxFile({ minTxid: 5n, maxTxid: 6n, timestamp: Date.UTC(2024, 5, 6) })));
      assert.deepEqual(tree(join(server.dir, 'ltx')), ['3/', '3/0000000000000005-0000000000000006.ltx']);
      await client.deleteAll();
      assert.ok(!readdirSync(server.dir).includes('ltx'));
      assert.equal(readFileSync(join(server.dir, 'neighbour', 'keep.txt'), 'utf8'), 'not ours');
    } finally {
      client.destroy();
    }
  });

  it('reads exact ranges and header timestamps from a server that ignores Range and sends whole files', async () => {
    const ts = Date.UTC(2024, 3, 5, 6, 7, 8, 91);
    const bytes = await makeLtxFile({ minTxid: 3n, maxTxid: 4n, timestamp: ts, pages: 40, incompressible: true });
    const direct = testWebdavClient(server, 'no-range');
    const client = testWebdavClient(server, 'no-range', { port: proxy.port });
    proxy.ignoreRange = true;
    try {
      await direct.writeLtxFile(1, 3n, 4n, chunked(bytes));
      proxy.resetCounts();
      assert.ok(Buffer.from(await collect(await client.openLtxFile(1, 3n, 4n, { offset: 1000, size: 5000 }))).equals(bytes.subarray(1000, 6000)));
      assert.ok(Buffer.from(await collect(await client.openLtxFile(1, 3n, 4n, { offset: 70_000 }))).equals(bytes.subarray(70_000)));
      assert.deepEqual(await collect(await client.openLtxFile(1, 3n, 4n, { offset: bytes.length })), new Uint8Array(0));
      const [f] = await listAll(client.ltxFiles(1, 0n, { useMetadata: true }));
      assert.equal(f?.createdAt.getTime(), ts);
      assert.ok(proxy.requests.some((r) => r.method === 'GET'));
    } finally {
      proxy.ignoreRange = false;
      client.destroy();
      direct.destroy();
    }
  });

  it("lists, reads and restores a replica Litestream wrote: header timestamps with useMetadata, the server's mtime without, other names skipped", async () => {
    const root = join(server.dir, 'litestream');
    cpSync(join(V05, 'replica'), root, { recursive: true });
    writeFileSync(join(root, 'ltx', '0', 'README'), 'x');
    writeFileSync(join(root, 'ltx', '0', '0000000000000099-0000000000000099.ltx.tmp'), 'a torn upload');
    mkdirSync(join(root, 'ltx', '0', '0000000000000098-0000000000000098.ltx'));
    await settleDirectWrites();
    const client = testWebdavClient(server, 'litestream', { tuning: TEST_TUNING });
    try {
      for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
        const levelDir = join(root, 'ltx', String(level));
        const onDisk = (existsSync(levelDir) ? readdirSync(levelDir, { withFileTypes: true }) : []).filter((e) => e.isFile() && /^[0-9a-f]{16}-[0-9a-f]{16}\.ltx$/.test(e.name));
        const plain = await listAll(client.ltxFiles(level));
        const meta: LtxFileInfo[] = await listAll(client.ltxFiles(level, 0n, { useMetadata: true }));
        assert.equal(plain.length, onDisk.length, `level ${level}`);
        assert.deepEqual(
          meta.map((f) => [f.minTxid, f.maxTxid, f.size]),
          plain.map((f) => [f.minTxid, f.maxTxid, f.size]),
        );
        for (const f of meta) {
          const path = join(root, 'ltx', String(level), `${f.minTxid.toString(16).padStart(16, '0')}-${f.maxTxid.toString(16).padStart(16, '0')}.ltx`);
          const bytes = readFileSync(path);
          assert.equal(f.createdAt.getTime(), decodeHeader(bytes).timestamp, 'useMetadata: the header timestamp');
          assert.ok(Buffer.from(await collect(await client.openLtxFile(level, f.minTxid, f.maxTxid))).equals(bytes));
        }
        for (const f of plain) assert.equal(f.createdAt.getTime() % 1000, 0, 'getlastmodified has whole seconds');
      }
      await withTempDir(async (tmp) => {
        const out = join(tmp, 'restored.db');
        await restore({ client, outputPath: out });
        assert.equal(sha256(readFileSync(out)), sha256(readFileSync(join(V05, 'latest.db'))));
      });
    } finally {
      client.destroy();
    }
  });
});
