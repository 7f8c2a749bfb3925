import { NoBackupsError } from '../restore/errors.js';
import { calcRestorePlan } from '../restore/plan.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { DEFAULT_MAX_COMPACTION_INPUTS, type CompactLevelResult } from './compact-level.js';
import { CompactionLevels, SNAPSHOT_LEVEL } from './compaction-levels.js';
import { bump, type CompactionCounters } from './counters.js';
import { CompactionError, CompactionOptionsError } from './errors.js';
import { maxFileInfo, type LevelMaxCache } from './level-max-cache.js';
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
 * snapshots). With more than `maxInputs` files to merge, the snapshot is
 * taken at the TXID the first `maxInputs` of them reach, and the next run
 * continues from there.
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
    bump(o.counters?.failures, SNAPSHOT_LEVEL);
    throw err;
  }
}

async function snapshot(o: CompactSnapshotOptions, levels: CompactionLevels, maxInputs: number): Promise<CompactLevelResult> {
  const { client, signal, cache } = o;
  const now = toMs(o.now ?? Date.now());
  const interval = levels.snapshotIntervalMs;
  const windowStart = prevCompactionAt(now, interval);
  const latest = await maxFileInfo(client, SNAPSHOT_LEVEL, { cache, signal });
  if (latest !== undefined && latest.createdAt.getTime() > windowStart.getTime()) {
    return { status: 'too-early', level: SNAPSHOT_LEVEL, latest, windowStart, nextCompactionAt: nextCompactionAt(now, interval) };
  }
  const have = latest?.maxTxid ?? 0n;
  let files: LtxFileInfo[];
  let txid: bigint;
  try {
    ({ files, txid } = await calcRestorePlan(client, { signal }));
  } catch (err) {
    if (err instanceof NoBackupsError) return { status: 'nothing-to-compact', level: SNAPSHOT_LEVEL, srcMaxTxid: 0n, dstMaxTxid: have };
    throw new CompactionError(`cannot take a snapshot from the replica: ${(err as Error).message}`, { cause: err });
  }
  if (txid <= have) return { status: 'nothing-to-compact', level: SNAPSHOT_LEVEL, srcMaxTxid: txid, dstMaxTxid: have };
  const inputs = files.slice(0, maxInputs);
  if (inputs[0]!.minTxid !== 1n) {
    throw new CompactionError(`cannot take a snapshot from the replica: its oldest file starts at TXID ${inputs[0]!.minTxid}, not 1`);
  }
  const local = o.localL0 === undefined ? undefined : toLocalL0Files(o.localL0);
  const r = await writeMerged({ client, inputs, dstLevel: SNAPSHOT_LEVEL, local, signal, parallel: o.parallel });
  cache?.note(r.file);
  if (o.counters) {
    bump(o.counters.filesWritten, SNAPSHOT_LEVEL);
    bump(o.counters.bytesWritten, SNAPSHOT_LEVEL, r.file.size);
    bump(o.counters.filesMerged, SNAPSHOT_LEVEL, inputs.length);
    o.counters.localReads += r.localReads;
  }
  return { status: 'compacted', level: SNAPSHOT_LEVEL, file: r.file, files: [r.file], inputs, localReads: r.localReads, bridgedGaps: [] };
}
