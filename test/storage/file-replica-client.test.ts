import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { FileReplicaClient, FILE_READ_CHUNK_SIZE, ltxFilePath } from '../../src/storage/file-replica-client.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { ReplicaUrlError, StorageError } from '../../src/storage/errors.js';
import { runReplicaClientConformance } from './conformance.js';
import { chunked, failingStream, listAll, makeLtxFile } from './ltx-fixtures.js';

const T0 = Date.UTC(2024, 5, 30, 23, 59, 59, 321);

async function tempRoot(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-storage-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every file under dir, as '/'-separated paths relative to it, sorted. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

runReplicaClientConformance('file', async () => {
  const { dir, cleanup } = await tempRoot();
  return { client: new FileReplicaClient(join(dir, 'replica')), cleanup };
});

runReplicaClientConformance('file behind a FaultInjectingClient with no faults', async () => {
  const { dir, cleanup } = await tempRoot();
  return { client: new FaultInjectingClient(new FileReplicaClient(dir)), cleanup };
});

describe('FileReplicaClient on disk', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;

  before(async () => {
    ({ dir, cleanup } = await tempRoot());
  });
  after(async () => {
    await cleanup();
  });

  /** A fresh replica root inside the test's temp dir (not created yet). */
  function freshRoot(): string {
    return join(dir, `r${++n}`);
  }

  async function put(client: FileReplicaClient, level: number, min: bigint, max: bigint, timestamp = T0): Promise<Uint8Array> {
    const bytes = await makeLtxFile({ minTxid: min, maxTxid: max, timestamp });
    await client.writeLtxFile(level, min, max, chunked(bytes, 50));
    return bytes;
  }

  it('lays files out as <root>/ltx/<decimal level>/<%016x>-<%016x>.ltx', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    const a = await put(c, 0, 1n, 1n);
    await put(c, 1, 1n, 0x2an);
    await put(c, 9, 1n, 0xdeadbeefn);
    await put(c, 12, 0xfedcba9876543210n, 0xfedcba9876543211n);
    assert.deepEqual(await tree(root), [
      'ltx/0/0000000000000001-0000000000000001.ltx',
      'ltx/1/0000000000000001-000000000000002a.ltx',
      'ltx/12/fedcba9876543210-fedcba9876543211.ltx',
      'ltx/9/0000000000000001-00000000deadbeef.ltx',
    ]);
    assert.deepEqual(new Uint8Array(await readFile(join(root, 'ltx/0/0000000000000001-0000000000000001.ltx'))), a);
    assert.equal(ltxFilePath(root, 12, 0xfen, 0xffn), join(root, 'ltx', '12', '00000000000000fe-00000000000000ff.ltx'));
  });

  it('sets each file mtime to its LTX header timestamp, and lists that as createdAt', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    const stamps = [T0, Date.UTC(2001, 0, 1, 0, 0, 0, 1), Date.UTC(2020, 1, 29, 12, 0, 0, 999)];
    for (let i = 0; i < stamps.length; i++) await put(c, 0, BigInt(i + 1), BigInt(i + 1), stamps[i]);
    for (let i = 0; i < stamps.length; i++) {
      const st = await stat(ltxFilePath(root, 0, BigInt(i + 1), BigInt(i + 1)));
      assert.equal(Math.round(st.mtimeMs), stamps[i]);
    }
    const listed = await listAll(c.ltxFiles(0));
    assert.deepEqual(listed.map((f) => f.createdAt.getTime()), stamps);
  });

  it('leaves no .tmp file after a write succeeds, fails, is refused or is aborted', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    const bytes = await put(c, 0, 1n, 1n);
    const other = await makeLtxFile({ minTxid: 2n, maxTxid: 2n, timestamp: T0, pages: 20 });
    await assert.rejects(c.writeLtxFile(0, 2n, 2n, failingStream(other, 4000, new Error('network down'))), /network down/);
    await assert.rejects(c.writeLtxFile(0, 3n, 3n, chunked(other)), /TXIDs/);
    await assert.rejects(c.writeLtxFile(0, 2n, 2n, chunked(other), AbortSignal.abort()), { name: 'AbortError' });
    assert.deepEqual(await tree(root), ['ltx/0/0000000000000001-0000000000000001.ltx']);
    assert.deepEqual(new Uint8Array(await readFile(ltxFilePath(root, 0, 1n, 1n))), bytes);
  });

  it('accepts any chunking: one byte at a time, one big chunk, a source that reuses its buffer', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 3 });
    async function* reusing(): AsyncGenerator<Uint8Array> {
      const buf = new Uint8Array(40);
      for (let at = 0; at < bytes.length; at += buf.length) {
        const part = bytes.subarray(at, at + buf.length);
        buf.fill(0xee);
        buf.set(part);
        yield buf.subarray(0, part.length);
      }
    }
    const sources: [string, AsyncIterable<Uint8Array>][] = [
      ['1-byte chunks', chunked(bytes, 1)],
      ['one chunk', chunked(bytes, bytes.length)],
      ['reused buffer', reusing()],
    ];
    for (const [what, source] of sources) {
      await c.deleteAll();
      const info = await c.writeLtxFile(0, 1n, 1n, source);
      assert.equal(info.size, bytes.length, what);
      assert.deepEqual(new Uint8Array(await readFile(ltxFilePath(root, 0, 1n, 1n))), bytes, what);
    }
  });

  it('a refused write creates no directories', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    await assert.rejects(c.writeLtxFile(0, 1n, 1n, chunked(new Uint8Array(500))), StorageError);
    await assert.rejects(stat(root), { code: 'ENOENT' });
  });

  it('wraps a failing source as a StorageError naming the file, with the source error as cause', async () => {
    const c = new FileReplicaClient(freshRoot());
    const bytes = await makeLtxFile({ minTxid: 5n, maxTxid: 5n, timestamp: T0, pages: 10 });
    const boom = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await assert.rejects(c.writeLtxFile(3, 5n, 5n, failingStream(bytes, 2000, boom)), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.cause, boom);
      assert.match(err.message, /ltx\/3\/0000000000000005-0000000000000005\.ltx.*socket hang up/);
      return true;
    });
  });

  it('ignores names that are not LTX file names: stale .tmp files, other files, directories', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    await put(c, 0, 2n, 2n);
    const level = join(root, 'ltx', '0');
    await writeFile(join(level, '0000000000000001-0000000000000001.ltx.tmp'), 'left by a crash');
    await writeFile(join(level, '0000000000000003-0000000000000003.LTX'), 'x');
    await writeFile(join(level, '000000000000000A-000000000000000A.ltx'), 'x');
    await writeFile(join(level, '1-1.ltx'), 'x');
    await writeFile(join(level, 'README'), 'x');
    await mkdir(join(level, '0000000000000004-0000000000000004.ltx'));
    const listed = await listAll(c.ltxFiles(0));
    assert.deepEqual(listed.map((f) => [f.minTxid, f.maxTxid]), [[2n, 2n]]);
  });

  it('replaces a stale .tmp left by a crash when the same file is written', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    await mkdir(join(root, 'ltx', '0'), { recursive: true });
    await writeFile(ltxFilePath(root, 0, 7n, 7n) + '.tmp', new Uint8Array(100_000).fill(1));
    const bytes = await put(c, 0, 7n, 7n);
    assert.deepEqual(new Uint8Array(await readFile(ltxFilePath(root, 0, 7n, 7n))), bytes);
    assert.deepEqual(await tree(root), ['ltx/0/0000000000000007-0000000000000007.ltx']);
  });

  it('streams large files in bounded chunks', async () => {
    const c = new FileReplicaClient(freshRoot());
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 9n, timestamp: T0, pages: 200, pageSize: 4096, incompressible: true });
    await c.writeLtxFile(9, 1n, 9n, chunked(bytes, 1 << 20));
    const sizes: number[] = [];
    for await (const chunk of await c.openLtxFile(9, 1n, 9n)) sizes.push(chunk.length);
    assert.ok(sizes.length >= 3);
    assert.ok(sizes.every((s) => s > 0 && s <= FILE_READ_CHUNK_SIZE));
    assert.equal(sizes.reduce((a, b) => a + b, 0), bytes.length);
  });

  it('deleteAll removes only <root>/ltx', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    await put(c, 0, 1n, 1n);
    await put(c, 9, 1n, 1n);
    await writeFile(join(root, 'keep.txt'), 'keep');
    await mkdir(join(root, 'ltx-old', '0'), { recursive: true });
    await writeFile(join(root, 'ltx-old', '0', '0000000000000001-0000000000000001.ltx'), 'keep');
    await mkdir(join(root, 'generations', 'abc'), { recursive: true });
    await writeFile(join(root, 'generations', 'abc', 'snapshot'), 'keep');
    await c.deleteAll();
    assert.deepEqual(await tree(root), ['generations/abc/snapshot', 'keep.txt', 'ltx-old/0/0000000000000001-0000000000000001.ltx']);
    assert.equal((await readdir(root)).includes('ltx'), false);
  });

  it('resolves a relative root to an absolute path', async () => {
    const root = freshRoot();
    const rel = relative(process.cwd(), root);
    const c = new FileReplicaClient(rel);
    assert.equal(c.root, resolve(rel));
    assert.equal(c.root, root);
    await put(c, 0, 1n, 1n);
    assert.deepEqual(await tree(root), ['ltx/0/0000000000000001-0000000000000001.ltx']);
  });

  it('init accepts a missing root without creating it', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    await c.init();
    await c.init();
    await assert.rejects(stat(root), { code: 'ENOENT' });
    assert.deepEqual(await listAll(c.ltxFiles(0)), []);
    await c.deleteAll();
    await c.deleteLtxFiles([{ level: 0, minTxid: 1n, maxTxid: 1n, size: 0, createdAt: new Date() }]);
  });

  it('gives clear errors when the root is a file, or sits under one', async () => {
    const file = join(dir, `plain-file-${++n}`);
    await writeFile(file, 'not a directory');
    for (const root of [file, join(file, 'replica')]) {
      const c = new FileReplicaClient(root);
      const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0 });
      const ops: [string, () => Promise<unknown>][] = [
        ['init', () => c.init()],
        ['write', () => c.writeLtxFile(0, 1n, 1n, chunked(bytes))],
        ['list', () => listAll(c.ltxFiles(0))],
        ['open', () => c.openLtxFile(0, 1n, 1n)],
        ['deleteAll', () => c.deleteAll()],
      ];
      for (const [op, run] of ops) {
        await assert.rejects(run(), (err: unknown) => {
          assert.ok(err instanceof StorageError, `${op}: ${String(err)}`);
          assert.ok(err.message.includes(file), `${op}: ${err.message}`);
          return true;
        });
      }
    }
    assert.equal(await readFile(file, 'utf8'), 'not a directory');
  });

  it('init refuses an ltx entry that is not a directory', async () => {
    const root = freshRoot();
    await mkdir(root);
    await writeFile(join(root, 'ltx'), 'oops');
    await assert.rejects(new FileReplicaClient(root).init(), /ltx.*not a directory/);
  });

  it('refuses an empty root path', () => {
    assert.throws(() => new FileReplicaClient(''), ReplicaUrlError);
  });

  it('stores the header timestamp as the mtime, never before it and within a microsecond, and lists it back as it was', async () => {
    // Litestream reads createdAt from the mtime at nanosecond resolution: a time before the header's moves a file
    // to the other side of a -timestamp restore target at that millisecond. Exact where the runtime's utimes
    // keeps microseconds; where it keeps nanoseconds, no double reaches most milliseconds (test/io/file-time.test.ts).
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    let txid = 0n;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }), async (ms) => {
        txid++;
        await put(c, 0, txid, txid, ms);
        const { mtimeNs } = await stat(ltxFilePath(root, 0, txid, txid), { bigint: true });
        const target = BigInt(ms) * 1_000_000n;
        assert.ok(mtimeNs >= target && mtimeNs - target < 1000n, `timestamp ${ms}: mtime ${mtimeNs}`);
        const [f] = await listAll(c.ltxFiles(0, txid));
        assert.equal(f?.createdAt.getTime(), ms);
      }),
      { numRuns: 300 },
    );
  });

  it('lists an mtime between two milliseconds as the earlier one: Litestream restores the files strictly before a target time', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    await put(c, 0, 1n, 1n);
    const path = ltxFilePath(root, 0, 1n, 1n);
    const ms = Date.UTC(2010, 3, 4, 5, 6, 7, 8);
    // Two microseconds either side of the millisecond: far more than a double's error at this time (about 120 ns).
    for (const [offsetUs, listed] of [[2, ms], [-2, ms - 1]] as const) {
      const seconds = ms / 1000 + offsetUs / 1e6;
      await utimes(path, seconds, seconds);
      const offsetNs = (await stat(path, { bigint: true })).mtimeNs - BigInt(ms) * 1_000_000n;
      assert.ok(offsetUs > 0 ? offsetNs > 0n && offsetNs < 1_000_000n : offsetNs < 0n && offsetNs > -1_000_000n, `offset ${offsetNs} ns`);
      const [f] = await listAll(c.ltxFiles(0, 0n));
      assert.equal(f?.createdAt.getTime(), listed, `mtime ${offsetUs} µs from ${ms}`);
    }
  });

  it('lists createdAt from the mtime, so a file copied in keeps whatever mtime it was given', async () => {
    const root = freshRoot();
    const c = new FileReplicaClient(root);
    await put(c, 0, 1n, 1n);
    // Half a second past: a double holds that exactly, so utimes sets it to the nanosecond on every Node.
    const when = new Date(Date.UTC(2010, 3, 4, 5, 6, 7, 500));
    await utimes(ltxFilePath(root, 0, 1n, 1n), when, when);
    const [f] = await listAll(c.ltxFiles(0, 0n, { useMetadata: true }));
    assert.equal(f?.createdAt.getTime(), when.getTime());
  });
});
