import { open, type FileHandle } from 'node:fs/promises';
import { SQLITE_HEADER_SIZE, SqliteFormatError, sqlitePageSize } from '../../sqlite/database-file.js';
import { v03SnapshotKey, v03WalSegmentKey, type V03ReplicaClient } from '../../storage/v03-replica-client.js';
import { toV03Reader, type V03Source } from '../../storage/v03-reader.js';
import { counted } from '../counted-stream.js';
import type { RestoreProgress } from '../restore.js';
import { V03CorruptObjectError } from './errors.js';
import { decodeLz4Frames } from './lz4-frame-stream.js';
import type { V03RestorePlan } from './plan.js';
import { SegmentPrefetcher, V03_PREFETCH_BYTES } from './segment-prefetch.js';
import { applyStagedWal, removeStagedWal, stageWalIndex } from './wal-index.js';

/** What a v0.3 restore rebuilt, and from where. */
export interface V03RestoreSummary {
  generation: string;
  snapshotIndex: number;
  /** WAL indexes applied, ascending (empty for a snapshot-only restore). */
  walIndexes: number[];
  /** WAL segments applied. */
  segments: number;
  /** Where the last applied segment ends: its index and the byte offset after it; undefined without segments. */
  position: { index: number; offset: number } | undefined;
}

export interface V03Image {
  /** 0 only for an empty database. */
  pageSize: number;
  pageCount: number;
  bytes: number;
  summary: V03RestoreSummary;
}

/**
 * Builds the database a v0.3 plan describes in the file at `path` (which
 * exists and is empty): the snapshot decompressed into it, then each WAL
 * index in turn staged beside it as `<path>-<index %08x>-wal`, checkpointed
 * into it and removed. The file is fsynced; putting it in place is the
 * caller's business. `name` turns a key into the name errors use; up to
 * `parallelism` segment requests are in flight (SegmentPrefetcher).
 */
export async function writeV03Image(
  source: V03Source,
  plan: V03RestorePlan,
  path: string,
  opts: { name: (key: string) => string; parallelism: number; signal?: AbortSignal; onProgress?: ((p: RestoreProgress) => void) | undefined },
): Promise<V03Image> {
  const { generation, snapshot } = plan;
  const { name, signal, onProgress } = opts;
  const all = plan.indexes.flatMap((ix) => ix.segments);
  const progress: RestoreProgress = { bytesFetched: 0, bytesToFetch: snapshot.size + all.reduce((n, s) => n + s.size, 0), pagesWritten: 0, bytesWritten: 0 };
  let pageSizeSoFar = 0;
  const report = (): void => {
    progress.pagesWritten = pageSizeSoFar === 0 ? 0 : Math.floor(progress.bytesWritten / pageSizeSoFar);
    onProgress?.({ ...progress });
  };
  const client = onProgress === undefined ? toV03Reader(source) : countingReader(toV03Reader(source), (n) => {
    progress.bytesFetched += n;
    report();
  });
  const position = new Map(all.map((s, i) => [s, i]));
  const prefetch = new SegmentPrefetcher(client, generation, all, opts.parallelism, V03_PREFETCH_BYTES, signal);
  const db = await open(path, 'r+');
  let staging: string | undefined;
  try {
    const snapshotName = name(v03SnapshotKey(generation, snapshot.index));
    let pageSize = await writeSnapshot(client, plan, db, snapshotName, signal, (written, size) => {
      progress.bytesWritten = written;
      pageSizeSoFar = size ?? 0;
    });
    let reached: V03RestoreSummary['position'];
    let segments = 0;
    for (const ix of plan.indexes) {
      signal?.throwIfAborted();
      staging = `${path}-${ix.index.toString(16).padStart(8, '0')}-wal`;
      const staged = await stageWalIndex(
        (s) => prefetch.open(position.get(s)!),
        generation,
        ix.index,
        ix.segments,
        staging,
        (s) => name(v03WalSegmentKey(generation, s.index, s.offset)),
        signal,
      );
      const applied = await applyStagedWal(db, staged, pageSize, signal);
      if (applied.commit > 0) pageSize = applied.pageSize;
      if (onProgress !== undefined) {
        progress.bytesWritten = (await db.stat()).size;
        pageSizeSoFar = pageSize ?? 0;
        report();
      }
      await removeStagedWal(staging);
      staging = undefined;
      segments += ix.segments.length;
      reached = { index: ix.index, offset: staged.size };
    }
    await db.sync();
    const bytes = (await db.stat()).size;
    const size = pageSize ?? 0;
    if (onProgress !== undefined) {
      progress.bytesWritten = bytes;
      pageSizeSoFar = size;
      report();
    }
    return {
      pageSize: size,
      pageCount: size === 0 ? 0 : bytes / size,
      bytes,
      summary: { generation, snapshotIndex: snapshot.index, walIndexes: plan.indexes.map((i) => i.index), segments, position: reached },
    };
  } finally {
    await prefetch.close();
    await db.close();
    if (staging !== undefined) await removeStagedWal(staging).catch(() => undefined);
  }
}

