import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, type Dirent } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHeader } from '../../../src/ltx/header.js';
import { restore } from '../../../src/restore/restore.js';
import { parseReplicaUrl, type RemoteReplicaUrl } from '../../../src/storage/replica-url.js';
import { SftpReplicaClient } from '../../../src/storage/sftp/sftp-replica-client.js';
import { resolveSftpSettings } from '../../../src/storage/sftp/sftp-settings.js';
import { LTX_TESTDATA, VECTOR_SETS, readManifest } from '../../helpers/testdata.js';
import { chunked, collect, listAll } from '../ltx-fixtures.js';
import { V03_EXPECTED_DB, V03_FIXTURE_GENERATION, V03_FIXTURE_REPLICA } from '../../restore/v03/helpers.js';
import { TEST_TUNING, testSftpClient } from './helpers.js';
import { startSftpServer, type SftpTestServer } from './sftp-server.js';
import { toV03Reader } from '../../../src/storage/v03-reader.js';

/** Levels the vectors go to: one database's history at L0, compactions at L1, the 64 KiB snapshot at L9. */
const LEVEL_OF: Record<string, number> = { A_: 8, B_: 8, I_: 8, C_: 0, D_: 0, F_: 0, G_: 0, E_: 1, J_: 1, H_: 9 };

let srv: SftpTestServer;
/** Where relative SFTP paths start on this server. */
let startDir: string;

before(async () => {
  startDir = mkdtempSync(join(tmpdir(), 'tidemark-sftp-login-'));
  srv = await startSftpServer({ startDir });
});
after(async () => {
  await srv.stop();
  rmSync(startDir, { recursive: true, force: true });
});

