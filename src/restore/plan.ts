import { formatTxid } from '../ltx/file-name.js';
import { FileReplicaClient } from '../storage/file-replica-client.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { NoBackupsError, RestoreGapError, RestoreOptionsError, RestoreTargetUnavailableError, type RestoreTarget } from './errors.js';

/** Level 9 holds full snapshots (MinTXID 1); levels 0..8 hold L0 files and compactions. */
export const SNAPSHOT_LEVEL = 9;
const HIGHEST_COMPACTION_LEVEL = SNAPSHOT_LEVEL - 1;

export interface RestorePlanOptions {
  /** Rebuild the database as of exactly this TXID. */
  txid?: bigint;
  /** Rebuild the database from files created strictly before this moment. */
  timestamp?: Date;
  /** How the replica is named in error messages; defaults to its path or backend type. */
  replicaName?: string;
  signal?: AbortSignal;
}

export interface RestorePlan {
  /**
   * Files to merge, oldest first: a level-9 snapshot or a file starting at
   * TXID 1, then files that each extend the TXIDs covered so far.
   */
  files: LtxFileInfo[];
  /** The TXID the rebuilt database is at: the last file's MaxTXID. */
  txid: bigint;
  /**
   * For a timestamp target only: TXIDs missing after `txid` although a file
   * from before the time lies beyond them (L0 retention removed files whose
   * compaction is newer than the time). The plan stops before the gap.
   */
  gap?: RestorePlanGap;
}

/** A break in the chain of files that a timestamp plan stopped at. */
export interface RestorePlanGap {
  /** First missing TXID. */
  from: bigint;
  /** Last missing TXID. */
  to: bigint;
  /** The first file from before the time beyond the gap. */
  next: LtxFileInfo;
}

/**
 * Picks the LTX files that rebuild the database at the target (or at the
 * latest TXID when there is none), the way Litestream v0.5 does: the newest
 * snapshot at or before the target, then greedily, across levels 8..0, the
 * file that extends the covered TXIDs furthest.
 *
 * For a timestamp target, a break in the chain with a file from before that
 * time beyond it ends the plan at the break, as Litestream does: the newest
 * state that can be built from before the time. The plan says so in `gap`.
 *
 * Throws NoBackupsError for an empty replica, RestoreGapError when TXIDs are
 * missing before the latest file (or before every file for a timestamp), and
 * RestoreTargetUnavailableError when the target TXID cannot be reached
 * exactly or nothing predates the target time.
 */
export async function calcRestorePlan(client: ReplicaClient, opts: RestorePlanOptions = {}): Promise<RestorePlan> {
  const target = checkRestoreTarget(opts);
  const signal = opts.signal;
  const useMetadata = opts.timestamp !== undefined;
  const within = (f: LtxFileInfo): boolean =>
    (opts.txid === undefined || f.maxTxid <= opts.txid) && (opts.timestamp === undefined || f.createdAt.getTime() < opts.timestamp.getTime());

  let anySnapshot = false;
  let snapshot: LtxFileInfo | undefined;
  for await (const f of client.ltxFiles(SNAPSHOT_LEVEL, 0n, { useMetadata, signal })) {
    // A level-9 file that does not start at TXID 1 is not a snapshot and cannot start a restore.
    if (f.minTxid !== 1n || f.maxTxid < f.minTxid) continue;
    anySnapshot = true;
    if (within(f) && (snapshot === undefined || f.maxTxid > snapshot.maxTxid)) snapshot = f;
  }

  const files: LtxFileInfo[] = snapshot ? [snapshot] : [];
  let current = snapshot?.maxTxid ?? 0n;
  const cursors: LevelCursor[] = [];
  for (let level = HIGHEST_COMPACTION_LEVEL; level >= 0; level--) {
    cursors.push(new LevelCursor(client.ltxFiles(level, 0n, { useMetadata, signal })));
  }

  const noBackups = (): boolean => !anySnapshot && !cursors.some((c) => c.sawFile);
  try {
    const reached = (): boolean => opts.txid !== undefined && current >= opts.txid;
    while (!reached()) {
      let best: LevelCursor | undefined;
      for (const c of cursors) {
        await c.advance(current, within);
        if (c.candidate && (best === undefined || isBetter(c.candidate, best.candidate!))) best = c;
      }
      if (best === undefined) break;
      const next = best.candidate!;
      best.candidate = undefined;
      files.push(next);
      current = next.maxTxid;
    }

    if (opts.txid !== undefined) {
      const txid = opts.txid;
      if (current === txid) return { files, txid };
      // The chain stops short of the target: look for a gap below the target to say why.
      const beyond = await firstBeyond(cursors, current, within, (f) => f.minTxid > txid);
      if (noBackups()) throw new NoBackupsError(replicaName(client, opts));
      const detail = beyond ? gapDetail(current, beyond) : undefined;
      throw new RestoreTargetUnavailableError({ txid }, current > 0n ? current : undefined, detail);
    }

    // Only the next unread file of each level matters here: anything that
    // started at or before current+1 has been consumed by `advance` already.
    // Reading no further keeps a timestamp restore from fetching metadata
    // for every newer file.
    const beyond = await firstBeyond(cursors, current, within, () => true);
    if (noBackups()) throw new NoBackupsError(replicaName(client, opts));
    if (beyond) {
      if (opts.timestamp !== undefined && files.length > 0) return { files, txid: current, gap: { from: current + 1n, to: beyond.minTxid - 1n, next: beyond } };
      throw new RestoreGapError(current + 1n, beyond.minTxid - 1n, beyond);
    }
    if (files.length === 0 && target !== undefined) {
      // Files exist, but every one of them is from the target time or later.
      throw new RestoreTargetUnavailableError(target, undefined);
    }
    return { files, txid: current };
  } finally {
    await Promise.all(cursors.map((c) => c.close()));
  }
}

