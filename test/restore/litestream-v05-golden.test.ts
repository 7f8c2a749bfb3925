import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { HEADER_SIZE } from '../../src/ltx/constants.js';
import { decodeHeader } from '../../src/ltx/header.js';
import { restore } from '../../src/restore/restore.js';
import { SNAPSHOT_LEVEL } from '../../src/restore/plan.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { LtxFileInfo } from '../../src/storage/replica-client.js';
import { TESTDATA, hex64 } from '../helpers/testdata.js';
import { makeTempDir } from './replica-fixtures.js';
import { listFiles } from './v03/helpers.js';

// A replica the real Litestream v0.5.16 wrote, and what its own restore made of it (testdata/README.md).
const V05 = join(TESTDATA, 'litestream-v0.5');
const REPLICA = join(V05, 'replica');
const PAGE_SIZE = 4096;

interface ManifestRow {
  sha256: string;
  bytes: number;
  rows_in_t: number;
}

// Read at load time: the tests are generated from it, one per TXID.
const MANIFEST = JSON.parse(readFileSync(join(V05, 'manifest.json'), 'utf8')) as Record<string, ManifestRow>;
const TXIDS = Object.keys(MANIFEST).sort();
const LATEST_TXID = BigInt(`0x${TXIDS.at(-1) ?? '0'}`);

function row(key: string): ManifestRow {
  const r = MANIFEST[key];
  assert.ok(r, `manifest.json has TXID ${key}`);
  return r;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Every file under a directory with its size and digest, to show that restores leave the replica as it was. */
async function treeDigest(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of await listFiles(root)) {
    const p = join(root, rel);
    out.push(`${rel} ${(await stat(p)).size} ${sha256(await readFile(p))}`);
  }
  return out;
}

async function listAll(client: FileReplicaClient): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for (let level = 0; level <= SNAPSHOT_LEVEL; level++) for await (const f of client.ltxFiles(level)) out.push(f);
  return out;
}

