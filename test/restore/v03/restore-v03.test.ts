import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { restore, type RestoreProgress } from '../../../src/restore/restore.js';
import { restoreIfMissing } from '../../../src/restore/restore-if-missing.js';
import { V03CorruptObjectError, V03RestoreError, V03SegmentGapError } from '../../../src/restore/v03/errors.js';
import { walChecksum } from '../../../src/sqlite/wal-checksum.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import type { RawObjectOpenOptions } from '../../../src/storage/raw-object-reader.js';
import { makeTempDir } from '../replica-fixtures.js';
import {
  copyFixtureReplica,
  LITESTREAM_V03_BIN,
  lz4Cli,
  ROOT,
  V03_EXPECTED_DB,
  V03_FIXTURE_GENERATION,
  V03_FIXTURE_REPLICA,
} from './helpers.js';
import { at } from './synthetic.js';

const GEN = V03_FIXTURE_GENERATION;
const PAGE = 4096;
const FRAME = 24 + PAGE;

/** Restores with the Litestream v0.3.13 binary into a directory of its own (it leaves `-shm`/`-wal` litter beside the output). */
function litestreamRestore(dir: string, replica: string, timestamp?: Date): Buffer {
  const out = join(dir, 'db');
  const args = ['restore', '-o', out, ...(timestamp ? ['-timestamp', timestamp.toISOString()] : []), `file://${replica}`];
  const r = spawnSync(LITESTREAM_V03_BIN, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `litestream ${args.join(' ')}: ${r.stderr}`);
  return readFileSyncBuffer(out);
}

function readFileSyncBuffer(path: string): Buffer {
  const r = spawnSync('cat', [path], { maxBuffer: 64 * 1024 * 1024 });
  return r.stdout;
}

function tidemarkCli(...args: string[]): { code: number; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status ?? -1, stderr: r.stderr };
}

const walPath = (replica: string, index: number, offset: number): string =>
  join(replica, 'generations', GEN, 'wal', `${index.toString(16).padStart(8, '0')}_${offset.toString(16).padStart(8, '0')}.wal.lz4`);
const snapshotPath = (replica: string): string => join(replica, 'generations', GEN, 'snapshots', '00000000.snapshot.lz4');

/** Decompressed bytes of a stored object. */
async function inflate(path: string): Promise<Buffer> {
  return lz4Cli(['-d'], await readFile(path));
}

/** Replaces a stored object with new decompressed content, compressed as Litestream's Go writer does (4 MiB blocks). */
async function deflateTo(path: string, data: Uint8Array): Promise<void> {
  await writeFile(path, lz4Cli(['-z', '-q', '-B7'], data));
}

/** Appends a frame to a WAL whose last frame ends it, continuing the checksum chain. */
function appendFrame(wal: Buffer, pgno: number, commit: number, page: Uint8Array): Buffer {
  const bigEndian = wal.readUInt32BE(0) === 0x377f0683;
  const last = wal.length - FRAME;
  const seed = last >= 32 ? { s0: wal.readUInt32BE(last + 16), s1: wal.readUInt32BE(last + 20) } : { s0: wal.readUInt32BE(24), s1: wal.readUInt32BE(28) };
  const frame = Buffer.alloc(FRAME);
  frame.writeUInt32BE(pgno, 0);
  frame.writeUInt32BE(commit, 4);
  wal.copy(frame, 8, 16, 24);
  frame.set(page.subarray(0, PAGE), 24);
  let sum = walChecksum(frame, bigEndian, seed, 0, 8);
  sum = walChecksum(frame, bigEndian, sum, 24, FRAME);
  frame.writeUInt32BE(sum.s0, 16);
  frame.writeUInt32BE(sum.s1, 20);
  return Buffer.concat([wal, frame]);
}

