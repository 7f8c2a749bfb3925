/** Restore: plan the LTX files for a target over all levels, fetch and merge them, put the database in place atomically. */
export {
  calcRestorePlan,
  SNAPSHOT_LEVEL,
  type RestorePlan,
  type RestorePlanOptions,
} from './plan.js';
export {
  restore,
  DEFAULT_RESTORE_PARALLELISM,
  RESTORE_READ_AHEAD_BYTES,
  RESTORE_WRITE_SIZE,
  type RestoreOptions,
  type RestoreResult,
  type RestoreSkipped,
} from './restore.js';
export { chooseReplica, type ReplicaChoice, type RestoreCandidate } from './choose-replica.js';
export { restoreIfMissing, type RestoreIfMissingResult } from './restore-if-missing.js';
export { checkDatabaseIntegrity, INTEGRITY_CHECK_MODES, type IntegrityCheckMode } from './integrity-check.js';
export { ltxFileStream, DEFAULT_FETCH_RETRIES, DEFAULT_FETCH_RETRY_DELAY_MS, type LtxFileStreamOptions } from './ltx-file-stream.js';
export { REPLAYED_SIDECARS } from './output-path.js';
export {
  RestoreError,
  RestoreOptionsError,
  NoBackupsError,
  RestoreGapError,
  RestoreTargetUnavailableError,
  RestoreFetchError,
  RestoreOutputExistsError,
  RestoreSidecarExistsError,
  RestoreIntegrityError,
  type RestoreTarget,
} from './errors.js';
export {
  listV03Backups,
  v03ListingRows,
  shouldUseV03Restore,
  calcV03RestorePlan,
  V03RestoreError,
  V03CorruptObjectError,
  V03SegmentGapError,
  V03NoSnapshotError,
  type V03Listing,
  type V03ListingRow,
  type V03RestoreSummary,
} from './v03/index.js';