/** Decompresses the snapshot into the database file; resolves its page size (undefined for an empty snapshot). */
async function writeSnapshot(
  client: V03ReplicaClient,
  plan: V03RestorePlan,
  db: FileHandle,
  object: string,
  signal: AbortSignal | undefined,
  onWritten: (bytes: number, pageSize: number | undefined) => void,
): Promise<number | undefined> {
  const stream = await client.openV03Snapshot(plan.generation, plan.snapshot.index, { signal });
  const header = new Uint8Array(SQLITE_HEADER_SIZE);
  let size = 0;
  for await (const chunk of decodeLz4Frames(stream, object, signal)) {
    if (size < SQLITE_HEADER_SIZE) header.set(chunk.subarray(0, SQLITE_HEADER_SIZE - size), size);
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await db.write(chunk, off, chunk.length - off, size + off);
      off += bytesWritten;
    }
    size += chunk.length;
    onWritten(size, size >= SQLITE_HEADER_SIZE ? pageSizeOf(header) : undefined);
  }
  // A database whose pages all still sat in the WAL has an empty main file.
  if (size === 0) return undefined;
  let pageSize: number;
  try {
    pageSize = sqlitePageSize(header.subarray(0, Math.min(size, SQLITE_HEADER_SIZE)), 'snapshot');
  } catch (err) {
    if (err instanceof SqliteFormatError) throw new V03CorruptObjectError(object, `the decompressed snapshot is not a SQLite database: ${err.message.replace(/^snapshot: /, '')}`, undefined, { cause: err });
    throw err;
  }
  if (size % pageSize !== 0) {
    throw new V03CorruptObjectError(object, `the decompressed snapshot is ${size} bytes, not a whole number of ${pageSize}-byte pages`);
  }
  return pageSize;
}

/** The page size the snapshot's header gives, once it is complete; undefined while it is not readable. */
function pageSizeOf(header: Uint8Array): number | undefined {
  try {
    return sqlitePageSize(header, 'snapshot');
  } catch {
    return undefined;
  }
}

/** The reader with every object it opens counted as it is read. */
function countingReader(client: V03ReplicaClient, onBytes: (n: number) => void): V03ReplicaClient {
  return {
    v03Generations: (signal) => client.v03Generations(signal),
    v03Snapshots: (generation, signal) => client.v03Snapshots(generation, signal),
    v03WalSegments: (generation, signal) => client.v03WalSegments(generation, signal),
    openV03Snapshot: async (generation, index, o) => counted(await client.openV03Snapshot(generation, index, o), onBytes),
    openV03WalSegment: async (generation, index, offset, o) => counted(await client.openV03WalSegment(generation, index, offset, o), onBytes),
  };
}
