import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { newestSnapshotTxid } from './compact-level.js';
import type { CompactionCounters } from './counters.js';
import { bump } from './counters.js';
import { CompactionError } from './errors.js';
import { SNAPSHOT_LEVEL } from './compaction-levels.js';
import { listLevel, noteListing, type LevelMaxCache, type RetentionMemo } from './level-max-cache.js';
import { toLocalL0Files, type LocalL0Files } from './local-l0.js';
import { toMs } from './schedule.js';

/** L0 files stay at least 5 minutes after L1 holds them, for point-in-time restores and readers that follow L0. */
export const DEFAULT_L0_RETENTION_MS = 5 * 60_000;
/** How often L0 retention runs on its own (it also runs after every L1 compaction). */
export const DEFAULT_L0_RETENTION_CHECK_INTERVAL_MS = 15_000;

export interface L0RetentionOptions {
  readonly client: ReplicaClient;
  /** L0 files created longer ago than this, and held by L1, are deleted. 0 or less turns retention off. */
  readonly l0RetentionMs: number;
  readonly now?: Date | number;
  /** The local copies to delete along with the replica's. */
  readonly localL0?: ReplicaClient | LocalL0Files;
  /** false: leave the replica's files alone and delete only the local copies (Litestream's `retention.enabled: false`). */
  readonly deleteRemote?: boolean;
  /**
   * With it, a run that cannot delete anything (no new L0 or L1 file, no
   * new snapshot, no file old enough yet since the last run) makes no
   * replica request. Needs the newest L0 TXID: the cache's l0MaxTxid, or
   * local copies that can tell theirs.
   */
  readonly cache?: LevelMaxCache;
  readonly counters?: CompactionCounters;
  readonly signal?: AbortSignal;
}

export interface L0RetentionResult {
  readonly deleted: readonly LtxFileInfo[];
  /** The newest TXID L1 holds; 0 when L1 is empty (and nothing is deleted). */
  readonly maxL1Txid: bigint;
  /** Files old enough and held by L1 (the newest L0 file among them is kept all the same). */
  readonly eligible: number;
  /** Files old enough but not (or not wholly) in L1. */
  readonly notCompacted: number;
  /** Files from the first one newer than the retention on, which were not looked at. */
  readonly tooRecent: number;
  /** Set when deleting the local copies failed (the replica's were deleted). */
  readonly localDeleteError?: Error;
  /** True when the run was skipped because nothing changed since the last one. */
  readonly skipped?: boolean;
}

/** Name of L0 retention's memo in a LevelMaxCache. */
export const L0_RETENTION_MEMO = 'l0-retention';

/**
 * Deletes L0 files that L1 already holds once they are older than the
 * retention, as Litestream's L0 retention does:
 *
 * - L0 is walked in TXID order and the walk stops at the first file newer
 *   than now − retention, so what remains of L0 is one unbroken run of the
 *   newest files (readers that follow L0 never meet a hole);
 * - a file is deleted only if L1's files cover all its TXIDs without a hole
 *   (Litestream checks MaxTXID ≤ L1's newest, which would also delete a file
 *   that falls in a hole of L1), or if it lies before L1's first file and a
 *   snapshot holds it: snapshot retention trimmed L1 there, and the L0 file
 *   is no more needed than the L1 files were;
 * - deleting stops where the first file kept can still be restored to
 *   exactly: an L1 file (or the snapshot) ends just before it or at it.
 *   Litestream deletes every file L1 holds, which can leave a kept file
 *   whose predecessors are gone inside an L1 file that reaches past it;
 * - the newest L0 file is always kept, so the replica's position stays
 *   visible in L0 (and a replicator's newest local file is never touched);
 * - a createdAt the backend does not know (NaN or 0) counts as old enough.
 *
 * Remote copies are deleted first, then the local ones.
 */
