import { TidemarkError } from '../errors.js';
import { formatTxid } from '../ltx/file-name.js';

/** Root of every error compaction, snapshots and retention raise on purpose; `cause` carries the underlying error. */
export class CompactionError extends TidemarkError {
  override name = 'CompactionError';
}

/** The compaction levels (or the snapshot interval) are not a usable configuration; the message names the entry. */
export class CompactionLevelsError extends CompactionError {
  override name = 'CompactionLevelsError';
}

/** A caller passed something that cannot work: a level that is not compacted, a non-positive retention, … */
export class CompactionOptionsError extends CompactionError {
  override name = 'CompactionOptionsError';
}

/**
 * The files to compact do not form an unbroken run of TXIDs: `from..to` is
 * on no file of the source level, and no snapshot covers it. Compacting
 * across the hole would write a file that claims TXIDs it lacks, so nothing
 * is written; a snapshot taken past `to` makes the hole harmless and lets
 * compaction go on.
 */
export class CompactionGapError extends CompactionError {
  override name = 'CompactionGapError';
  /** The level being read (the destination is the next one). */
  readonly sourceLevel: number;
  readonly dstLevel: number;
  /** First missing TXID. */
  readonly from: bigint;
  /** Last missing TXID. */
  readonly to: bigint;

  constructor(sourceLevel: number, dstLevel: number, from: bigint, to: bigint, options?: { cause?: unknown }) {
    super(
      `cannot compact level ${sourceLevel} into level ${dstLevel}: no file covers TXIDs ${formatTxid(from)}-${formatTxid(to)} ` +
        `and no snapshot reaches past them`,
      options,
    );
    this.sourceLevel = sourceLevel;
    this.dstLevel = dstLevel;
    this.from = from;
    this.to = to;
  }
}
