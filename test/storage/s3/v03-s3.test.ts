import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { restore } from '../../../src/restore/restore.js';
import { V03CorruptObjectError, V03NoSnapshotError, V03SegmentGapError } from '../../../src/restore/v03/errors.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import { S3_V03_GENERATION_SCAN_PAGE_SIZE, type S3ClientTuning, type S3ReplicaClient } from '../../../src/storage/s3/s3-replica-client.js';
import {
  V03ObjectNotFoundError,
  v03SnapshotKey,
  v03WalSegmentKey,
} from '../../../src/storage/v03-replica-client.js';
import { at } from '../../restore/v03/synthetic.js';
import { copyFixtureReplica, collect, listFiles, ROOT, V03_EXPECTED_DB, V03_FIXTURE_GENERATION, V03_FIXTURE_REPLICA } from '../../restore/v03/helpers.js';
import { FaultProxy } from './fault-proxy.js';
import { TEST_TUNING, testS3Client } from './helpers.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from './s3-server.js';
import { canReadV03, toV03Reader } from '../../../src/storage/v03-reader.js';

const BUCKET = 'tidemark-v03';
/** A bucket of its own for the replica at the bucket root. */
const ROOT_BUCKET = 'tidemark-v03-root';
const GEN = V03_FIXTURE_GENERATION;
/** The golden replica's segments as (index, offset), in the order v0.3 wrote them. */
const SEGMENTS: readonly (readonly [number, number])[] = [
  [0, 0],
  [0, 0x2050],
  [0, 0x3068],
  [1, 0],
  [2, 0],
  [2, 0x1038],
];
/** Relative keys of the golden replica's objects in the order v0.3 wrote them: the snapshot, then the segments. */
const OBJECTS = [v03SnapshotKey(GEN, 0), ...SEGMENTS.map(([i, o]) => v03WalSegmentKey(GEN, i, o))];

