import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHeader } from '../../src/ltx/header.js';
import { formatFilename } from '../../src/ltx/file-name.js';
import { FileReplicaClient, ltxFilePath } from '../../src/storage/file-replica-client.js';
import { LTX_TESTDATA, VECTOR_SETS, readManifest } from '../helpers/testdata.js';
import { chunked, collect, listAll } from './ltx-fixtures.js';

/**
 * How the Go-written vectors sit in a replica: one database's history (snapshot,
 * incrementals, compactions, a level-9 snapshot), plus the checksum-tracking
 * files, whose names collide with the first group, in a replica of their own.
 */
const REPLICAS: Record<string, [level: number, prefix: string][]> = {
  history: [
    [0, 'C_'],
    [0, 'D_'],
    [0, 'F_'],
    [0, 'G_'],
    [1, 'E_'],
    [1, 'J_'],
    [9, 'H_'],
  ],
  checksums: [
    [0, 'A_'],
    [0, 'B_'],
    [0, 'I_'],
  ],
};

interface Placed {
  level: number;
  file: string;
  bytes: Uint8Array;
  minTxid: bigint;
  maxTxid: bigint;
  timestamp: number;
}

for (const set of VECTOR_SETS) {
  describe(`directory replica of Go-written LTX files: ${set.dir}`, () => {
    const manifest = readManifest(set.dir, set.manifest);
    let dir: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tidemark-golden-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    /** Copies the vectors in as Litestream's file backend would have stored them (name from the header, mtime = timestamp). */
    async function place(root: string, layout: [number, string][]): Promise<Placed[]> {
      const placed: Placed[] = [];
      for (const [level, prefix] of layout) {
        const entry = manifest.find((e) => e.file.startsWith(prefix));
        assert.ok(entry, `${set.dir} has a ${prefix}* vector`);
        const src = join(LTX_TESTDATA, set.dir, entry.file);
        const bytes = new Uint8Array(await readFile(src));
        const h = decodeHeader(bytes);
        assert.equal(h.timestamp, entry.header.Timestamp);
        const dest = ltxFilePath(root, level, h.minTxid, h.maxTxid);
        await mkdir(join(root, 'ltx', String(level)), { recursive: true });
        await copyFile(src, dest);
        const when = new Date(h.timestamp);
        await utimes(dest, when, when);
        placed.push({ level, file: entry.file, bytes, minTxid: h.minTxid, maxTxid: h.maxTxid, timestamp: h.timestamp });
      }
      return placed;
    }

    for (const [name, layout] of Object.entries(REPLICAS)) {
      it(`lists and reads the ${name} replica byte-exactly`, async () => {
        const root = join(dir, name);
        const placed = await place(root, layout);
        const client = new FileReplicaClient(root);
        await client.init();
        for (const level of [0, 1, 9]) {
          const want = placed
            .filter((p) => p.level === level)
            .sort((a, b) => (a.minTxid === b.minTxid ? Number(a.maxTxid - b.maxTxid) : Number(a.minTxid - b.minTxid)));
          const listed = await listAll(client.ltxFiles(level, 0n, { useMetadata: true }));
          assert.deepEqual(
            listed,
            want.map((p) => ({ level, minTxid: p.minTxid, maxTxid: p.maxTxid, size: p.bytes.length, createdAt: new Date(p.timestamp) })),
            `level ${level}`,
          );
        }
        for (const p of placed) {
          assert.deepEqual(await collect(await client.openLtxFile(p.level, p.minTxid, p.maxTxid)), p.bytes, p.file);
          const header = await collect(await client.openLtxFile(p.level, p.minTxid, p.maxTxid, { size: 100 }));
          assert.deepEqual(header, p.bytes.subarray(0, 100), `${p.file} header`);
          const trailer = await collect(await client.openLtxFile(p.level, p.minTxid, p.maxTxid, { offset: p.bytes.length - 16, size: 16 }));
          assert.deepEqual(trailer, p.bytes.subarray(p.bytes.length - 16), `${p.file} trailer`);
        }
        assert.deepEqual(
          (await listAll(client.ltxFiles(0, 2n))).map((f) => formatFilename(f.minTxid, f.maxTxid)),
          placed.filter((p) => p.level === 0 && p.minTxid >= 2n).map((p) => formatFilename(p.minTxid, p.maxTxid)),
        );
      });
    }

    it('stores every vector through writeLtxFile exactly as the Go file backend names and stamps it', async () => {
      const root = join(dir, 'written');
      const client = new FileReplicaClient(root);
      for (const entry of manifest) {
        const bytes = new Uint8Array(await readFile(join(LTX_TESTDATA, set.dir, entry.file)));
        const h = decodeHeader(bytes);
        const level = entry.file.startsWith('A_') || entry.file.startsWith('B_') || entry.file.startsWith('I_') ? 8 : 2;
        const info = await client.writeLtxFile(level, h.minTxid, h.maxTxid, chunked(bytes, 64));
        assert.deepEqual(info, { level, minTxid: h.minTxid, maxTxid: h.maxTxid, size: entry.size, createdAt: new Date(entry.header.Timestamp) });
        const path = ltxFilePath(root, level, h.minTxid, h.maxTxid);
        assert.deepEqual(new Uint8Array(await readFile(path)), bytes, entry.file);
        assert.equal(Math.round((await stat(path)).mtimeMs), entry.header.Timestamp, entry.file);
      }
    });
  });
}