describe('restore from the golden v0.3 replica', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let expected: Buffer;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('v03-golden'));
    expected = await readFile(V03_EXPECTED_DB);
  });
  after(() => cleanup());

  it('rebuilds expected_restored.db byte for byte, checkpointing each of the three WAL indexes in turn', async () => {
    const out = join(dir, 'out', 'restored.db');
    const r = await restore({ client: new FileReplicaClient(V03_FIXTURE_REPLICA), outputPath: out, integrityCheck: 'full' });
    assert.ok((await readFile(out)).equals(expected));
    assert.equal(r.format, 'v0.3');
    assert.equal(r.txid, 0n);
    assert.equal(r.pageSize, PAGE);
    assert.equal(r.pageCount, 2);
    assert.equal(r.bytes, expected.length);
    assert.equal(r.files, 7);
    assert.deepEqual(r.v03, { generation: GEN, snapshotIndex: 0, walIndexes: [0, 1, 2], segments: 6, position: { index: 2, offset: 32 + 2 * FRAME } });
    assert.deepEqual(await readdir(join(dir, 'out')), ['restored.db']);
  });

  it('reports progress as it fetches the snapshot and segments and writes the database', async () => {
    const out = join(dir, 'progress', 'restored.db');
    const seen: RestoreProgress[] = [];
    const r = await restore({ client: new FileReplicaClient(V03_FIXTURE_REPLICA), outputPath: out, onProgress: (p) => seen.push(p) });
    assert.ok((await readFile(out)).equals(expected));
    const objects = [...(await readdir(join(V03_FIXTURE_REPLICA, 'generations', GEN, 'snapshots'), { recursive: true, withFileTypes: true }))]
      .concat(await readdir(join(V03_FIXTURE_REPLICA, 'generations', GEN, 'wal'), { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile());
    let stored = 0;
    for (const e of objects) stored += (await readFile(join(e.parentPath, e.name))).length;
    assert.ok(seen.length >= 2, `${seen.length} progress reports`);
    for (const [i, p] of seen.entries()) {
      assert.equal(p.bytesToFetch, stored);
      assert.ok(p.bytesFetched <= p.bytesToFetch && p.bytesWritten <= r.bytes);
      if (i > 0) assert.ok(p.bytesFetched >= seen[i - 1]!.bytesFetched, 'fetched bytes never go back');
    }
    assert.deepEqual(seen[seen.length - 1], { bytesFetched: stored, bytesToFetch: stored, pagesWritten: r.pageCount, bytesWritten: r.bytes });
  });

  it('matches the Litestream v0.3.13 binary at every moment of the backup', async () => {
    const replica = await copyFixtureReplica(dir, 'timed');
    // Objects dated 100 s (snapshot), 101..106 s (segments in order).
    const objects = [snapshotPath(replica), ...[[0, 0], [0, 0x2050], [0, 0x3068], [1, 0], [2, 0], [2, 0x1038]].map(([i, o]) => walPath(replica, i!, o!))];
    for (const [k, p] of objects.entries()) await utimes(p, at(100 + k), at(100 + k));
    for (let t = 100; t <= 106; t++) {
      const ours = join(dir, `t${t}.db`);
      await restore({ client: new FileReplicaClient(replica), outputPath: ours, timestamp: at(t) });
      const lsDir = join(dir, `ls-${t}`);
      await mkdir(lsDir);
      assert.ok((await readFile(ours)).equals(litestreamRestore(lsDir, replica, at(t))), `at ${t} s`);
    }
    assert.ok((await readFile(join(dir, 't106.db'))).equals(expected));
    assert.ok(!(await readFile(join(dir, 't103.db'))).equals(expected));
    // Past the last object Litestream refuses ("no matching backups found"); tidemark restores the latest state, as it does for LTX.
    await restore({ client: new FileReplicaClient(replica), outputPath: join(dir, 't200.db'), timestamp: at(200) });
    assert.ok((await readFile(join(dir, 't200.db'))).equals(expected));
    await assert.rejects(
      restore({ client: new FileReplicaClient(replica), outputPath: join(dir, 't99.db'), timestamp: at(99) }),
      /no v0\.3 snapshot in .* was created at or before 2024-01-01T00:01:39\.000Z/,
    );
  });

  it('restores through the CLI, naming the generation and position', () => {
    const out = join(dir, 'cli.db');
    const r = tidemarkCli('restore', '-o', out, '-integrity-check', 'quick', `file://${V03_FIXTURE_REPLICA}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /restored .* from Litestream v0\.3 generation 0000000000000000 \(snapshot index 00000000, WAL up to index 00000002 offset 8272, 6 segments\): 2 pages of 4096 bytes/);
    assert.ok(readFileSyncBuffer(out).equals(expected));
    const again = tidemarkCli('restore', '-o', out, `file://${V03_FIXTURE_REPLICA}`);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /output path already exists/);
  });

  it('restoreIfMissing restores a v0.3 replica, then leaves the database alone', async () => {
    const out = join(dir, 'app.db');
    const first = await restoreIfMissing({ client: new FileReplicaClient(V03_FIXTURE_REPLICA), outputPath: out });
    assert.ok(first.restored && first.format === 'v0.3');
    const second = await restoreIfMissing({ client: new FileReplicaClient(V03_FIXTURE_REPLICA), outputPath: out });
    assert.deepEqual(second, { restored: false, reason: 'output-exists', outputPath: out });
  });

  it('refuses a TXID target on a replica holding only v0.3 backups', async () => {
    await assert.rejects(
      restore({ client: new FileReplicaClient(V03_FIXTURE_REPLICA), outputPath: join(dir, 'txid.db'), txid: 1n }),
      (err: unknown) => err instanceof V03RestoreError && /only Litestream v0\.3 backups, which have no TXIDs/.test(err.message),
    );
  });
});

describe('WAL frames as SQLite checkpoints them', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await makeTempDir('v03-frames')));
  after(() => cleanup());

  for (const { name, commit, changes } of [
    { name: 'an uncommitted frame at the end of an index is ignored', commit: 0, changes: false },
    { name: 'a committed frame at the end of an index is applied', commit: 2, changes: true },
    { name: 'a committed frame that grows the database is applied', commit: 3, changes: true },
  ]) {
    it(`${name}, as by the Litestream v0.3.13 binary`, async () => {
      const replica = await copyFixtureReplica(dir, `r-${commit}`);
      const last = walPath(replica, 2, 0x1038);
      const seg = await inflate(last);
      // The segment holds one frame after the WAL header that ends in the segment before it.
      const whole = Buffer.concat([await inflate(walPath(replica, 2, 0)), seg]);
      // Page 2 (table t) again, with a byte of its free space changed: a visible difference that keeps the database valid.
      const page = Buffer.from(whole.subarray(whole.length - PAGE));
      page[2000] = page[2000]! ^ 0xff;
      const grown = appendFrame(whole, commit === 3 ? 3 : 2, commit, page);
      await deflateTo(last, grown.subarray(0x1038));
      const ours = join(dir, `ours-${commit}.db`);
      await restore({ client: new FileReplicaClient(replica), outputPath: ours, integrityCheck: commit === 3 ? 'none' : 'full' });
      const lsDir = join(dir, `ls-${commit}`);
      await mkdir(lsDir);
      const theirs = litestreamRestore(lsDir, replica);
      const got = await readFile(ours);
      assert.ok(got.equals(theirs));
      assert.equal(got.equals(await readFile(V03_EXPECTED_DB)), !changes);
      if (commit === 3) assert.equal(got.length, 3 * PAGE);
    });
  }
});

