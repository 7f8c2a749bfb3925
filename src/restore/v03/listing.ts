import {
  v03SnapshotKey,
  v03WalSegmentKey,
  type V03SnapshotInfo,
  type V03WalSegmentInfo,
} from '../../storage/v03-replica-client.js';
import { toV03Reader, type V03Source } from '../../storage/v03-reader.js';

/** Everything one v0.3 generation holds. */
export interface V03GenerationListing {
  generation: string;
  /** Ascending index order. */
  snapshots: V03SnapshotInfo[];
  /** Ascending (index, offset) order. */
  walSegments: V03WalSegmentInfo[];
  /** Earliest createdAt of its objects; undefined when it holds none. */
  createdAt: Date | undefined;
  /** Latest createdAt of its objects: when it last received data. */
  updatedAt: Date | undefined;
}

/** The v0.3 backups of a replica, generations in ID order. */
export interface V03Listing {
  generations: V03GenerationListing[];
}

/** One listed object, flattened for display next to LTX files (`tidemark ltx`). */
export interface V03ListingRow {
  format: 'v0.3';
  kind: 'snapshot' | 'wal';
  generation: string;
  index: number;
  /** Byte offset in the index's WAL; 0 for a snapshot. */
  offset: number;
  /** Stored (compressed) size in bytes. */
  size: number;
  createdAt: Date;
  /** Key relative to the replica path. */
  key: string;
}

/** Lists every generation, snapshot and WAL segment a replica holds in the Litestream v0.3 layout. */
export async function listV03Backups(source: V03Source, opts: { signal?: AbortSignal } = {}): Promise<V03Listing> {
  const client = toV03Reader(source);
  const { signal } = opts;
  const generations: V03GenerationListing[] = [];
  for (const generation of await client.v03Generations(signal)) {
    const snapshots = await client.v03Snapshots(generation, signal);
    const walSegments = await client.v03WalSegments(generation, signal);
    const bounds = timeBounds([...snapshots, ...walSegments]);
    generations.push({ generation, snapshots, walSegments, ...bounds });
  }
  return { generations };
}

/** Earliest and latest createdAt over every object of the listing (both undefined when it is empty). */
export function v03TimeBounds(listing: V03Listing): { createdAt: Date | undefined; updatedAt: Date | undefined } {
  return timeBounds(listing.generations.flatMap((g) => [...g.snapshots, ...g.walSegments]));
}

/** True when the listing holds no object at all. */
export function isEmptyV03Listing(listing: V03Listing): boolean {
  return listing.generations.every((g) => g.snapshots.length === 0 && g.walSegments.length === 0);
}

/** Snapshots then WAL segments of each generation, generations in ID order. */
export function v03ListingRows(listing: V03Listing): V03ListingRow[] {
  const rows: V03ListingRow[] = [];
  for (const g of listing.generations) {
    for (const s of g.snapshots) {
      rows.push({ format: 'v0.3', kind: 'snapshot', generation: g.generation, index: s.index, offset: 0, size: s.size, createdAt: s.createdAt, key: v03SnapshotKey(g.generation, s.index) });
    }
    for (const w of g.walSegments) {
      rows.push({
        format: 'v0.3',
        kind: 'wal',
        generation: g.generation,
        index: w.index,
        offset: w.offset,
        size: w.size,
        createdAt: w.createdAt,
        key: v03WalSegmentKey(g.generation, w.index, w.offset),
      });
    }
  }
  return rows;
}

function timeBounds(objects: readonly { createdAt: Date }[]): { createdAt: Date | undefined; updatedAt: Date | undefined } {
  let createdAt: Date | undefined;
  let updatedAt: Date | undefined;
  for (const o of objects) {
    if (createdAt === undefined || o.createdAt.getTime() < createdAt.getTime()) createdAt = o.createdAt;
    if (updatedAt === undefined || o.createdAt.getTime() > updatedAt.getTime()) updatedAt = o.createdAt;
  }
  return { createdAt, updatedAt };
}
