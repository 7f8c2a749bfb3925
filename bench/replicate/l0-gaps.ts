/**
 * Freshness, part 1: how far apart the replica's L0 files are during a burst.
 * Each L0 file carries, in its LTX header (bytes 32..39), the wall-clock time
 * its sync read the WAL, so the gaps between consecutive files inside the
 * burst are the times for which the replica had nothing newer: about one sync
 * interval when syncs keep up, more when one is slow or is held up.
 *
 * The replicator child is a bare DbReplicator, which neither compacts nor
 * deletes L0 files (L0 retention, in the store, keeps them 5 minutes at least
 * anyway), and the files are listed right after the burst; the chain check
 * below says whether any were missing all the same.
 */
import type { LtxHeader } from '../../src/ltx/header.js';
import { spread, type Spread } from './stats.js';

export interface L0Gaps {
  syncIntervalMs: number;
  /** The burst window the files were taken from (wall clock, ms). */
  windowMs: number;
  /** L0 files whose header timestamp falls inside the window. */
  filesInWindow: number;
  /** Gaps between consecutive files inside the window (ms). */
  gapMs: Spread;
  /** From the start of the window to the first file in it, and from the last one to the end (ms). */
  firstFileAfterStartMs: number | null;
  lastFileBeforeEndMs: number | null;
  /** All L0 files on the replica when listed, and whether they run from TXID 1 with no TXID missing. */
  l0Files: number;
  l0ChainComplete: boolean;
  /** Whether header timestamps rise with the TXIDs, as one replicator's syncs should. */
  timestampsInTxidOrder: boolean;
}

/** `headers`: the replica's L0 headers in TXID order. */
export function l0Gaps(headers: readonly LtxHeader[], window: { startMs: number; endMs: number }, syncIntervalMs: number): L0Gaps {
  let chain = headers.length > 0 && headers[0]!.minTxid === 1n;
  let ordered = true;
  for (let i = 1; i < headers.length; i++) {
    if (headers[i]!.minTxid !== headers[i - 1]!.maxTxid + 1n) chain = false;
    if (headers[i]!.timestamp < headers[i - 1]!.timestamp) ordered = false;
  }
  const inWindow = headers
    .map((h) => h.timestamp)
    .filter((t) => t >= window.startMs && t <= window.endMs)
    .sort((a, b) => a - b);
  const gaps: number[] = [];
  for (let i = 1; i < inWindow.length; i++) gaps.push(inWindow[i]! - inWindow[i - 1]!);
  return {
    syncIntervalMs,
    windowMs: window.endMs - window.startMs,
    filesInWindow: inWindow.length,
    gapMs: spread(gaps, 0),
    firstFileAfterStartMs: inWindow.length === 0 ? null : inWindow[0]! - window.startMs,
    lastFileBeforeEndMs: inWindow.length === 0 ? null : window.endMs - inWindow[inWindow.length - 1]!,
    l0Files: headers.length,
    l0ChainComplete: chain,
    timestampsInTxidOrder: ordered,
  };
}
