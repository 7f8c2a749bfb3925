import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { AbsReplicaClient } from '../../src/storage/abs/abs-replica-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { GsReplicaClient } from '../../src/storage/gs/gs-replica-client.js';
import { NatsReplicaClient } from '../../src/storage/nats/nats-replica-client.js';
import {
  isRawObjectReader,
  RawObjectNotFoundError,
  type RawObjectInfo,
  type RawObjectOpenOptions,
  type RawObjectReader,
} from '../../src/storage/raw-object-reader.js';
import { S3ReplicaClient } from '../../src/storage/s3/s3-replica-client.js';
import { SftpReplicaClient } from '../../src/storage/sftp/sftp-replica-client.js';
import { V03ObjectNotFoundError } from '../../src/storage/v03-replica-client.js';
import { toV03Reader, V03Reader } from '../../src/storage/v03-reader.js';
import { WebdavReplicaClient } from '../../src/storage/webdav/webdav-replica-client.js';
import { collect } from './ltx-fixtures.js';

const GEN = '0123456789abcdef';
const V03_METHODS = ['v03Generations', 'v03Snapshots', 'v03WalSegments', 'openV03Snapshot', 'openV03WalSegment'];

/** Objects in memory under '/'-separated keys: the primitives and nothing else. */
class MemoryObjects implements RawObjectReader {
  readonly calls: string[] = [];
  constructor(private readonly objects: Map<string, { bytes: Uint8Array; at: number }>) {}

  async listRawDirs(dir: string): Promise<string[]> {
    this.calls.push(`dirs ${dir}`);
    const names = new Set<string>();
    for (const key of this.objects.keys()) {
      if (!key.startsWith(`${dir}/`)) continue;
      const rest = key.slice(dir.length + 1);
      if (rest.includes('/')) names.add(rest.slice(0, rest.indexOf('/')));
    }
    return [...names];
  }

  async listRawObjects(dir: string): Promise<RawObjectInfo[]> {
    this.calls.push(`objects ${dir}`);
    const out: RawObjectInfo[] = [];
    for (const [key, o] of this.objects) {
      const rest = key.startsWith(`${dir}/`) ? key.slice(dir.length + 1) : undefined;
      if (rest !== undefined && !rest.includes('/')) out.push({ name: rest, size: o.bytes.length, modifiedAt: new Date(o.at) });
    }
    return out.reverse();
  }

  async openRawObject(key: string, opts: RawObjectOpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    this.calls.push(`open ${key}`);
    const o = this.objects.get(key);
    if (o === undefined) throw new RawObjectNotFoundError(key, `memory:${key}`, { cause: new Error('no such key') });
    const start = opts.offset ?? 0;
    const end = opts.size === undefined || opts.size === 0 ? o.bytes.length : start + opts.size;
    return (async function* () {
      yield o.bytes.slice(start, end);
    })();
  }
}

function objects(keys: readonly string[]): MemoryObjects {
  return new MemoryObjects(new Map(keys.map((k, i) => [k, { bytes: new TextEncoder().encode(k), at: 1_000 * (i + 1) }])));
}

describe('V03Reader: the v0.3 layout over raw object reads', () => {
  it('lists generations, snapshots and WAL segments from nothing but the primitives', async () => {
    const raw = objects([
      `generations/${GEN}/snapshots/00000001.snapshot.lz4`,
      `generations/${GEN}/snapshots/00000000.snapshot.lz4`,
      `generations/${GEN}/snapshots/notes.txt`,
      `generations/${GEN}/wal/00000000_00002050.wal.lz4`,
      `generations/${GEN}/wal/00000000_00000020.wal.lz4`,
      `generations/${GEN}/wal/00000001/00000000.wal.lz4`,
      'generations/ffffffffffffffff/snapshots/00000000.snapshot.lz4',
      'generations/not-a-generation/snapshots/00000000.snapshot.lz4',
      'generations/readme',
    ]);
    const reader = new V03Reader(raw);
    assert.deepEqual(await reader.v03Generations(), [GEN, 'ffffffffffffffff']);
    assert.deepEqual(
      (await reader.v03Snapshots(GEN)).map((s) => [s.index, s.size, s.createdAt.getTime()]),
      [
        [0, `generations/${GEN}/snapshots/00000000.snapshot.lz4`.length, 2_000],
        [1, `generations/${GEN}/snapshots/00000001.snapshot.lz4`.length, 1_000],
      ],
    );
    assert.deepEqual(
      (await reader.v03WalSegments(GEN)).map((s) => [s.index, s.offset]),
      [
        [0, 0x20],
        [0, 0x2050],
      ],
      'offsets sort as numbers; the v0.4 per-index directory is no segment',
    );
    const bytes = await collect(await reader.openV03WalSegment(GEN, 0, 0x2050));
    assert.equal(new TextDecoder().decode(bytes), `generations/${GEN}/wal/00000000_00002050.wal.lz4`);
    assert.deepEqual(raw.calls.slice(0, 3), ['dirs generations', `objects generations/${GEN}/snapshots`, `objects generations/${GEN}/wal`]);
  });

  it("turns a backend's not-found into V03ObjectNotFoundError, keeping where it looked and the backend's cause", async () => {
    const reader = toV03Reader(objects([]));
    await assert.rejects(reader.openV03Snapshot(GEN, 3), (err: unknown) => {
      assert.ok(err instanceof V03ObjectNotFoundError);
      assert.equal(err.key, `generations/${GEN}/snapshots/00000003.snapshot.lz4`);
      assert.match(err.message, /memory:generations/);
      assert.equal((err.cause as Error).message, 'no such key');
      return true;
    });
  });

  it('a stream that finds its object gone part way fails with V03ObjectNotFoundError too', async () => {
    const raw: RawObjectReader = {
      listRawDirs: async () => [],
      listRawObjects: async () => [],
      openRawObject: async (key) =>
        (async function* () {
          yield new Uint8Array(1);
          throw new RawObjectNotFoundError(key, 'gone');
        })(),
    };
    const stream = await toV03Reader(raw).openV03Snapshot(GEN, 0);
    await assert.rejects(collect(stream), V03ObjectNotFoundError);
  });
});

describe('a backend is a v0.5 replica client plus raw object reads, with no v0.3 knowledge', () => {
  const backends = { FileReplicaClient, S3ReplicaClient, SftpReplicaClient, AbsReplicaClient, GsReplicaClient, WebdavReplicaClient, NatsReplicaClient };
  const withRawReads = new Set(['FileReplicaClient', 'S3ReplicaClient', 'SftpReplicaClient']);

  for (const [name, cls] of Object.entries(backends)) {
    it(`${name} has no v0.3 methods${withRawReads.has(name) ? ', and offers the raw reads' : ''}`, () => {
      for (const m of V03_METHODS) assert.equal(m in cls.prototype, false, `${name}.${m}`);
      assert.equal(isRawObjectReader(cls.prototype), withRawReads.has(name));
    });
  }

  it('no backend source reads the v0.3 layout: only v03-reader.ts parses its names', async () => {
    const root = join(import.meta.dirname, '..', '..', 'src', 'storage');
    const offenders: string[] = [];
    for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const file = join(entry.parentPath, entry.name);
      const name = relative(root, file);
      if (name === 'v03-reader.ts' || name === 'v03-replica-client.ts') continue;
      const text = await readFile(file, 'utf8');
      if (/parseV03|sortV03|V03_GENERATION_RE|V03ObjectNotFoundError|v03SnapshotKey|v03WalSegmentKey/.test(text)) offenders.push(name);
    }
    assert.deepEqual(offenders, []);
  });
});
