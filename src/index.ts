/**
 * tidemark: continuous streaming disaster recovery for SQLite, compatible with
 * Litestream v0.5. This is the library's public surface; the CLI is built on it.
 * The event log is published separately as `tidemark/eventlog`.
 */
export { TidemarkError, UsageError } from './errors.js';

// Replicating a database, and getting it back.
export {
  DbReplicator,
  DEFAULT_SYNC_INTERVAL_MS,
  DEFAULT_MIN_CHECKPOINT_PAGE_N,
  DEFAULT_TRUNCATE_PAGE_N,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  ReplicationError,
  DatabaseSetupError,
  LocalStateError,
  ReplicatorClosedError,
  ReplicationTimeoutError,
  LocalWriteError,
  ReplicaWriteError,
  DatabaseNotReadyError,
  type DbReplicatorOptions,
  type ReplicationStatus,
  type WaitOptions,
} from './replication/index.js';
export {
  restore,
  restoreIfMissing,
  calcRestorePlan,
  checkDatabaseIntegrity,
  DEFAULT_RESTORE_PARALLELISM,
  INTEGRITY_CHECK_MODES,
  RestoreError,
  RestoreOptionsError,
  NoBackupsError,
  RestoreGapError,
  RestoreTargetUnavailableError,
  RestoreFetchError,
  RestoreOutputExistsError,
  RestoreSidecarExistsError,
  RestoreIntegrityError,
  listV03Backups,
  V03RestoreError,
  V03CorruptObjectError,
  V03SegmentGapError,
  V03NoSnapshotError,
  type V03Listing,
  type V03ListingRow,
  type RestoreOptions,
  type RestoreResult,
  type RestoreSkipped,
  type RestoreIfMissingResult,
  type RestorePlan,
  type RestorePlanOptions,
  type IntegrityCheckMode,
} from './restore/index.js';

// Many databases in one process, with compaction, snapshots and retention.
export { Store, StoreError, DEFAULT_STORE_CLOSE_TIMEOUT_MS, type StoreDatabase, type StoreOptions, type StoreCompactionOptions, type StoreDatabaseStatus } from './store/store.js';
export { DirWatcher, type DirWatcherOptions } from './store/dir-watcher.js';
export {
  CompactionLevels,
  compactLevel,
  enforceSnapshotRetention,
  enforceL0Retention,
  validateLevel,
  CompactionError,
  type CompactLevelResult,
} from './compaction/index.js';

// Configuration files in litestream.yml form.
export {
  loadConfig,
  parseConfig,
  resolveConfigPath,
  resolveDatabases,
  findDatabase,
  ConfigError,
  ConfigNotFoundError,
  type TidemarkConfig,
  type DbConfig,
  type ReplicaConfig,
  type ResolvedDatabase,
} from './config/index.js';

// Logging.
export { createLogger, silentLogger, parseLogLevel, type Logger, type LogLevel, type LogFormat, type LoggerOptions } from './logger.js';

// Replicas.
export {
  FileReplicaClient,
  S3ReplicaClient,
  S3StorageError,
  resolveS3Settings,
  FaultInjectingClient,
  InjectedFaultError,
  createReplicaClient,
  parseReplicaUrl,
  isUrl,
  StorageError,
  ReplicaFileNotFoundError,
  ReplicaUrlError,
  type ReplicaClient,
  type LtxFileInfo,
  type ListOptions,
  type OpenOptions,
  type ReplicaUrl,
  type FaultOptions,
  type ReplicaClientOptions,
  type S3Settings,
} from './storage/index.js';

// The LTX file format.
export * from './ltx/index.js';

// Files and SQLite facts.
export { FileSource, withFileSource, LocalRandomAccessFile } from './io/file-source.js';
export { AtomicFileSink, writeFileAtomic } from './io/atomic-file.js';
export { fsyncDir, writeBytesAtomic } from './io/durable-fs.js';
export { writableSink } from './io/stream-sink.js';
export { checksumDatabaseFile, sqlitePageSize, SqliteFormatError } from './sqlite/database-file.js';
export { parseWalHeader, type WalHeader } from './sqlite/wal-header.js';
export { WalFrameReader, readWalHeader, readWalFrame } from './sqlite/wal-reader.js';
export { walPageMap, type WalPageMap } from './sqlite/wal-page-map.js';
export { WalError, WalFormatError, PrevFrameMismatchError, WalOffsetError } from './sqlite/wal-errors.js';
