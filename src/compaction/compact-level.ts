import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { CompactionLevels, SNAPSHOT_LEVEL } from './compaction-levels.js';
import { bump, type CompactionCounters } from './counters.js';
import { CompactionGapError, CompactionOptionsError } from './errors.js';
import { listLevel, maxFileInfo, maxTxidOf, type LevelMaxCache } from './level-max-cache.js';
import { toLocalL0Files, type LocalL0Files } from './local-l0.js';
import { nextCompactionAt, prevCompactionAt, toMs } from './schedule.js';
import { validateLevel, type LevelIssue } from './validate-level.js';
import { writeMerged } from './write-merged.js';

/**
 * Most files merged into one output. Each input holds a read buffer and a
 * chunk in flight (about 0.5 MiB), so this bounds a compaction's memory; a
 * level with more new files is compacted into several consecutive outputs.
 */
export const DEFAULT_MAX_COMPACTION_INPUTS = 64;

export interface CompactLevelOptions {
  readonly client: ReplicaClient;
  /** The level to write, 1..levels.maxLevel; its source is the level below. */
  readonly dstLevel: number;
  readonly levels?: CompactionLevels;
  /** The time of this run (default: the system clock). */
  readonly now?: Date | number;
  /** Local copies of L0 files, preferred over the replica's when compacting L0 into L1. */
  readonly localL0?: ReplicaClient | LocalL0Files;
  readonly cache?: LevelMaxCache;
  readonly maxInputs?: number;
  /** Check the destination level for gaps and overlaps afterwards (Litestream's VerifyCompaction). */
  readonly verify?: boolean;
  readonly parallel?: boolean;
  readonly counters?: CompactionCounters;
  readonly signal?: AbortSignal;
}

/** A TXID range, both ends included. */
export interface TxidRange {
  readonly from: bigint;
  readonly to: bigint;
}

export interface Compacted {
  readonly status: 'compacted';
  readonly level: number;
  /** The last (highest) file written. */
  readonly file: LtxFileInfo;
  /** Every file written, in TXID order: one, unless there were more than maxInputs sources or a bridged break. */
  readonly files: readonly LtxFileInfo[];
  /** The source files merged. */
  readonly inputs: readonly LtxFileInfo[];
  /** How many inputs were read from local copies. */
  readonly localReads: number;
  /** Breaks in the source level that a snapshot covers; the destination skips them too. */
  readonly bridgedGaps: readonly TxidRange[];
  /** With `verify`: what validating the destination level found. */
  readonly issues?: readonly LevelIssue[];
}

export interface TooEarly {
  readonly status: 'too-early';
  readonly level: number;
  /** The destination's newest file, created after the current window began. */
  readonly latest: LtxFileInfo;
  readonly windowStart: Date;
  readonly nextCompactionAt: Date;
}

export interface NothingToCompact {
  readonly status: 'nothing-to-compact';
  readonly level: number;
  readonly srcMaxTxid: bigint;
  readonly dstMaxTxid: bigint;
}

export type CompactLevelResult = Compacted | TooEarly | NothingToCompact;

/**
 * Compacts the new files of level dst-1 into level dst, the way Litestream's
 * compaction monitor does on each boundary of the level's interval:
 *
 * - too early: the destination's newest file was created after the current
 *   window began (prevCompactionAt(now)): this window was compacted already,
 *   say by a run before a restart;
 * - nothing to compact: the source has no TXID beyond the destination's;
 * - otherwise the source files with MinTXID >= destination MaxTXID + 1 are
 *   merged (local L0 copies first) and written as one file per run of
 *   `maxInputs` files.
 *
 * The sources must continue the destination without a break. A break that a
 * snapshot covers (every TXID before the file after it is in a snapshot, as
 * after snapshot retention trimmed the source level) is skipped: the files
 * after it are written as a separate file. Any other break throws
 * CompactionGapError before anything is written.
 */
export async function compactLevel(o: CompactLevelOptions): Promise<CompactLevelResult> {
  const levels = o.levels ?? new CompactionLevels();
  const dst = o.dstLevel;
  if (dst === SNAPSHOT_LEVEL) throw new CompactionOptionsError('level 9 holds snapshots: take them with compactSnapshot, or DbReplicator.snapshot when snapshotDue says so');
  if (!Number.isInteger(dst) || dst < 1 || dst > levels.maxLevel) {
    throw new CompactionOptionsError(`cannot compact into level ${String(dst)}: the configured compaction levels are 1..${levels.maxLevel}`);
  }
  const maxInputs = o.maxInputs ?? DEFAULT_MAX_COMPACTION_INPUTS;
  if (!Number.isSafeInteger(maxInputs) || maxInputs < 1) throw new CompactionOptionsError(`invalid maxInputs ${String(maxInputs)}: expected a positive integer`);
  const counters = o.counters;
  try {
    const result = await compact(o, levels, dst, maxInputs);
    if (result.status === 'too-early') bump(counters?.tooEarly, dst);
    else if (result.status === 'nothing-to-compact') bump(counters?.nothingToCompact, dst);
    return result;
  } catch (err) {
    // However a backend reports an abort, the caller gets the reason it aborted with.
    if (o.signal?.aborted === true) throw o.signal.reason;
    bump(counters?.failures, dst);
    if (err instanceof CompactionGapError) bump(counters?.gaps, dst);
    throw err;
  }
}

