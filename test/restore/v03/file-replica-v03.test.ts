import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import {
  formatV03WalSegmentName,
  parseV03SnapshotName,
  parseV03WalSegmentName,
  v03CreatedAtFromNs,
  V03KeyError,
  V03ObjectNotFoundError,
  v03SnapshotKey,
  v03WalSegmentKey,
  formatV03SnapshotName,
} from '../../../src/storage/v03-replica-client.js';
import { listV03Backups, v03ListingRows } from '../../../src/restore/v03/listing.js';
import { collect, V03_FIXTURE_GENERATION, V03_FIXTURE_REPLICA, withTempDir } from './helpers.js';
import { canReadV03, toV03Reader } from '../../../src/storage/v03-reader.js';

const GEN = V03_FIXTURE_GENERATION;

describe('FileReplicaClient: v0.3 layout', () => {
  it('lists the golden replica: one generation, its snapshot and six segments in (index, offset) order', async () => {
    const client = new FileReplicaClient(V03_FIXTURE_REPLICA);
    assert.ok(canReadV03(client));
    assert.deepEqual(await toV03Reader(client).v03Generations(), [GEN]);
    const snaps = await toV03Reader(client).v03Snapshots(GEN);
    assert.deepEqual(
      snaps.map((s) => [s.generation, s.index, s.size]),
      [[GEN, 0, 93]],
    );
    const segs = await toV03Reader(client).v03WalSegments(GEN);
    assert.deepEqual(
      segs.map((s) => [s.index, s.offset, s.size]),
      [
        [0, 0, 249],
        [0, 0x2050, 90],
        [0, 0x3068, 94],
        [1, 0, 128],
        [2, 0, 125],
        [2, 0x1038, 108],
      ],
    );
    const st = await stat(join(V03_FIXTURE_REPLICA, v03WalSegmentKey(GEN, 2, 0x1038)), { bigint: true });
    assert.deepEqual(segs[5]!.createdAt, v03CreatedAtFromNs(st.mtimeNs));
  });

  it('streams the stored (compressed) bytes of snapshots and segments', async () => {
    const client = new FileReplicaClient(V03_FIXTURE_REPLICA);
    const snap = await collect(await toV03Reader(client).openV03Snapshot(GEN, 0));
    assert.ok(snap.equals(await readFile(join(V03_FIXTURE_REPLICA, v03SnapshotKey(GEN, 0)))));
    const seg = await collect(await toV03Reader(client).openV03WalSegment(GEN, 0, 0x2050));
    assert.ok(seg.equals(await readFile(join(V03_FIXTURE_REPLICA, 'generations', GEN, 'wal', '00000000_00002050.wal.lz4'))));
  });

  it('rejects a missing object with V03ObjectNotFoundError naming its key', async () => {
    const client = new FileReplicaClient(V03_FIXTURE_REPLICA);
    await assert.rejects(toV03Reader(client).openV03WalSegment(GEN, 7, 0), (err: unknown) => {
      assert.ok(err instanceof V03ObjectNotFoundError);
      assert.equal(err.key, `generations/${GEN}/wal/00000007_00000000.wal.lz4`);
      assert.match(err.message, /00000007_00000000\.wal\.lz4/);
      return true;
    });
    await assert.rejects(toV03Reader(client).openV03Snapshot('ffffffffffffffff', 0), V03ObjectNotFoundError);
    await assert.rejects(toV03Reader(client).v03Snapshots('../../etc'), V03KeyError);
    await assert.rejects(toV03Reader(client).openV03WalSegment(GEN, -1, 0), V03KeyError);
  });

  it('skips names that are not v0.3 objects, sorts offsets as numbers, and lists an absent layout as empty', async () => {
    await withTempDir('v03-list', async (dir) => {
      const client = new FileReplicaClient(join(dir, 'replica'));
      assert.deepEqual(await toV03Reader(client).v03Generations(), []);
      assert.deepEqual(await toV03Reader(client).v03Snapshots(GEN), []);
      const g = join(dir, 'replica', 'generations');
      await mkdir(join(g, GEN, 'snapshots'), { recursive: true });
      await mkdir(join(g, GEN, 'wal', '00000001'), { recursive: true }); // the unreleased v0.4 layout: a directory per index
      await mkdir(join(g, 'NOT-A-GENERATION'), { recursive: true });
      await mkdir(join(g, '0123456789ABCDEF'), { recursive: true });
      await writeFile(join(g, 'abcdefabcdefabcd'), 'a file, not a generation');
      const names = [
        'snapshots/00000003.snapshot.lz4',
        'snapshots/00000003.snapshot.lz4.tmp',
        'snapshots/0000000000000003.snapshot.lz4',
        'wal/00000001_100000000.wal.lz4',
        'wal/00000001_ffffffff.wal.lz4',
        'wal/00000001_00000000.wal.lz4',
        'wal/00000000_00000020.wal.lz4',
        'wal/00000001_00000000.wal.lz4.tmp',
        'wal/00000001/00000000.wal.lz4',
        'wal/0000000A_00000000.wal.lz4',
      ];
      for (const n of names) await writeFile(join(g, GEN, n), n);
      const when = new Date('2024-05-06T07:08:09.123Z');
      await utimes(join(g, GEN, 'snapshots/00000003.snapshot.lz4'), when, when);
      assert.deepEqual(await toV03Reader(client).v03Generations(), [GEN]);
      const snaps = await toV03Reader(client).v03Snapshots(GEN);
      assert.deepEqual(snaps.map((s) => [s.index, s.size, s.createdAt.toISOString()]), [[3, 31, when.toISOString()]]);
      const segs = await toV03Reader(client).v03WalSegments(GEN);
      assert.deepEqual(
        segs.map((s) => [s.index, s.offset]),
        [
          [0, 0x20],
          [1, 0],
          [1, 0xffffffff],
          [1, 0x100000000],
        ],
      );
      const listing = await listV03Backups(client);
      assert.equal(listing.generations.length, 1);
      const rows = v03ListingRows(listing);
      assert.deepEqual(
        rows.map((r) => [r.kind, r.key]),
        [
          ['snapshot', `generations/${GEN}/snapshots/00000003.snapshot.lz4`],
          ['wal', `generations/${GEN}/wal/00000000_00000020.wal.lz4`],
          ['wal', `generations/${GEN}/wal/00000001_00000000.wal.lz4`],
          ['wal', `generations/${GEN}/wal/00000001_ffffffff.wal.lz4`],
          ['wal', `generations/${GEN}/wal/00000001_100000000.wal.lz4`],
        ],
      );
      assert.ok(rows.every((r) => r.format === 'v0.3'));
      assert.deepEqual(listing.generations[0]!.createdAt, when);
    });
  });

  it('rounds modification times up to the millisecond', () => {
    assert.equal(v03CreatedAtFromNs(1_700_000_000_000_000_000n).getTime(), 1_700_000_000_000);
    assert.equal(v03CreatedAtFromNs(1_700_000_000_000_000_001n).getTime(), 1_700_000_000_001);
    assert.equal(v03CreatedAtFromNs(1_700_000_000_000_999_999n).getTime(), 1_700_000_000_001);
  });

  it('object names round-trip through the parsers (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), (index, offset) => {
        assert.equal(parseV03SnapshotName(formatV03SnapshotName(index)), index);
        assert.deepEqual(parseV03WalSegmentName(formatV03WalSegmentName(index, offset)), { index, offset });
      }),
    );
    assert.equal(formatV03WalSegmentName(1, 0x2050), '00000001_00002050.wal.lz4');
    assert.throws(() => formatV03SnapshotName(0x1_0000_0000), V03KeyError);
  });
});