/** Every entry under `dir` (directories with a trailing '/'), relative, sorted. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1) + (e.isDirectory() ? '/' : ''))
    .sort();
}

function ltxName(minTxid: bigint, maxTxid: bigint): string {
  return `${minTxid.toString(16).padStart(16, '0')}-${maxTxid.toString(16).padStart(16, '0')}.ltx`;
}

for (const set of VECTOR_SETS) {
  describe(`SFTP layout of Go-written LTX files (${set.dir})`, () => {
    const manifest = readManifest(set.dir, set.manifest);

    async function load(prefix: string): Promise<{ file: string; bytes: Uint8Array; level: number; minTxid: bigint; maxTxid: bigint; timestamp: number }> {
      const entry = manifest.find((e) => e.file.startsWith(prefix));
      assert.ok(entry, `${set.dir} has a ${prefix}* vector`);
      const bytes = new Uint8Array(await readFile(join(LTX_TESTDATA, set.dir, entry.file)));
      const h = decodeHeader(bytes);
      return { file: entry.file, bytes, level: LEVEL_OF[prefix]!, minTxid: h.minTxid, maxTxid: h.maxTxid, timestamp: h.timestamp };
    }

    it("writes every vector at Litestream's path <path>/ltx/<level>/<min>-<max>.ltx, with its bytes, its timestamp as the mtime, and no .tmp left", async () => {
      const dir = srv.mkdir(`written-${set.dir}`);
      const client = testSftpClient(srv, dir);
      const want = new Set<string>();
      try {
        for (const prefix of Object.keys(LEVEL_OF)) {
          const v = await load(prefix);
          const info = await client.writeLtxFile(v.level, v.minTxid, v.maxTxid, chunked(v.bytes, 77));
          assert.deepEqual(info, { level: v.level, minTxid: v.minTxid, maxTxid: v.maxTxid, size: v.bytes.length, createdAt: new Date(v.timestamp) });
          const rel = `ltx/${v.level}/${ltxName(v.minTxid, v.maxTxid)}`;
          want.add(rel);
          assert.deepEqual(new Uint8Array(readFileSync(join(dir, rel))), v.bytes, v.file);
          // SFTP v3 carries whole seconds, as Litestream's Chtimes over SFTP does.
          assert.equal(statSync(join(dir, rel)).mtimeMs, Math.floor(v.timestamp / 1000) * 1000, v.file);
        }
        const levels = [...new Set(Object.values(LEVEL_OF))].sort();
        assert.deepEqual(tree(dir), ['ltx/', ...levels.map((l) => `ltx/${l}/`), ...want].sort());
      } finally {
        client.destroy();
      }
    });

    it('reads files placed the way Litestream places them, skips foreign names, and restores them byte for byte', async () => {
      const dir = srv.mkdir(`placed-${set.dir}`);
      const placed = await Promise.all(['C_', 'D_', 'F_', 'E_'].map(load));
      for (const v of placed) {
        const levelDir = join(dir, 'ltx', String(v.level));
        mkdirSync(levelDir, { recursive: true });
        const path = join(levelDir, ltxName(v.minTxid, v.maxTxid));
        writeFileSync(path, v.bytes);
        utimesSync(path, Math.floor(v.timestamp / 1000), Math.floor(v.timestamp / 1000));
      }
      mkdirSync(join(dir, 'ltx', '0', 'sub'), { recursive: true });
      writeFileSync(join(dir, 'ltx', '0', 'sub', ltxName(9n, 9n)), 'x');
      writeFileSync(join(dir, 'ltx', '0', 'notes.txt'), 'x');
      writeFileSync(join(dir, 'ltx', '0', `${ltxName(9n, 9n)}.tmp`), 'x');
      const client = testSftpClient(srv, dir);
      const out = mkdtempSync(join(tmpdir(), 'tidemark-sftp-format-'));
      try {
        const l0 = placed.filter((v) => v.level === 0);
        assert.deepEqual(
          await listAll(client.ltxFiles(0, 0n, { useMetadata: true })),
          l0.map((v) => ({ level: 0, minTxid: v.minTxid, maxTxid: v.maxTxid, size: v.bytes.length, createdAt: new Date(v.timestamp) })),
        );
        assert.deepEqual(
          (await listAll(client.ltxFiles(0))).map((f) => f.createdAt.getTime()),
          l0.map((v) => Math.floor(v.timestamp / 1000) * 1000),
          'without metadata, the mtime',
        );
        assert.deepEqual(
          (await listAll(client.ltxFiles(0, 2n))).map((f) => f.minTxid),
          l0.filter((v) => v.minTxid >= 2n).map((v) => v.minTxid),
        );
        for (const v of placed) assert.deepEqual(await collect(await client.openLtxFile(v.level, v.minTxid, v.maxTxid)), v.bytes, v.file);
        const r = await restore({ client, outputPath: join(out, 'restored.db') });
        assert.equal(r.txid, 3n);
        assert.deepEqual(readFileSync(join(out, 'restored.db')), readFileSync(join(LTX_TESTDATA, set.dir, 'K_restore_C+D+F.db')));
      } finally {
        client.destroy();
        rmSync(out, { recursive: true, force: true });
      }
    });
  });
}

describe('SFTP URL paths', () => {
  it('a URL path is relative to the login directory; the login directory itself when there is none', async () => {
    const v = new Uint8Array(await readFile(join(LTX_TESTDATA, 'go-v0.5.1-frame', 'C_snapshot_nochecksum.ltx')));
    for (const [url, where] of [
      [`sftp://${srv.user}@127.0.0.1:${srv.port}/backups/app`, join(startDir, 'backups', 'app')],
      [`sftp://${srv.user}@127.0.0.1:${srv.port}`, startDir],
    ] as const) {
      const settings = resolveSftpSettings(parseReplicaUrl(url) as RemoteReplicaUrl, url, { 'key-path': srv.userKey.privatePath, 'host-key': srv.hostKeyLine });
      const client = new SftpReplicaClient(settings, TEST_TUNING);
      try {
        await client.writeLtxFile(0, 1n, 1n, chunked(v));
        assert.deepEqual(new Uint8Array(readFileSync(join(where, 'ltx', '0', ltxName(1n, 1n)))), v, url);
        await client.deleteAll();
        assert.deepEqual(readdirSync(where).filter((e) => e === 'ltx'), [], 'deleteAll removes the ltx directory');
      } finally {
        client.destroy();
      }
    }
  });
});

describe('Litestream v0.3 backups on SFTP', () => {
  it('lists and restores a v0.3 generation laid out as v0.3 laid it out on SFTP', async () => {
    const dir = srv.mkdir('v03');
    cpSync(V03_FIXTURE_REPLICA, dir, { recursive: true });
    const client = testSftpClient(srv, dir);
    const out = mkdtempSync(join(tmpdir(), 'tidemark-sftp-v03-'));
    try {
      assert.deepEqual(await toV03Reader(client).v03Generations(), [V03_FIXTURE_GENERATION]);
      assert.ok((await toV03Reader(client).v03Snapshots(V03_FIXTURE_GENERATION)).length >= 1);
      assert.ok((await toV03Reader(client).v03WalSegments(V03_FIXTURE_GENERATION)).length >= 1);
      await restore({ client, outputPath: join(out, 'restored.db') });
      assert.deepEqual(readFileSync(join(out, 'restored.db')), readFileSync(V03_EXPECTED_DB));
    } finally {
      client.destroy();
      rmSync(out, { recursive: true, force: true });
    }
  });
});