async function compact(o: CompactLevelOptions, levels: CompactionLevels, dst: number, maxInputs: number): Promise<CompactLevelResult> {
  const { client, signal, cache } = o;
  const now = toMs(o.now ?? Date.now());
  const interval = levels.intervalOf(dst);
  const windowStart = prevCompactionAt(now, interval);

  const dstInfo = await maxFileInfo(client, dst, { cache, signal });
  if (dstInfo !== undefined && dstInfo.createdAt.getTime() > windowStart.getTime()) {
    return { status: 'too-early', level: dst, latest: dstInfo, windowStart, nextCompactionAt: nextCompactionAt(now, interval) };
  }
  const src = dst - 1;
  const dstMax = dstInfo?.maxTxid ?? 0n;
  const local = o.localL0 === undefined || src !== 0 ? undefined : toLocalL0Files(o.localL0);
  // Litestream compares with the destination's MinTXID and then finds no
  // source file past its MaxTXID; comparing with MaxTXID decides the same
  // without listing, which keeps an idle database free of requests.
  let srcMax = cache?.knownMaxTxid(src);
  if (srcMax === undefined && local?.maxTxid !== undefined) {
    const bound = await local.maxTxid();
    if (bound <= dstMax) return { status: 'nothing-to-compact', level: dst, srcMaxTxid: bound, dstMaxTxid: dstMax };
  }
  srcMax ??= await maxTxidOf(client, src, { cache, signal });
  if (srcMax <= dstMax) return { status: 'nothing-to-compact', level: dst, srcMaxTxid: srcMax, dstMaxTxid: dstMax };

  const listed = await listLevel(client, src, dstMax + 1n, signal);
  const { segments, bridgedGaps } = await chainSegments(client, listed, src, dst, dstMax, signal);
  if (segments.length === 0) return { status: 'nothing-to-compact', level: dst, srcMaxTxid: srcMax, dstMaxTxid: dstMax };

  const files: LtxFileInfo[] = [];
  const inputs: LtxFileInfo[] = [];
  let localReads = 0;
  for (const segment of segments) {
    for (let at = 0; at < segment.length; at += maxInputs) {
      const batch = segment.slice(at, at + maxInputs);
      const r = await writeMerged({ client, inputs: batch, dstLevel: dst, local, signal, parallel: o.parallel });
      files.push(r.file);
      inputs.push(...batch);
      localReads += r.localReads;
      cache?.note(r.file);
      if (o.counters) {
        bump(o.counters.filesWritten, dst);
        bump(o.counters.bytesWritten, dst, r.file.size);
        bump(o.counters.filesMerged, dst, batch.length);
        o.counters.localReads += r.localReads;
      }
    }
  }
  const result: Compacted = { status: 'compacted', level: dst, file: files[files.length - 1]!, files, inputs, localReads, bridgedGaps };
  if (o.verify === true) return { ...result, issues: await validateLevel(client, dst, { signal, counters: o.counters }) };
  return result;
}

/**
 * Splits the listed source files into runs of contiguous TXIDs that continue
 * the destination's `dstMax`. Files wholly inside TXIDs already covered add
 * nothing and are left out. A break must be covered by a snapshot.
 */
async function chainSegments(
  client: ReplicaClient,
  listed: readonly LtxFileInfo[],
  src: number,
  dst: number,
  dstMax: bigint,
  signal: AbortSignal | undefined,
): Promise<{ segments: LtxFileInfo[][]; bridgedGaps: TxidRange[] }> {
  const segments: LtxFileInfo[][] = [];
  const bridgedGaps: TxidRange[] = [];
  let snapshotMax: bigint | undefined;
  let covered = dstMax;
  let current: LtxFileInfo[] = [];
  for (const f of listed) {
    // A name with MinTXID 0 or MinTXID > MaxTXID cannot hold a valid file.
    if (f.minTxid < 1n || f.minTxid > f.maxTxid || f.maxTxid <= covered) continue;
    if (f.minTxid > covered + 1n) {
      snapshotMax ??= await newestSnapshotTxid(client, signal);
      const gap = { from: covered + 1n, to: f.minTxid - 1n };
      if (snapshotMax < gap.to) throw new CompactionGapError(src, dst, gap.from, gap.to);
      bridgedGaps.push(gap);
      if (current.length > 0) segments.push(current);
      current = [];
    }
    current.push(f);
    covered = f.maxTxid;
  }
  if (current.length > 0) segments.push(current);
  return { segments, bridgedGaps };
}

/** The highest MaxTXID of a snapshot (a level-9 file from TXID 1); 0 when there is none. */
export async function newestSnapshotTxid(client: ReplicaClient, signal?: AbortSignal): Promise<bigint> {
  let max = 0n;
  for await (const f of client.ltxFiles(SNAPSHOT_LEVEL, 0n, signal === undefined ? {} : { signal })) {
    if (f.minTxid === 1n && f.maxTxid > max) max = f.maxTxid;
  }
  return max;
}

