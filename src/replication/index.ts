/** Replication of one SQLite database to one replica: WAL → local L0 LTX files → upload. */
export {
  DbReplicator,
  DEFAULT_SYNC_INTERVAL_MS,
  DEFAULT_BUSY_TIMEOUT_MS,
  DEFAULT_SYNC_BACKOFF_MAX_MS,
  DEFAULT_WATCH_DEBOUNCE_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  type DbReplicatorOptions,
  type ReplicationStatus,
  type WaitOptions,
} from './db-replicator.js';
export {
  DEFAULT_MIN_CHECKPOINT_PAGE_N,
  DEFAULT_TRUNCATE_PAGE_N,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  calcWalSize,
  chooseCheckpoint,
} from './checkpointer.js';
export { LocalMeta, defaultMetaDir, META_DIR_SUFFIX } from './local-meta.js';
export {
  Uploader,
  replicaMaxTxid,
  DEFAULT_UPLOAD_RETRY_BASE_MS,
  DEFAULT_UPLOAD_RETRY_MAX_MS,
  DEFAULT_REPLICA_CHECK_INTERVAL_MS,
} from './uploader.js';
export {
  ReplicationError,
  DatabaseSetupError,
  LocalStateError,
  ReplicatorClosedError,
  ReplicationTimeoutError,
  WalChangedError,
  LocalWriteError,
  ReplicaWriteError,
  DatabaseNotReadyError,
  PublishGuardError,
  ReplicatorLockedError,
  ReplicaConflictError,
} from './errors.js';
export { writeSnapshot, SNAPSHOT_LEVEL as REPLICA_SNAPSHOT_LEVEL, type SnapshotInput } from './snapshot.js';
