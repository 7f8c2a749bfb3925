import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { CompactionLevels, SNAPSHOT_LEVEL } from './compaction-levels.js';
import { bump, type CompactionCounters } from './counters.js';
import { CompactionOptionsError } from './errors.js';
import { L0_RETENTION_MEMO } from './l0-retention.js';
import { listLevel, noteListing, type LevelMaxCache } from './level-max-cache.js';
import { toMs } from './schedule.js';

/** Snapshots are kept 24 hours. */
export const DEFAULT_SNAPSHOT_RETENTION_MS = 24 * 60 * 60_000;

export interface SnapshotRetentionOptions {
  readonly client: ReplicaClient;
  /** Snapshots created longer ago than this are deleted (the newest is always kept). */
  readonly retentionMs: number;
  readonly now?: Date | number;
  readonly levels?: CompactionLevels;
  /** false: decide but delete nothing on the replica (Litestream's `retention.enabled: false`). */
  readonly deleteRemote?: boolean;
  readonly counters?: CompactionCounters;
  /** With it, a run that cannot delete anything (no level changed, no snapshot aged out since the last run) makes no replica request. */
  readonly cache?: LevelMaxCache;
  readonly signal?: AbortSignal;
}

/** Name of snapshot retention's memo in a LevelMaxCache. */
export const SNAPSHOT_RETENTION_MEMO = 'snapshot-retention';

export interface SnapshotRetentionResult {
  readonly deletedSnapshots: readonly LtxFileInfo[];
  readonly keptSnapshots: readonly LtxFileInfo[];
  /** Files of levels 1..max with a MaxTXID below this were deleted (0: none). */
  readonly floorTxid: bigint;
  /** Files deleted from levels 1..max. */
  readonly deletedFiles: readonly LtxFileInfo[];
  /** True when the run was skipped because nothing changed since the last one. */
  readonly skipped?: boolean;
}

/**
 * Expires snapshots and the compacted files only they made useful.
 *
 * 1. Level 9: delete snapshots created before now − retention, always keeping
 *    the newest one.
 * 2. The floor: with snapshots deleted in this run, the MaxTXID of the newest
 *    one deleted (upstream's later fix, #1325: a restore planned a moment ago
 *    from that snapshot still needs the files that follow it); otherwise the
 *    smallest MaxTXID among the snapshots kept, so an idle database's files
 *    are trimmed on the next run rather than never. Never above a kept
 *    snapshot's MaxTXID.
 * 3. Levels max..1 (never L0): delete files with MaxTXID below the floor,
 *    always keeping the last file of each level, and below level max only
 *    files the next level up already holds (MaxTXID ≤ its newest), so a
 *    compaction never finds its source trimmed ahead of it.
 *
 * Every kept snapshot, and every TXID from the oldest one on, stays
 * restorable: a file with TXIDs past a kept snapshot has a MaxTXID above the
 * floor and is kept.
 */
export async function enforceSnapshotRetention(o: SnapshotRetentionOptions): Promise<SnapshotRetentionResult> {
  const { client, signal } = o;
  if (!Number.isFinite(o.retentionMs) || o.retentionMs <= 0) {
    throw new CompactionOptionsError(`invalid snapshot retention ${String(o.retentionMs)} ms: expected a positive duration`);
  }
  const levels = o.levels ?? new CompactionLevels();
  const now = toMs(o.now ?? Date.now());
  const cutoff = now - o.retentionMs;
  const deleteRemote = o.deleteRemote !== false;
  const { cache } = o;

  // What the outcome depends on besides time, as known before anything is listed.
  const known = [SNAPSHOT_LEVEL, ...levels.levels.slice(1).map((l) => l.level)].map((l) => cache?.knownMaxTxid(l));
  const key = known.some((k) => k === undefined) ? undefined : known.join(':');
  const memo = cache?.memo(SNAPSHOT_RETENTION_MEMO);
  if (key !== undefined && memo?.key === key && now < memo.recheckAt) {
    return { deletedSnapshots: [], keptSnapshots: [], floorTxid: 0n, deletedFiles: [], skipped: true };
  }
  cache?.setMemo(SNAPSHOT_RETENTION_MEMO, undefined);

  const snapshots = await listLevel(client, SNAPSHOT_LEVEL, 0n, signal);
  if (snapshots.length === 0) return { deletedSnapshots: [], keptSnapshots: [], floorTxid: 0n, deletedFiles: [] };
  cache?.note(snapshots[snapshots.length - 1]!);
  const newest = snapshots[snapshots.length - 1]!;
  const deletedSnapshots = snapshots.filter((f) => f !== newest && f.createdAt.getTime() < cutoff);
  const keptSnapshots = snapshots.filter((f) => !deletedSnapshots.includes(f));
  if (deletedSnapshots.length > 0 && deleteRemote) {
    await client.deleteLtxFiles(deletedSnapshots, signal);
    bump(o.counters?.filesDeleted, SNAPSHOT_LEVEL, deletedSnapshots.length);
  }

  let floorTxid = minOf(keptSnapshots.map((f) => f.maxTxid));
  if (deletedSnapshots.length > 0) {
    const newestDeleted = maxOf(deletedSnapshots.map((f) => f.maxTxid));
    if (newestDeleted < floorTxid) floorTxid = newestDeleted;
  }

  const deletedFiles: LtxFileInfo[] = [];
  let aboveMax: bigint | undefined;
  for (let level = levels.maxLevel; level >= 1; level--) {
    const files = await listLevel(client, level, 0n, signal);
    noteListing(cache, level, files);
    const last = files[files.length - 1];
    const doomed = files.filter((f) => f !== last && f.maxTxid < floorTxid && (aboveMax === undefined || f.maxTxid <= aboveMax));
    aboveMax = last === undefined ? 0n : maxOf(files.map((f) => f.maxTxid));
    if (doomed.length === 0 || !deleteRemote) continue;
    await client.deleteLtxFiles(doomed, signal);
    deletedFiles.push(...doomed);
    bump(o.counters?.filesDeleted, level, doomed.length);
  }
  if (cache !== undefined) {
    if (deletedFiles.length > 0 || (deleteRemote && deletedSnapshots.length > 0)) {
      // L1 starts later now, which L0 retention looks at; and the next run uses another floor.
      cache.setMemo(L0_RETENTION_MEMO, undefined);
    } else if (key !== undefined) {
      // Settled until a level changes (the key) or the next kept snapshot ages out.
      const ageOut = keptSnapshots.filter((f) => f !== newest).map((f) => f.createdAt.getTime() + o.retentionMs);
      cache.setMemo(SNAPSHOT_RETENTION_MEMO, { key, recheckAt: Math.min(Infinity, ...ageOut) });
    }
  }
  return { deletedSnapshots: deleteRemote ? deletedSnapshots : [], keptSnapshots, floorTxid, deletedFiles };
}

function minOf(xs: readonly bigint[]): bigint {
  return xs.reduce((a, b) => (b < a ? b : a));
}

function maxOf(xs: readonly bigint[]): bigint {
  return xs.reduce((a, b) => (b > a ? b : a));
}
