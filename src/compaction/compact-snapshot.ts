import { NoBackupsError } from '../restore/errors.js';
import { calcRestorePlan } from '../restore/plan.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { DEFAULT_MAX_COMPACTION_INPUTS, type CompactLevelResult, type NothingToCompact, type TooEarly } from './compact-level.js';
import { CompactionLevels, SNAPSHOT_LEVEL } from './compaction-levels.js';
import { bump, type CompactionCounters } from './counters.js';
import { CompactionError, CompactionOptionsError } from './errors.js';
import { maxFileInfo, maxTxidOf, type LevelMaxCache } from './level-max-cache.js';
import { toLocalL0Files, type LocalL0Files } from './local-l0.js';
import { nextCompactionAt, prevCompactionAt, toMs } from './schedule.js';
import { writeMerged } from './write-merged.js';

export interface CompactSnapshotOptions {
  readonly client: ReplicaClient;
  readonly levels?: CompactionLevels;
  readonly now?: Date | number;
  readonly localL0?: ReplicaClient | LocalL0Files;
  readonly cache?: LevelMaxCache;
  readonly maxInputs?: number;
  readonly parallel?: boolean;
  readonly counters?: CompactionCounters;
  readonly signal?: AbortSignal;
}

/**
 * Writes a snapshot from the replica itself: the files a restore of the
 * latest TXID would merge (the newest snapshot, then the compacted levels and
 * L0) are merged into `9/0000000000000001-<txid>.ltx`. Needs no database, no
 * lock and no checkpoint coordination, and by construction equals what a
 * restore would produce; it costs a read of the previous snapshot and what
 * followed it. The snapshot's timestamp is that of its newest input, so it
 * stands for the moment its data is from.
 *
 * Same rules as compactLevel: too early when the newest snapshot was created
 * after the current window began; nothing to compact when the newest
 * snapshot already holds the latest TXID (an idle database gets no new
 * snapshots). With more than `maxInputs` files to merge, snapshots are taken
 * in steps, each from the previous one and the next files, so memory stays
 * bounded; the intermediate snapshots are valid and expire with retention.
 */
export async function compactSnapshot(o: CompactSnapshotOptions): Promise<CompactLevelResult> {
  const levels = o.levels ?? new CompactionLevels();
  const maxInputs = o.maxInputs ?? DEFAULT_MAX_COMPACTION_INPUTS;
  if (!Number.isSafeInteger(maxInputs) || maxInputs < 2) {
    throw new CompactionOptionsError(`invalid maxInputs ${String(maxInputs)}: a snapshot merge needs at least 2`);
  }
  try {
    const r = await snapshot(o, levels, maxInputs);
    if (r.status === 'too-early') bump(o.counters?.tooEarly, SNAPSHOT_LEVEL);
    else if (r.status === 'nothing-to-compact') bump(o.counters?.nothingToCompact, SNAPSHOT_LEVEL);
    return r;
  } catch (err) {
    if (o.signal?.aborted === true) throw o.signal.reason;
    bump(o.counters?.failures, SNAPSHOT_LEVEL);
    throw err;
  }
}

export interface SnapshotDueOptions {
  readonly client: ReplicaClient;
  readonly levels?: CompactionLevels;
  readonly now?: Date | number;
  readonly cache?: LevelMaxCache;
  /** Local L0 copies: their newest TXID tells an idle database without a replica request. */
  readonly localL0?: ReplicaClient | LocalL0Files;
  readonly signal?: AbortSignal;
}

/**
 * Whether a snapshot is due now, for a replicator that writes snapshots from
 * its database: too early when the newest snapshot was created after the
 * current window of the snapshot interval began; nothing to do when the
 * newest snapshot already holds the replica's newest L0 TXID (an idle
 * database gets no identical snapshots). undefined when one is due.
 */
export async function snapshotDue(o: SnapshotDueOptions): Promise<TooEarly | NothingToCompact | undefined> {
  const levels = o.levels ?? new CompactionLevels();
  const { early, latest } = await tooEarly(o, levels);
  if (early !== undefined) return early;
  const have = latest?.maxTxid ?? 0n;
  const l0 = await newestL0(o, have);
  return l0 <= have ? { status: 'nothing-to-compact', level: SNAPSHOT_LEVEL, srcMaxTxid: l0, dstMaxTxid: have } : undefined;
}

