import type { WalChecksum } from './wal-checksum.js';
import type { WalSalts } from './wal-header.js';
import type { WalEndReason, WalFrameReader, WalPosition } from './wal-reader.js';

/** The committed content of a stretch of WAL, as page numbers pointing at frames. */
export interface WalPageMap extends WalSalts {
  /** Page number → offset of the frame holding its last committed version. */
  readonly pages: Map<number, number>;
  readonly pageSize: number;
  /** Where the read started. */
  readonly offset: number;
  /**
   * End of the last commit frame: everything in [offset, maxOffset) is committed.
   * Equal to `offset` when no transaction was committed after it.
   */
  readonly maxOffset: number;
  /** Database size in pages after the last commit; 0 when no commit frame was read. */
  readonly commit: number;
  /** Frames in [offset, maxOffset). */
  readonly frames: number;
  /** Commit frames (transactions) in [offset, maxOffset). */
  readonly commits: number;
  /** Valid frames after the last commit: a transaction in progress (or abandoned). */
  readonly uncommittedFrames: number;
  /** The running checksum at maxOffset, for resuming there with WalFrameReader.resume. */
  readonly checksum: WalChecksum;
  /** Why the valid WAL ended. */
  readonly endReason: WalEndReason;
}

/**
 * Reads `reader` to the end of the valid WAL (or to offset `until`) and maps each page to the frame
 * of its last committed version. A transaction's pages enter the map only when
 * its commit frame is read, so a transaction still being written (or torn) adds
 * nothing. Pages beyond the final database size are dropped, as a checkpoint
 * would drop them: they were freed by a shrink (VACUUM) later in the WAL
 * (`keepBeyondCommit` keeps them: SQLite still reads such a page from its
 * newest frame should the database grow past it again).
 */
export async function walPageMap(reader: WalFrameReader, options: { until?: number; keepBeyondCommit?: boolean } = {}): Promise<WalPageMap> {
  const until = options.until ?? Infinity;
  const pages = new Map<number, number>();
  const pending = new Map<number, number>();
  const start: WalPosition = reader.position;
  let end = start;
  let commit = 0;
  let committedFrames = 0;
  let pendingFrames = 0;
  let commits = 0;

  // `until` bounds the read to a stretch already known to end on a commit, whatever was appended since.
  for (let frame = reader.offset < until ? await reader.next() : null; frame !== null; frame = reader.offset < until ? await reader.next() : null) {
    pending.set(frame.pgno, frame.offset);
    pendingFrames++;
    if (frame.commit !== 0) {
      for (const [pgno, offset] of pending) pages.set(pgno, offset);
      pending.clear();
      committedFrames += pendingFrames;
      pendingFrames = 0;
      commit = frame.commit;
      commits++;
      end = reader.position;
    }
  }
  if (options.keepBeyondCommit !== true) {
    for (const pgno of pages.keys()) {
      if (pgno > commit) pages.delete(pgno);
    }
  }

  return {
    pages,
    pageSize: reader.pageSize,
    offset: start.offset,
    maxOffset: end.offset,
    commit,
    frames: committedFrames,
    commits,
    uncommittedFrames: pendingFrames,
    checksum: end.checksum,
    salt1: reader.salt1,
    salt2: reader.salt2,
    endReason: reader.endReason ?? 'end-of-file',
  };
}
