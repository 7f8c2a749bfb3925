import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE } from '../sqlite/wal-header.js';
import type { CheckpointMode } from './sqlite-session.js';

/** WAL pages after which a PASSIVE checkpoint runs (Litestream's MinCheckpointPageN). */
export const DEFAULT_MIN_CHECKPOINT_PAGE_N = 1000;
/** WAL pages after which the blocking TRUNCATE backstop runs (about 500 MB with 4 KiB pages). */
export const DEFAULT_TRUNCATE_PAGE_N = 121_359;
/** A PASSIVE checkpoint runs this long after the last write to the database file, if anything was synced since. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 60_000;

/** Bytes of a WAL holding `pages` frames. */
export function calcWalSize(pageSize: number, pages: number): number {
  return WAL_HEADER_SIZE + (WAL_FRAME_HEADER_SIZE + pageSize) * pages;
}

export interface CheckpointPolicy {
  readonly minCheckpointPageN: number;
  /** 0 turns the TRUNCATE backstop off. */
  readonly truncatePageN: number;
  /** 0 turns time-based checkpoints off. */
  readonly checkpointIntervalMs: number;
}

export interface CheckpointState {
  readonly pageSize: number;
  /** Logical WAL size before the sync (the end of what was synced, not the file size: #997). */
  readonly origWalSize: number;
  /** Logical WAL size after the sync. */
  readonly newWalSize: number;
  readonly syncedSinceCheckpoint: boolean;
  /** Reads the database file's mtime; only called for the time-based rule. */
  readonly dbMtimeMs: () => Promise<number>;
  readonly now: number;
}

/**
 * Which checkpoint, if any, to run after a sync. Only PASSIVE and the TRUNCATE
 * backstop exist: RESTART and FULL wait on writers and stalled them in
 * Litestream (#724), so they are never chosen.
 */
export async function chooseCheckpoint(policy: CheckpointPolicy, s: CheckpointState): Promise<CheckpointMode | null> {
  if (policy.truncatePageN > 0 && s.origWalSize >= calcWalSize(s.pageSize, policy.truncatePageN)) return 'TRUNCATE';
  if (s.newWalSize >= calcWalSize(s.pageSize, policy.minCheckpointPageN)) return 'PASSIVE';
  // Only after real changes, or idle databases would checkpoint (and write L0 files) forever (#896).
  if (policy.checkpointIntervalMs > 0 && s.syncedSinceCheckpoint && s.newWalSize > calcWalSize(s.pageSize, 1)) {
    if (s.now - (await s.dbMtimeMs()) > policy.checkpointIntervalMs) return 'PASSIVE';
  }
  return null;
}