describe('damaged v0.3 backups', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  before(async () => ({ dir, cleanup } = await makeTempDir('v03-damage')));
  after(() => cleanup());

  /** Damages a fresh copy, restores it, and checks the error and that nothing is left at (or beside) the output. */
  async function expectFailure(
    damage: (replica: string) => Promise<void>,
    check: (err: Error, replica: string) => void,
  ): Promise<void> {
    const replica = await copyFixtureReplica(dir, `r${n}`);
    await damage(replica);
    const outDir = join(dir, `out${n++}`);
    await mkdir(outDir);
    const out = join(outDir, 'db');
    await assert.rejects(restore({ client: new FileReplicaClient(replica), outputPath: out }), (err: Error) => {
      check(err, replica);
      return true;
    });
    assert.deepEqual(await readdir(outDir), [], 'nothing may be left at or beside the output path');
  }

  it('a truncated segment: a clear error naming the file', async () => {
    await expectFailure(
      (r) => truncate(walPath(r, 0, 0x2050), 60),
      (err, r) => {
        assert.ok(err instanceof V03CorruptObjectError);
        assert.equal(err.object, `${r}/generations/${GEN}/wal/00000000_00002050.wal.lz4`);
        assert.match(err.message, /00000000_00002050\.wal\.lz4: truncated: the file ends inside the LZ4 block \(at byte 60\)/);
      },
    );
  });

  it('an empty segment and a truncated snapshot', async () => {
    await expectFailure(
      (r) => writeFile(walPath(r, 1, 0), ''),
      (err) => assert.match(err.message, /00000001_00000000\.wal\.lz4: empty file/),
    );
    await expectFailure(
      (r) => truncate(snapshotPath(r), 50),
      (err) => assert.match(err.message, /snapshots\/00000000\.snapshot\.lz4: truncated/),
    );
  });

  it('a corrupted byte in a segment or the snapshot', async () => {
    for (const [path, name] of [
      [(r: string) => walPath(r, 2, 0), '00000002_00000000.wal.lz4'],
      [(r: string) => snapshotPath(r), '00000000.snapshot.lz4'],
    ] as const) {
      await expectFailure(
        async (r) => {
          const bytes = await readFile(path(r));
          bytes[40] = bytes[40]! ^ 0x5a;
          await writeFile(path(r), bytes);
        },
        (err) => {
          assert.ok(err instanceof V03CorruptObjectError, String(err));
          assert.ok(err.object.endsWith(name), err.message);
        },
      );
    }
  });

  it('a missing segment inside an index: a gap error naming both sides', async () => {
    await expectFailure(
      (r) => unlink(walPath(r, 0, 0x2050)),
      (err) => {
        assert.ok(err instanceof V03SegmentGapError);
        assert.match(err.message, /00000000_00003068\.wal\.lz4 starts at offset 12392 of WAL index 00000000, but .*00000000_00000000\.wal\.lz4 ends at 8272: the segment for bytes 8272-12391 is missing/);
      },
    );
  });

  it('a missing index, or an index without its first segment', async () => {
    await expectFailure(
      (r) => unlink(walPath(r, 1, 0)),
      (err, r) => {
        assert.ok(err instanceof V03SegmentGapError);
        assert.equal(err.missing, `${r}/generations/${GEN}/wal/00000001_00000000.wal.lz4`);
      },
    );
    await expectFailure(
      (r) => unlink(walPath(r, 2, 0)),
      (err) => assert.match(err.message, /WAL index 00000002 .* has no segment at offset 0 .* its first segment is .*00000002_00001038\.wal\.lz4/),
    );
  });

  it('a WAL frame whose checksum breaks, inside an intact LZ4 frame', async () => {
    await expectFailure(
      async (r) => {
        const seg = await inflate(walPath(r, 2, 0x1038));
        seg[24 + 100] = seg[24 + 100]! ^ 1;
        await deflateTo(walPath(r, 2, 0x1038), seg);
      },
      (err) => {
        assert.ok(err instanceof V03CorruptObjectError);
        assert.match(err.message, /00000002_00001038\.wal\.lz4: WAL frame checksum mismatch: the segment is corrupt \(byte 4152 of WAL index 00000002, decompressed\)/);
      },
    );
  });

  it('a WAL header that fails its checksum, and a segment from another index', async () => {
    await expectFailure(
      async (r) => {
        const seg = await inflate(walPath(r, 1, 0));
        seg[13] = seg[13]! ^ 1;
        await deflateTo(walPath(r, 1, 0), seg);
      },
      (err) => assert.match(err.message, /00000001_00000000\.wal\.lz4: bad WAL: WAL header checksum mismatch/),
    );
    await expectFailure(
      async (r) => {
        // Index 0's frame at 0x2050 is one frame long, as index 2's segment at 0x1038 is, but carries index 0's salts.
        await writeFile(walPath(r, 2, 0x1038), await readFile(walPath(r, 0, 0x2050)));
      },
      (err) => assert.match(err.message, /00000002_00001038\.wal\.lz4: WAL frame carries salts other than the WAL header/),
    );
  });

  it('a snapshot that is not a SQLite database', async () => {
    await expectFailure(
      (r) => deflateTo(snapshotPath(r), Buffer.alloc(4096, 7)),
      (err) => assert.match(err.message, /00000000\.snapshot\.lz4: the decompressed snapshot is not a SQLite database/),
    );
  });

  it('a database that fails -integrity-check full is not put in place', async () => {
    const replica = await copyFixtureReplica(dir, 'integrity');
    // Page 1 of the real database (its schema points at page 2), then a page 2 of garbage; no WAL.
    const page1 = (await readFile(V03_EXPECTED_DB)).subarray(0, PAGE);
    await deflateTo(snapshotPath(replica), Buffer.concat([page1, Buffer.alloc(PAGE, 0xa5)]));
    await rm(join(replica, 'generations', GEN, 'wal'), { recursive: true });
    const outDir = join(dir, 'integrity-out');
    await mkdir(outDir);
    await assert.rejects(
      restore({ client: new FileReplicaClient(replica), outputPath: join(outDir, 'db'), integrityCheck: 'full' }),
      (err: Error) => err.name === 'RestoreIntegrityError' && /failed integrity_check/.test(err.message),
    );
    assert.deepEqual(await readdir(outDir), []);
  });

  it('an abort part way through leaves nothing behind', async () => {
    const ac = new AbortController();
    /** The real directory client, with the restore aborted when it asks for WAL index 1. */
    class AbortingClient extends FileReplicaClient {
      override openRawObject(key: string, opts?: RawObjectOpenOptions): Promise<AsyncIterable<Uint8Array>> {
        if (key.includes('/wal/00000001_')) ac.abort(new Error('stopped by the test'));
        return super.openRawObject(key, opts);
      }
    }
    const outDir = join(dir, 'abort-out');
    await mkdir(outDir);
    await assert.rejects(restore({ client: new AbortingClient(V03_FIXTURE_REPLICA), outputPath: join(outDir, 'db'), signal: ac.signal }), /stopped by the test/);
    assert.deepEqual(await readdir(outDir), []);
  });

  it('the CLI prints one line naming the file and exits non-zero', async () => {
    const replica = await copyFixtureReplica(dir, 'cli');
    await truncate(walPath(replica, 1, 0), 20);
    const out = join(dir, 'cli-out.db');
    const r = tidemarkCli('restore', '-o', out, replica);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^tidemark: .*00000001_00000000\.wal\.lz4: truncated/);
    assert.equal(existsSync(out), false);
    await rm(replica, { recursive: true });
  });
});