/** Validates the target options and returns the target, or undefined for "latest". */
export function checkRestoreTarget(opts: Pick<RestorePlanOptions, 'txid' | 'timestamp'>): RestoreTarget | undefined {
  if (opts.txid !== undefined && opts.timestamp !== undefined) {
    throw new RestoreOptionsError('cannot restore to both a TXID and a timestamp; give one of them');
  }
  if (opts.txid !== undefined) {
    if (typeof opts.txid !== 'bigint' || opts.txid < 1n || opts.txid > 0xffff_ffff_ffff_ffffn) {
      throw new RestoreOptionsError(`invalid target TXID ${String(opts.txid)}: TXIDs run from 1 to 2^64-1`);
    }
    return { txid: opts.txid };
  }
  if (opts.timestamp !== undefined) {
    if (!(opts.timestamp instanceof Date) || Number.isNaN(opts.timestamp.getTime())) {
      throw new RestoreOptionsError('invalid target timestamp: not a valid Date');
    }
    return { timestamp: opts.timestamp };
  }
  return undefined;
}

/**
 * Litestream's ranking of two files that both extend the chain: the larger
 * MaxTXID, then the smaller MinTXID, then the higher level, then the earlier
 * creation time.
 */
function isBetter(a: LtxFileInfo, b: LtxFileInfo): boolean {
  if (a.maxTxid !== b.maxTxid) return a.maxTxid > b.maxTxid;
  if (a.minTxid !== b.minTxid) return a.minTxid < b.minTxid;
  if (a.level !== b.level) return a.level > b.level;
  return a.createdAt.getTime() < b.createdAt.getTime();
}

/**
 * Among the levels' unread files, the one with the smallest MinTXID that
 * starts past current+1 and is within the target. `stop` ends the search in
 * a level (its files are in MinTXID order); without it only the next file of
 * each level is looked at.
 */
async function firstBeyond(
  cursors: LevelCursor[],
  current: bigint,
  within: (f: LtxFileInfo) => boolean,
  stop: (f: LtxFileInfo) => boolean,
): Promise<LtxFileInfo | undefined> {
  let found: LtxFileInfo | undefined;
  for (const c of cursors) {
    for (;;) {
      const f = await c.peek();
      if (f === undefined || f.minTxid <= current + 1n) break;
      if (within(f)) {
        if (found === undefined || f.minTxid < found.minTxid) found = f;
        break;
      }
      if (stop(f)) break;
      c.take();
    }
  }
  return found;
}

function gapDetail(current: bigint, next: LtxFileInfo): string {
  return `replica has no file covering TXIDs ${formatTxid(current + 1n)}-${formatTxid(next.minTxid - 1n)}`;
}

function replicaName(client: ReplicaClient, opts: RestorePlanOptions): string {
  if (opts.replicaName !== undefined) return opts.replicaName;
  return client instanceof FileReplicaClient ? client.root : `${client.type} replica`;
}

/**
 * One level's listing, read once, front to back. `advance` consumes every
 * file that starts at or before current+1 and keeps the best one that
 * extends the chain and is within the target.
 */
class LevelCursor {
  private readonly it: AsyncIterator<LtxFileInfo>;
  private next: LtxFileInfo | undefined;
  private done = false;
  candidate: LtxFileInfo | undefined;
  sawFile = false;

  constructor(listing: AsyncIterable<LtxFileInfo>) {
    this.it = listing[Symbol.asyncIterator]();
  }

  /** The next unconsumed, well-formed file, or undefined at the end of the level. */
  async peek(): Promise<LtxFileInfo | undefined> {
    while (this.next === undefined && !this.done) {
      const r = await this.it.next();
      if (r.done === true) {
        this.done = true;
        break;
      }
      // A name with MinTXID 0 or MinTXID > MaxTXID cannot hold a valid file.
      if (r.value.minTxid < 1n || r.value.minTxid > r.value.maxTxid) continue;
      this.sawFile = true;
      this.next = r.value;
    }
    return this.next;
  }

  take(): void {
    this.next = undefined;
  }

  async advance(current: bigint, within: (f: LtxFileInfo) => boolean): Promise<void> {
    if (this.candidate && this.candidate.maxTxid <= current) this.candidate = undefined;
    for (;;) {
      const f = await this.peek();
      if (f === undefined || f.minTxid > current + 1n) return;
      this.take();
      if (f.maxTxid <= current || !within(f)) continue;
      if (this.candidate === undefined || isBetter(f, this.candidate)) this.candidate = f;
    }
  }

  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.().catch(() => undefined);
    }
  }
}