/**
 * The replica's newest L0 TXID, or a bound at or below `have` that proves
 * there is nothing past it: from the cache, then the local copies, and only
 * then a listing.
 */
async function newestL0(o: SnapshotDueOptions, have: bigint): Promise<bigint> {
  const known = o.cache?.knownMaxTxid(0);
  if (known !== undefined) return known;
  const local = o.localL0 === undefined ? undefined : toLocalL0Files(o.localL0);
  if (local?.maxTxid !== undefined) {
    const bound = await local.maxTxid();
    if (bound <= have) return bound;
  }
  return maxTxidOf(o.client, 0, o);
}

/** The newest snapshot, and a TooEarly when it was created in the current window. */
async function tooEarly(o: SnapshotDueOptions, levels: CompactionLevels): Promise<{ early?: TooEarly; latest: LtxFileInfo | undefined }> {
  const now = toMs(o.now ?? Date.now());
  const interval = levels.snapshotIntervalMs;
  const windowStart = prevCompactionAt(now, interval);
  const latest = await maxFileInfo(o.client, SNAPSHOT_LEVEL, o);
  if (latest === undefined || latest.createdAt.getTime() <= windowStart.getTime()) return { latest };
  return { latest, early: { status: 'too-early', level: SNAPSHOT_LEVEL, latest, windowStart, nextCompactionAt: nextCompactionAt(now, interval) } };
}

async function snapshot(o: CompactSnapshotOptions, levels: CompactionLevels, maxInputs: number): Promise<CompactLevelResult> {
  const { client, signal, cache } = o;
  const { early, latest } = await tooEarly(o, levels);
  if (early !== undefined) return early;
  const have = latest?.maxTxid ?? 0n;
  // An idle database: nothing past the newest snapshot, found out without planning a restore.
  if (latest !== undefined) {
    const l0 = await newestL0(o, have);
    if (l0 <= have) return { status: 'nothing-to-compact', level: SNAPSHOT_LEVEL, srcMaxTxid: l0, dstMaxTxid: have };
  }
  const local = o.localL0 === undefined ? undefined : toLocalL0Files(o.localL0);
  const written: LtxFileInfo[] = [];
  const merged: LtxFileInfo[] = [];
  let localReads = 0;
  for (;;) {
    let files: LtxFileInfo[];
    let txid: bigint;
    try {
      ({ files, txid } = await calcRestorePlan(client, { signal }));
    } catch (err) {
      if (err instanceof NoBackupsError) return { status: 'nothing-to-compact', level: SNAPSHOT_LEVEL, srcMaxTxid: 0n, dstMaxTxid: have };
      throw new CompactionError(`cannot take a snapshot from the replica: ${(err as Error).message}`, { cause: err });
    }
    const done = written[written.length - 1]?.maxTxid ?? have;
    if (txid <= done) {
      if (written.length > 0) break;
      return { status: 'nothing-to-compact', level: SNAPSHOT_LEVEL, srcMaxTxid: txid, dstMaxTxid: have };
    }
    const inputs = files.slice(0, maxInputs);
    if (inputs[0]!.minTxid !== 1n) {
      throw new CompactionError(`cannot take a snapshot from the replica: its oldest file starts at TXID ${inputs[0]!.minTxid}, not 1`);
    }
    const r = await writeMerged({ client, inputs, dstLevel: SNAPSHOT_LEVEL, local, signal, parallel: o.parallel });
    cache?.note(r.file);
    written.push(r.file);
    merged.push(...inputs);
    localReads += r.localReads;
    if (o.counters) {
      bump(o.counters.filesWritten, SNAPSHOT_LEVEL);
      bump(o.counters.bytesWritten, SNAPSHOT_LEVEL, r.file.size);
      bump(o.counters.filesMerged, SNAPSHOT_LEVEL, inputs.length);
      o.counters.localReads += r.localReads;
    }
    if (inputs.length === files.length) break;
  }
  const file = written[written.length - 1]!;
  return { status: 'compacted', level: SNAPSHOT_LEVEL, file, files: written, inputs: merged, localReads, bridgedGaps: [] };
}