export async function enforceL0Retention(o: L0RetentionOptions): Promise<L0RetentionResult> {
  const empty = { deleted: [], maxL1Txid: 0n, eligible: 0, notCompacted: 0, tooRecent: 0 };
  if (!(o.l0RetentionMs > 0)) return empty;
  const { client, signal, cache } = o;
  const now = toMs(o.now ?? Date.now());
  const threshold = now - o.l0RetentionMs;
  const local = o.localL0 === undefined ? undefined : toLocalL0Files(o.localL0);

  // What the outcome depends on besides time, as known before anything is listed.
  const position = cache?.knownMaxTxid(0);
  const l0Known = position ?? (cache !== undefined && local?.maxTxid !== undefined ? await local.maxTxid() : undefined);
  const l1Known = cache?.knownMaxTxid(1);
  const key = l0Known === undefined || l1Known === undefined ? undefined : `${l0Known}:${l1Known}:${cache?.knownMaxTxid(SNAPSHOT_LEVEL) ?? -1n}`;
  const memo = cache?.memo(L0_RETENTION_MEMO);
  if (key !== undefined && memo?.key === key && now < memo.recheckAt) return { ...empty, maxL1Txid: l1Known!, skipped: true };
  cache?.setMemo(L0_RETENTION_MEMO, undefined);

  const l1Files = await listLevel(client, 1, 0n, signal);
  noteListing(cache, 1, l1Files);
  const l1 = coverage(l1Files);
  const maxL1Txid = l1.length === 0 ? 0n : l1[l1.length - 1]!.to;
  if (maxL1Txid === 0n) {
    if (o.counters) o.counters.l0Retention = { eligible: 0, notCompacted: 0, tooRecent: 0 };
    if (key !== undefined) cache?.setMemo(L0_RETENTION_MEMO, { key, recheckAt: Infinity });
    return empty;
  }

  const l0 = await listLevel(client, 0, 0n, signal);
  const l1Start = l1[0]!.from;
  let snapshotMax: bigint | undefined;
  const doomed: LtxFileInfo[] = [];
  let notCompacted = 0;
  let examined = 0;
  for (const f of l0) {
    const created = f.createdAt.getTime();
    if (Number.isFinite(created) && created !== 0 && created > threshold) break;
    examined++;
    let held = covered(l1, f);
    if (!held && f.maxTxid < l1Start) {
      snapshotMax ??= await newestSnapshotTxid(client, signal);
      held = f.maxTxid <= snapshotMax;
    }
    if (held) doomed.push(f);
    else notCompacted++;
  }
  const eligible = doomed.length;
  const tooRecent = l0.length - examined;
  // Settled until a file changes (the key) or the oldest recent file ages past the retention. With the local
  // copies standing in for the replica's newest TXID, only once the replica holds all of them.
  const firstRecent = l0[examined];
  const l0Max = l0.length === 0 ? 0n : l0[l0.length - 1]!.maxTxid;
  const settled: RetentionMemo | undefined =
    key !== undefined && (position !== undefined || l0Max === l0Known)
      ? { key, recheckAt: firstRecent === undefined ? Infinity : firstRecent.createdAt.getTime() + o.l0RetentionMs }
      : undefined;
  if (tooRecent === 0 && doomed[doomed.length - 1] === l0[l0.length - 1]) doomed.pop();
  // The first L0 file kept after a deletion must stay restorable to exactly: the levels must reach the TXID
  // just before it, or the file itself. An L1 file that holds deleted files and reaches past a kept one
  // would leave it unrestorable, so the deletion stops earlier.
  const ends = new Set(l1Files.map((f) => f.maxTxid));
  if (snapshotMax !== undefined) ends.add(snapshotMax);
  const following = new Map(l0.map((f, i) => [f, l0[i + 1]]));
  let cut = doomed.length;
  while (cut > 0) {
    const last = doomed[cut - 1]!;
    const next = following.get(last);
    if (ends.has(last.maxTxid) || next === undefined || ends.has(next.maxTxid)) break;
    cut--;
  }
  doomed.length = cut;
  if (o.counters) o.counters.l0Retention = { eligible, notCompacted, tooRecent };
  if (doomed.length === 0) {
    cache?.setMemo(L0_RETENTION_MEMO, settled);
    return { ...empty, maxL1Txid, eligible, notCompacted, tooRecent };
  }

  if (o.deleteRemote !== false) {
    await client.deleteLtxFiles(doomed, signal);
    bump(o.counters?.filesDeleted, 0, doomed.length);
  }
  let localDeleteError: Error | undefined;
  if (local?.delete !== undefined) {
    try {
      await local.delete(doomed);
    } catch (err) {
      localDeleteError = new CompactionError(`deleting ${doomed.length} local L0 file(s): ${(err as Error).message}`, { cause: err });
    }
  }
  // A failed local delete is tried again on the next run.
  if (localDeleteError === undefined) cache?.setMemo(L0_RETENTION_MEMO, settled);
  const result = { deleted: doomed, maxL1Txid, eligible, notCompacted, tooRecent };
  return localDeleteError === undefined ? result : { ...result, localDeleteError };
}

interface Span {
  from: bigint;
  to: bigint;
}

/** The TXID ranges a level's files cover, merged where they touch, ascending. */
function coverage(files: readonly LtxFileInfo[]): Span[] {
  const spans = files
    .filter((f) => f.minTxid >= 1n && f.minTxid <= f.maxTxid)
    .map((f) => ({ from: f.minTxid, to: f.maxTxid }))
    .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const out: Span[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last !== undefined && s.from <= last.to + 1n) {
      if (s.to > last.to) last.to = s.to;
    } else {
      out.push({ ...s });
    }
  }
  return out;
}

function covered(spans: readonly Span[], f: LtxFileInfo): boolean {
  return spans.some((s) => s.from <= f.minTxid && f.maxTxid <= s.to);
}