/** Rows of table `t`, or null when the database has no such table. */
function rowsInT(path: string): number | null {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const t = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 't'").get();
    if (t === undefined) return null;
    return (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Restores one TXID into `dir` and checks it against Litestream's restore of the same TXID. */
async function checkTxid(client: FileReplicaClient, dir: string, key: string): Promise<void> {
  const want = row(key);
  const txid = BigInt(`0x${key}`);
  const outputPath = join(dir, `${key}.db`);
  const r = await restore({ client, outputPath, txid });
  assert.equal(r.format, 'ltx');
  assert.equal(r.txid, txid);
  assert.equal(r.pageSize, PAGE_SIZE);
  assert.equal(r.bytes, want.bytes);

  // Hashed before SQLite opens it, so the digest is of what restore wrote and nothing else.
  const bytes = await readFile(outputPath);
  assert.equal(bytes.length, want.bytes, `TXID ${key}: size`);
  assert.equal(sha256(bytes), want.sha256, `TXID ${key}: SHA-256 differs from Litestream's restore`);

  // `t` is created, still empty, by TXID 1 and never dropped (the dropped table is another one), so
  // every state has it; rows_in_t 0 means an empty `t`, and a missing one would be a wrong restore.
  assert.equal(rowsInT(outputPath), want.rows_in_t, `TXID ${key}: rows in t`);
}

describe('restore of a replica written by Litestream v0.5.16', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let untouched: string[];
  const client = new FileReplicaClient(REPLICA);

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('litestream-v05-golden'));
    untouched = await treeDigest(REPLICA);
  });
  after(() => cleanup());

  it('the manifest names every TXID the replica has, 1 to the latest, and nothing else', async () => {
    for (const k of TXIDS) assert.match(k, /^[0-9a-f]{16}$/);
    const l0: string[] = [];
    for await (const f of client.ltxFiles(0)) {
      assert.equal(f.minTxid, f.maxTxid, 'each L0 file holds one transaction');
      l0.push(hex64(f.maxTxid));
    }
    assert.deepEqual(TXIDS, l0);
    assert.deepEqual(
      TXIDS,
      Array.from({ length: TXIDS.length }, (_, i) => hex64(BigInt(i + 1))),
    );
  });

  for (const key of TXIDS) {
    it(`TXID ${key}: byte-identical to Litestream's restore -txid`, () => checkTxid(client, dir, key));
  }

  it('the latest state is byte-identical to latest.db', async () => {
    const expected = await readFile(join(V05, 'latest.db'));
    // latest.db and the manifest came from separate Litestream restores; they must agree before either is trusted.
    assert.equal(sha256(expected), row(hex64(LATEST_TXID)).sha256);

    const outputPath = join(dir, 'latest.db');
    const r = await restore({ client, outputPath });
    assert.equal(r.format, 'ltx');
    assert.equal(r.txid, LATEST_TXID);
    assert.equal(r.bytes, expected.length);
    assert.deepEqual(await readFile(outputPath), expected);
  });

  it("agrees with Litestream's ltx -level all listing (ltx-listing.txt)", async () => {
    const lines = readFileSync(join(V05, 'ltx-listing.txt'), 'utf8').split('\n').filter((l) => l.trim() !== '');
    const [head, ...body] = lines.map((l) => l.trim().split(/\s+/));
    assert.deepEqual(head, ['level', 'min_txid', 'max_txid', 'size', 'created']);
    assert.ok(body.length > 0);
    for (const cols of body) assert.equal(cols.length, 5, `listing row ${cols.join(' ')}`);

    const ours = await listAll(client);
    assert.deepEqual(
      ours.map((f) => [String(f.level), hex64(f.minTxid), hex64(f.maxTxid), String(f.size)]),
      body.map((cols) => cols.slice(0, 4)),
    );
    // Litestream listed the mtimes it had set to each file's header timestamp. Git keeps no mtimes, so
    // the listed time is checked against the header, which travels with the file; Go prints whole seconds.
    for (const [i, f] of ours.entries()) {
      const chunks: Uint8Array[] = [];
      for await (const c of await client.openLtxFile(f.level, f.minTxid, f.maxTxid, { size: HEADER_SIZE })) chunks.push(c);
      const h = decodeHeader(new Uint8Array(Buffer.concat(chunks)));
      const created = new Date(Math.floor(h.timestamp / 1000) * 1000).toISOString().replace('.000Z', 'Z');
      assert.equal(created, body[i]?.[4], `created of ${f.level}/${hex64(f.minTxid)}-${hex64(f.maxTxid)}`);
    }
  });

  // Last in the suite: restores only read the replica, so the checked-in one can be used without a copy.
  it('left the replica exactly as it was', async () => {
    assert.deepEqual(await treeDigest(REPLICA), untouched);
  });
});

// With the snapshots and L2 at hand the planner skips most files. Taking levels away makes it rebuild
// the same states from the others, so that between them these restores read every file Litestream wrote.
const SUBSETS: { name: string; levels: number[] }[] = [
  { name: 'without the L9 snapshots (L0, L1, L2)', levels: [0, 1, 2] },
  { name: 'from L0 and L1', levels: [0, 1] },
  { name: 'from the L0 files alone', levels: [0] },
];

for (const subset of SUBSETS) {
  describe(`restore of the Litestream v0.5.16 replica ${subset.name}`, () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let client: FileReplicaClient;

    before(async () => {
      ({ dir, cleanup } = await makeTempDir('litestream-v05-subset'));
      const root = join(dir, 'replica');
      for (const level of subset.levels) await cp(join(REPLICA, 'ltx', String(level)), join(root, 'ltx', String(level)), { recursive: true });
      client = new FileReplicaClient(root);
    });
    after(() => cleanup());

    it('holds only the chosen levels', async () => {
      const levels = new Set((await listAll(client)).map((f) => f.level));
      assert.deepEqual([...levels].sort((a, b) => a - b), subset.levels);
    });

    for (const key of TXIDS) {
      it(`TXID ${key}: byte-identical to Litestream's restore -txid`, () => checkTxid(client, dir, key));
    }
  });
}
