import { RestoreError } from '../errors.js';

/** Root of the errors a restore from a Litestream v0.3 backup raises on purpose. */
export class V03RestoreError extends RestoreError {
  override name = 'V03RestoreError';
}

/**
 * One backup object cannot be used: its LZ4 frame is truncated or corrupt, or
 * the WAL or database it holds is malformed. `object` names it (replica and
 * key, or path); `offset`, when known, is where in the object (compressed
 * bytes for LZ4 problems, decompressed bytes for WAL problems) it went wrong.
 */
export class V03CorruptObjectError extends V03RestoreError {
  override name = 'V03CorruptObjectError';
  readonly object: string;
  readonly offset: number | undefined;
  /** The problem alone, without the object and offset. */
  readonly reason: string;

  constructor(object: string, reason: string, offset?: number, options?: { cause?: unknown }) {
    super(`${object}: ${reason}${offset === undefined ? '' : ` (at byte ${offset})`}`, options);
    this.object = object;
    this.offset = offset;
    this.reason = reason;
  }
}

/**
 * WAL segments are missing: an index has no segment at offset 0, a segment
 * does not start where the one before it ends, or an index between the
 * snapshot and a later one has none at all. Applying what is there would
 * silently lose the transactions in the hole.
 */
export class V03SegmentGapError extends V03RestoreError {
  override name = 'V03SegmentGapError';
  /** The object that should exist but does not (its replica and key). */
  readonly missing: string;

  constructor(message: string, missing: string, options?: { cause?: unknown }) {
    super(message, options);
    this.missing = missing;
  }
}

/** The replica holds v0.3 backups but no snapshot to start from (none at all, or none at or before the target time). */
export class V03NoSnapshotError extends V03RestoreError {
  override name = 'V03NoSnapshotError';
  readonly replica: string;
  readonly timestamp: Date | undefined;

  constructor(replica: string, timestamp: Date | undefined, options?: { cause?: unknown }) {
    super(
      timestamp === undefined
        ? `no v0.3 snapshot found in ${replica}`
        : `no v0.3 snapshot in ${replica} was created at or before ${timestamp.toISOString()}`,
      options,
    );
    this.replica = replica;
    this.timestamp = timestamp;
  }
}
