import {
  v03SnapshotKey,
  v03WalSegmentKey,
  type V03SnapshotInfo,
  type V03WalSegmentInfo,
} from '../../storage/v03-replica-client.js';
import { V03NoSnapshotError, V03SegmentGapError } from './errors.js';
import type { V03GenerationListing, V03Listing } from './listing.js';

/** The segments of one WAL index, in offset order; concatenated they are that index's WAL. */
export interface V03IndexPlan {
  index: number;
  segments: V03WalSegmentInfo[];
}

export interface V03RestorePlan {
  generation: string;
  snapshot: V03SnapshotInfo;
  /** Every WAL index from the snapshot's to the last one to apply, ascending; empty for a snapshot-only restore. */
  indexes: V03IndexPlan[];
}

export interface V03PlanOptions {
  /** Restore the state as of this moment: objects created at or before it. */
  timestamp?: Date;
  /** Prefix for object names in errors (a URL or path); defaults to none. */
  replicaName?: string;
}

/**
 * Picks what rebuilds the database from a v0.3 listing, the way Litestream
 * v0.3 restores:
 *  - latest: the generation that received data last (its newest snapshot or
 *    segment is the newest), its newest snapshot, then every WAL segment of
 *    that generation from the snapshot's index on;
 *  - at a timestamp: the newest snapshot created at or before it, across all
 *    generations, then that generation's segments from the snapshot's index
 *    on, up to the first one created after the timestamp.
 * A generation without any snapshot cannot be restored and is passed over.
 *
 * Throws V03NoSnapshotError when there is no snapshot to start from, and
 * V03SegmentGapError when an index has no segment at offset 0 or an index
 * between the snapshot's and the last one has no segment at all. Whether
 * the segments of an index are contiguous is known only once they are
 * decompressed, so that is checked while they are applied.
 */
export function calcV03RestorePlan(listing: V03Listing, opts: V03PlanOptions = {}): V03RestorePlan {
  const { timestamp } = opts;
  const replica = opts.replicaName ?? '';
  const restorable = listing.generations.filter((g) => g.snapshots.length > 0);
  let gen: V03GenerationListing | undefined;
  let snapshot: V03SnapshotInfo | undefined;

  if (timestamp === undefined) {
    for (const g of restorable) {
      // Strictly newer, so that of two generations updated at the same moment the first in ID order stays, as in v0.3.
      if (gen === undefined || g.updatedAt!.getTime() > gen.updatedAt!.getTime()) gen = g;
    }
    if (gen) snapshot = newest(gen.snapshots, () => true);
  } else {
    const t = timestamp.getTime();
    for (const g of restorable) {
      const s = newest(g.snapshots, (x) => x.createdAt.getTime() <= t);
      // Of equal times the one listed last wins, as in Litestream v0.5's stable sort by createdAt.
      if (s && (snapshot === undefined || s.createdAt.getTime() >= snapshot.createdAt.getTime())) {
        snapshot = s;
        gen = g;
      }
    }
  }
  if (gen === undefined || snapshot === undefined) throw new V03NoSnapshotError(replica === '' ? 'the replica' : replica, timestamp);

  const segments: V03WalSegmentInfo[] = [];
  for (const s of gen.walSegments) {
    if (s.index < snapshot.index) continue;
    // Segments are written in order, so everything after the first one past the target is later too.
    if (timestamp !== undefined && s.createdAt.getTime() > timestamp.getTime()) break;
    segments.push(s);
  }
  return { generation: gen.generation, snapshot, indexes: groupByIndex(gen.generation, snapshot.index, segments, replica) };
}

/** The snapshot with the latest createdAt among those accepted; of equal times the higher index. */
function newest(snapshots: readonly V03SnapshotInfo[], accept: (s: V03SnapshotInfo) => boolean): V03SnapshotInfo | undefined {
  let best: V03SnapshotInfo | undefined;
  for (const s of snapshots) {
    if (!accept(s)) continue;
    if (best === undefined || s.createdAt.getTime() > best.createdAt.getTime() || (s.createdAt.getTime() === best.createdAt.getTime() && s.index > best.index)) {
      best = s;
    }
  }
  return best;
}

function groupByIndex(generation: string, firstIndex: number, segments: readonly V03WalSegmentInfo[], replica: string): V03IndexPlan[] {
  const name = (key: string): string => (replica === '' ? key : `${replica}/${key}`);
  const indexes: V03IndexPlan[] = [];
  for (const s of segments) {
    const last = indexes.at(-1);
    if (last !== undefined && last.index === s.index) {
      const prev = last.segments.at(-1)!;
      if (s.offset === prev.offset) {
        throw new V03SegmentGapError(
          `${name(v03WalSegmentKey(generation, s.index, s.offset))}: two WAL segments claim offset ${s.offset} of index ${hex8(s.index)}`,
          name(v03WalSegmentKey(generation, s.index, s.offset)),
        );
      }
      last.segments.push(s);
      continue;
    }
    const expected = last === undefined ? firstIndex : last.index + 1;
    if (s.index !== expected) {
      const missing = name(v03WalSegmentKey(generation, expected, 0));
      throw new V03SegmentGapError(
        `WAL index ${hex8(expected)} of generation ${generation} is missing (no ${missing}), but index ${hex8(s.index)} exists: ` +
          `restoring past it would lose its transactions (the snapshot is ${name(v03SnapshotKey(generation, firstIndex))})`,
        missing,
      );
    }
    if (s.offset !== 0) {
      const missing = name(v03WalSegmentKey(generation, s.index, 0));
      throw new V03SegmentGapError(
        `WAL index ${hex8(s.index)} of generation ${generation} has no segment at offset 0 (no ${missing}); its first segment is ${name(v03WalSegmentKey(generation, s.index, s.offset))}`,
        missing,
      );
    }
    indexes.push({ index: s.index, segments: [s] });
  }
  return indexes;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