function underPrefix(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}/${key}`;
}

/** Puts every file of a directory replica into the bucket under `prefix`, with the same relative keys, as v0.3 would have. */
async function uploadTree(raw: S3Client, bucket: string, prefix: string, dir: string, rename: (rel: string) => string = (rel) => rel): Promise<void> {
  for (const rel of await listFiles(dir)) {
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: underPrefix(prefix, rename(rel)), Body: await readFile(join(dir, rel)) }));
  }
}

async function put(raw: S3Client, key: string, body: Uint8Array | string = 'x', bucket = BUCKET): Promise<void> {
  await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

function noSuchKeyXml(key: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${key}</Key><RequestId>t</RequestId></Error>`;
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI from source, with s3rver's key given through Litestream's variables and no AWS settings of its own. */
function tidemark(args: string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('LITESTREAM_') && !k.startsWith('TIDEMARK_')) env[k] = v;
  env['LITESTREAM_ACCESS_KEY_ID'] = S3RVER_ACCESS_KEY_ID;
  env['LITESTREAM_SECRET_ACCESS_KEY'] = S3RVER_SECRET_ACCESS_KEY;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('S3ReplicaClient: Litestream v0.3 backups', () => {
  let server: S3TestServer;
  let proxy: FaultProxy;
  let raw: S3Client;
  let tmp = '';
  let expected: Buffer;
  const clients: S3ReplicaClient[] = [];

  /** A client on `s3://bucket/path`, straight to the server or through the fault proxy. */
  function client(path: string, opts: { viaProxy?: boolean; bucket?: string; tuning?: S3ClientTuning } = {}): S3ReplicaClient {
    const c = testS3Client(opts.viaProxy === true ? proxy.endpoint : server.endpoint, opts.bucket ?? BUCKET, path, { ...TEST_TUNING, ...opts.tuning });
    clients.push(c);
    return c;
  }

  before(async () => {
    server = await startS3Server([BUCKET, ROOT_BUCKET]);
    proxy = await FaultProxy.start(server.endpoint);
    raw = server.raw();
    tmp = await mkdtemp(join(tmpdir(), 'tidemark-v03-s3-'));
    expected = await readFile(V03_EXPECTED_DB);
    await uploadTree(raw, BUCKET, 'golden', V03_FIXTURE_REPLICA);
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await proxy.close();
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('lists the generation, its snapshot and six segments page by page, createdAt and size from the listing', async () => {
    const c = client('golden', { viaProxy: true, tuning: { listPageSize: 2 } });
    assert.ok(canReadV03(c));
    proxy.resetCounts();
    assert.deepEqual(await toV03Reader(c).v03Generations(), [GEN]);
    const snaps = await toV03Reader(c).v03Snapshots(GEN);
    const segs = await toV03Reader(c).v03WalSegments(GEN);
    const dir = new FileReplicaClient(V03_FIXTURE_REPLICA);
    assert.deepEqual(
      snaps.map((s) => [s.generation, s.index, s.size]),
      (await toV03Reader(dir).v03Snapshots(GEN)).map((s) => [s.generation, s.index, s.size]),
    );
    assert.deepEqual(
      segs.map((s) => [s.generation, s.index, s.offset, s.size]),
      (await toV03Reader(dir).v03WalSegments(GEN)).map((s) => [s.generation, s.index, s.offset, s.size]),
    );
    assert.deepEqual(
      segs.map((s) => [s.index, s.offset]),
      SEGMENTS.map(([i, o]) => [i, o]),
    );
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'golden/' }));
    const lastModified = new Map((listed.Contents ?? []).map((o) => [o.Key, o.LastModified?.getTime()]));
    for (const s of snaps) assert.equal(s.createdAt.getTime(), lastModified.get(`golden/${v03SnapshotKey(GEN, s.index)}`));
    for (const s of segs) assert.equal(s.createdAt.getTime(), lastModified.get(`golden/${v03WalSegmentKey(GEN, s.index, s.offset)}`));
    // Six segments two to a page: three requests, each asking for the WAL directory's own keys only.
    const walLists = proxy.requests.filter((r) => r.kind === 'list' && r.path.includes(encodeURIComponent(`golden/generations/${GEN}/wal/`)));
    assert.equal(walLists.length, 3);
    for (const r of walLists) {
      assert.match(r.path, /[?&]delimiter=%2F(&|$)/);
      assert.match(r.path, /[?&]max-keys=2(&|$)/);
    }
    assert.deepEqual(await toV03Reader(c).v03Snapshots('ffffffffffffffff'), []);
    assert.deepEqual(await toV03Reader(client('nothing-here')).v03Generations(), []);
  });

  it('finds every generation one page at a time, skipping names that are not v0.3 objects and other replicas', async () => {
    const prefix = 'mixed';
    const gens = [GEN, 'aaaaaaaaaaaaaaaa', 'ffffffffffffffff'];
    for (const g of gens) await uploadTree(raw, BUCKET, prefix, V03_FIXTURE_REPLICA, (rel) => rel.replace(GEN, g));
    const base = `${prefix}/generations`;
    for (const junk of [
      `${base}/NOT-A-GEN/snapshots/00000000.snapshot.lz4`,
      `${base}/0123456789ABCDEF/wal/00000000_00000000.wal.lz4`,
      `${base}/${GEN}0/snapshots/00000000.snapshot.lz4`,
      `${base}/stray-object`,
      `${base}/${GEN}/snapshots/00000001.snapshot.lz4.tmp`,
      `${base}/${GEN}/snapshots/0000000000000001.snapshot.lz4`,
      `${base}/${GEN}/wal/00000003/00000000.wal.lz4`,
      `${base}/${GEN}/wal/00000003_00000000.WAL.LZ4`,
      `${prefix}2/generations/bbbbbbbbbbbbbbbb/snapshots/00000000.snapshot.lz4`,
    ]) {
      await put(raw, junk);
    }
    // Offsets of different widths: key order is not numeric order.
    await put(raw, `${base}/${GEN}/wal/00000004_10000000.wal.lz4`);
    await put(raw, `${base}/${GEN}/wal/00000004_0ffffffff.wal.lz4`);

    const c = client(prefix, { viaProxy: true, tuning: { listPageSize: 1 } });
    proxy.resetCounts();
    assert.deepEqual(await toV03Reader(c).v03Generations(), gens);
    const scans = proxy.requests.filter((r) => r.kind === 'list' && new URL(r.path, 'http://x').searchParams.get('prefix') === `${base}/`);
    // Seven names under generations/ (three generations, three other directories, one object). One request per name under generations/, each starting after the previous name's keys: `<name>0` follows `<name>/…`.
    assert.deepEqual(
      scans.map((r) => new URL(r.path, 'http://x').searchParams.get('start-after')),
      [null, `${GEN}0`, `${GEN}00`, '0123456789ABCDEF0', 'NOT-A-GEN0', 'aaaaaaaaaaaaaaaa0', 'ffffffffffffffff0'].map((n) => (n === null ? null : `${base}/${n}`)),
    );
    assert.ok(scans.every((r) => !/[?&]delimiter=/.test(r.path)));
    // With the default page size, the 30-odd keys fit in one page, which names all three.
    const whole = client(prefix, { viaProxy: true });
    await whole.init();
    proxy.resetCounts();
    assert.deepEqual(await toV03Reader(whole).v03Generations(), gens);
    assert.deepEqual(
      proxy.requests.map((r) => [r.kind, new URL(r.path, 'http://x').searchParams.get('max-keys')]),
      [['list', String(S3_V03_GENERATION_SCAN_PAGE_SIZE)]],
    );

    assert.deepEqual(
      (await toV03Reader(c).v03Snapshots(GEN)).map((s) => s.index),
      [0],
    );
    assert.deepEqual(
      (await toV03Reader(c).v03WalSegments(GEN)).map((s) => [s.index, s.offset]),
      [...SEGMENTS.map(([i, o]) => [i, o]), [4, 0x1000_0000], [4, 0xffff_ffff]],
    );
    assert.deepEqual(
      (await toV03Reader(c).v03WalSegments('aaaaaaaaaaaaaaaa')).map((s) => [s.generation, s.index, s.offset, s.size]),
      (await toV03Reader(client('golden')).v03WalSegments(GEN)).map((s) => ['aaaaaaaaaaaaaaaa', s.index, s.offset, s.size]),
    );
  });

  it('finds exactly the generations among any names, whatever the page size (property)', async () => {
    // Names that are prefixes of one another and near misses (15 or 17 digits, upper case, a non-hex letter). Only
    // characters above '/' are used: s3rver walks its directories in an order that differs from S3's key order for names
    // that share a start and go on with a character below '/', which real S3 does not.
    const name = fc.array(fc.constantFrom('0', 'a', 'A', 'g'), { minLength: 15, maxLength: 17 }).map((a) => a.join(''));
    const sub = fc.constantFrom('snapshots/00000000.snapshot.lz4', 'wal/00000000_00000000.wal.lz4', 'wal/00000001/00000000.wal.lz4');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(name, sub), { minLength: 1, maxLength: 8, selector: ([n, k]) => `${n}/${k}` }), fc.integer({ min: 1, max: 4 }), async (objects, pageSize) => {
        const prefix = `prop-${run++}`;
        for (const [n, k] of objects) await put(raw, `${prefix}/generations/${n}/${k}`);
        const want = [...new Set(objects.map(([n]) => n).filter((n) => /^[0-9a-f]{16}$/.test(n)))].sort();
        assert.deepEqual(await toV03Reader(client(prefix, { tuning: { listPageSize: pageSize } })).v03Generations(), want);
      }),
      { numRuns: 12 },
    );
  });

  it('restores the golden replica byte for byte', async () => {
    const out = join(tmp, 'golden.db');
    const r = await restore({ client: client('golden'), outputPath: out, integrityCheck: 'full', replicaName: `s3://${BUCKET}/golden` });
    assert.ok((await readFile(out)).equals(expected));
    assert.equal(r.format, 'v0.3');
    assert.equal(r.files, 7);
    assert.deepEqual(r.v03, { generation: GEN, snapshotIndex: 0, walIndexes: [0, 1, 2], segments: 6, position: { index: 2, offset: 32 + 2 * (24 + 4096) } });
  });

  it('restores to a point in time from LastModified, as the directory backend does with the same times', async () => {
    const prefix = 'timed';
    await uploadTree(raw, BUCKET, prefix, V03_FIXTURE_REPLICA);
    const local = await copyFixtureReplica(tmp, 'timed-replica');
    // The snapshot written at 100 s, the segments at 101..106 s, on both replicas.
    for (const [k, key] of OBJECTS.entries()) {
      await server.setLastModified(BUCKET, `${prefix}/${key}`, at(100 + k));
      await utimes(join(local, key), at(100 + k), at(100 + k));
    }
    const c = client(prefix);
    assert.deepEqual(
      (await toV03Reader(c).v03WalSegments(GEN)).map((s) => s.createdAt.getTime()),
      SEGMENTS.map((_, k) => at(101 + k).getTime()),
    );
    const states: Buffer[] = [];
    for (let t = 100; t <= 106; t++) {
      const ours = join(tmp, `timed-s3-${t}.db`);
      const theirs = join(tmp, `timed-dir-${t}.db`);
      await restore({ client: c, outputPath: ours, timestamp: at(t) });
      await restore({ client: new FileReplicaClient(local), outputPath: theirs, timestamp: at(t) });
      const got = await readFile(ours);
      assert.ok(got.equals(await readFile(theirs)), `at ${t} s`);
      states.push(got);
    }
    assert.ok(states[6]!.equals(expected));
    assert.ok(!states[3]!.equals(expected), 'at 103 s the later indexes are not applied yet');
    await assert.rejects(restore({ client: c, outputPath: join(tmp, 'timed-99.db'), timestamp: at(99) }), V03NoSnapshotError);
    assert.ok(!existsSync(join(tmp, 'timed-99.db')));
  });

  it('reads a replica at the bucket root under generations/, with no leading "/"', async () => {
    await uploadTree(raw, ROOT_BUCKET, '', V03_FIXTURE_REPLICA);
    const c = client('', { viaProxy: true, bucket: ROOT_BUCKET });
    proxy.resetCounts();
    const out = join(tmp, 'root.db');
    await restore({ client: c, outputPath: out });
    assert.ok((await readFile(out)).equals(expected));
    const lists = proxy.requests.filter((r) => r.kind === 'list').map((r) => new URL(r.path, 'http://x').searchParams.get('prefix'));
    assert.ok(lists.includes('generations/'), JSON.stringify(lists));
    assert.ok(lists.includes(`generations/${GEN}/wal/`), JSON.stringify(lists));
    const gets = proxy.requests.filter((r) => r.kind === 'get').map((r) => decodeURIComponent(new URL(r.path, 'http://x').pathname));
    assert.ok(gets.includes(`/${ROOT_BUCKET}/${v03SnapshotKey(GEN, 0)}`), JSON.stringify(gets));
  });

  it('rejects a missing object with V03ObjectNotFoundError naming the bucket and the key', async () => {
    const c = client('golden');
    const missing = v03WalSegmentKey(GEN, 7, 0);
    await assert.rejects(toV03Reader(c).openV03WalSegment(GEN, 7, 0), (err: unknown) => {
      assert.ok(err instanceof V03ObjectNotFoundError);
      assert.equal(err.key, missing);
      assert.ok(err.message.includes(`s3://${BUCKET}/golden`), err.message);
      assert.ok(err.message.includes(`key golden/${missing}`), err.message);
      return true;
    });
    // An object that goes between the listing and its read fails a restore the same way. The plan needs listings only,
    // so the first GET is the snapshot's: S3's 404 reply to it stands for the object gone since it was listed.
    const viaProxy = client('golden', { viaProxy: true });
    proxy.clear();
    const before = proxy.injected;
    proxy.inject({ kind: 'reply', on: 'get', status: 404, body: noSuchKeyXml(`golden/${v03SnapshotKey(GEN, 0)}`), times: 1 });
    const out = join(tmp, 'gone.db');
    await assert.rejects(
      restore({ client: viaProxy, outputPath: out, parallelism: 1 }),
      (err: unknown) => {
        assert.ok(err instanceof V03ObjectNotFoundError, String(err));
        assert.equal(err.key, v03SnapshotKey(GEN, 0));
        assert.match(err.message, new RegExp(`s3://${BUCKET}/golden .*key golden/generations/${GEN}/snapshots/00000000\\.snapshot\\.lz4`));
        return true;
      },
    );
    proxy.clear();
    assert.equal(proxy.injected, before + 1);
    assert.ok(!existsSync(out));
  });

  it('refuses a corrupt object, naming it under the replica', async () => {
    const prefix = 'corrupt';
    await uploadTree(raw, BUCKET, prefix, V03_FIXTURE_REPLICA);
    const key = `${prefix}/${v03WalSegmentKey(GEN, 0, 0x2050)}`;
    const bytes = Buffer.from(await readFile(join(V03_FIXTURE_REPLICA, v03WalSegmentKey(GEN, 0, 0x2050))));
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await put(raw, key, bytes);
    const out = join(tmp, 'corrupt.db');
    await assert.rejects(restore({ client: client(prefix), outputPath: out, replicaName: `s3://${BUCKET}/${prefix}` }), (err: unknown) => {
      assert.ok(err instanceof V03CorruptObjectError, String(err));
      assert.ok(err.message.includes(`s3://${BUCKET}/${key}`), err.message);
      return true;
    });
    assert.ok(!existsSync(out));
    // Without that segment, the next one does not start where the one before it ended: the hole is named.
    await raw.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    await assert.rejects(restore({ client: client(prefix), outputPath: out }), (err: unknown) => {
      assert.ok(err instanceof V03SegmentGapError, String(err));
      assert.ok(err.message.includes('00000000_00003068.wal.lz4'), err.message);
      return true;
    });
    assert.ok(!existsSync(out));
  });

  it('resumes a v0.3 object whose body breaks off mid-way, from the byte it reached', async () => {
    const c = client('golden', { viaProxy: true });
    const stored = await readFile(join(V03_FIXTURE_REPLICA, v03SnapshotKey(GEN, 0)));
    proxy.clear();
    proxy.resetCounts();
    const before = proxy.injected;
    proxy.inject({ kind: 'reset-body', on: 'get', afterBytes: 40, times: 1 });
    const got = await collect(await toV03Reader(c).openV03Snapshot(GEN, 0));
    assert.ok(got.equals(stored));
    assert.equal(proxy.injected, before + 1);
    const gets = proxy.requests.filter((r) => r.kind === 'get');
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.headers.range, undefined);
    assert.equal(gets[1]!.headers.range, `bytes=40-${stored.length - 1}`);

    // The first eight GETs of a restore, first reads and resumed ones alike, broken after 30 bytes: the same database.
    proxy.clear();
    proxy.resetCounts();
    proxy.inject({ kind: 'reset-body', on: 'get', afterBytes: 30, times: 8 });
    const out = join(tmp, 'resumed.db');
    await restore({ client: c, outputPath: out, parallelism: 1 });
    proxy.clear();
    assert.equal(proxy.injected, before + 1 + 8);
    assert.ok((await readFile(out)).equals(expected));
    const ranged = proxy.requests.filter((r) => r.kind === 'get' && r.headers.range !== undefined);
    assert.ok(ranged.length >= 2, `${ranged.length} resumed reads`);
    assert.ok(ranged.every((r) => /^bytes=(30|60|90|120|150|180|210|240)-\d+$/.test(r.headers.range!)), JSON.stringify(ranged.map((r) => r.headers.range)));
  });

  it('tidemark restore and ltx read a v0.3 replica from an s3:// URL', async () => {
    await uploadTree(raw, BUCKET, 'cli', V03_FIXTURE_REPLICA);
    for (const [k, key] of OBJECTS.entries()) await server.setLastModified(BUCKET, `cli/${key}`, at(100 + k));
    const url = (path: string): string => `s3://${BUCKET}/${path}?endpoint=${server.endpoint}&forcePathStyle=true`;
    const latest = join(tmp, 'cli-latest.db');
    const earlier = join(tmp, 'cli-103.db');
    const missing = join(tmp, 'cli-missing.db');
    const [a, b, ltx, none] = await Promise.all([
      tidemark(['restore', '-o', latest, url('cli')]),
      tidemark(['restore', '-o', earlier, '-timestamp', at(103).toISOString(), url('cli')]),
      tidemark(['ltx', '--level', 'all', '--json', url('cli')]),
      tidemark(['restore', '-o', missing, url('no-such-replica')]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stderr + a.stdout, /from Litestream v0\.3 generation 0000000000000000 \(snapshot index 00000000, WAL up to index 00000002 offset 8272, 6 segments\)/);
    assert.ok((await readFile(latest)).equals(expected));

    assert.equal(b.code, 0, b.stderr);
    const dirAt103 = join(tmp, 'cli-dir-103.db');
    const local = await copyFixtureReplica(tmp, 'cli-replica');
    for (const [k, key] of OBJECTS.entries()) await utimes(join(local, key), at(100 + k), at(100 + k));
    await restore({ client: new FileReplicaClient(local), outputPath: dirAt103, timestamp: at(103) });
    assert.ok((await readFile(earlier)).equals(await readFile(dirAt103)));

    assert.equal(ltx.code, 0, ltx.stderr);
    const rows = (JSON.parse(ltx.stdout) as { format: string; kind: string; key: string; timestamp: string }[]).filter((r) => r.format === 'v0.3');
    assert.deepEqual(
      rows.map((r) => [r.kind, r.key, r.timestamp]),
      OBJECTS.map((key, k) => [k === 0 ? 'snapshot' : 'wal', key, at(100 + k).toISOString().replace(/\.\d{3}Z$/, 'Z')]),
    );

    assert.notEqual(none.code, 0);
    assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
    assert.ok(!existsSync(missing));
  });
});
