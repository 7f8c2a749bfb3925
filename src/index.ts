/**
 * tidemark: continuous streaming disaster recovery for SQLite, compatible with
 * Litestream v0.5. This is the library's public surface, documented in
 * docs/api.md and recorded in docs/api-report.md; a change to either is a
 * change to the package's contract. The CLI is built on the same modules.
 *
 * Other entry points: `tidemark/ltx` (the LTX file codec), `tidemark/eventlog`
 * (the event log) and `tidemark/testing` (fault injection for tests).
 */

// Every error tidemark raises on purpose is a TidemarkError.
export { TidemarkError } from './errors.js';

// Replicating a database.
export {
  DbReplicator,
  type CloseOptions,
  type DbReplicatorOptions,
  type ReplicationCounters,
  type ReplicaTarget,
  type ReplicationStatus,
  type ReplicaStatus,
  type ValidationStatus,
  type WaitOptions,
} from './replication/db-replicator.js';
export {
  ReplicationError,
  DatabaseSetupError,
  DatabaseNotReadyError,
  ReplicatorClosedError,
  ReplicationTimeoutError,
  ReplicatorLockedError,
  ReplicaConflictError,
} from './replication/errors.js';

// Getting it back.
export {
  planRestore,
  restore,
  type RestoreOptions,
  type RestoreProgress,
  type RestoreResult,
  type RestoreSkipped,
  type RestoreSkipReason,
  type RestoreSourcePlan,
} from './restore/restore.js';
export type { V03RestoreSummary } from './restore/v03/write-image.js';
export type { V03IndexPlan, V03RestorePlan } from './restore/v03/plan.js';
export type { V03SnapshotInfo, V03WalSegmentInfo } from './storage/v03-replica-client.js';
export { restoreIfMissing, type RestoreIfMissingResult } from './restore/restore-if-missing.js';
export { followReplica, ReadReplica, ReadReplicaError, type AppliedEvent, type ReadReplicaOptions } from './restore/follow/read-replica.js';
export {
  openTimeTravel,
  TimeTravelDatabase,
  TimeTravelError,
  type TimeTravelOptions,
  type SqlRow,
  type SqlValue,
} from './restore/time-travel/time-travel.js';
export type { TimeTravelStats } from './restore/time-travel/replica-pages.js';
export type { TimeTravelTarget } from './restore/time-travel/time-value.js';
export { calcRestorePlan, type RestorePlan, type RestorePlanGap, type RestorePlanOptions } from './restore/plan.js';
export type { IntegrityCheckMode } from './restore/integrity-check.js';
export {
  RestoreError,
  NoBackupsError,
  RestoreGapError,
  RestoreTargetUnavailableError,
  RestoreOutputExistsError,
  RestoreIntegrityError,
  type RestoreTarget,
} from './restore/errors.js';

// Many databases in one process, with compaction, snapshots and retention.
export {
  Store,
  StoreError,
  type StoreDatabase,
  type StoreReplica,
  type StoreOptions,
  type StoreCompactionOptions,
  type StoreDatabaseStatus,
} from './store/store.js';
export { CompactionLevels, type CompactionLevel } from './compaction/compaction-levels.js';
export type { JobStatus } from './compaction/level-scheduler.js';
export { CompactionError } from './compaction/errors.js';

// Replicas.
export type { ReplicaClient, LtxFileInfo, ListOptions, OpenOptions } from './storage/replica-client.js';
export type { RawObjectReader, RawObjectInfo, RawObjectOpenOptions } from './storage/raw-object-reader.js';
export { createReplicaClient, type ReplicaClientOptions } from './storage/replica-url.js';
export { FileReplicaClient } from './storage/file-replica-client.js';
export { StorageError, ReplicaFileNotFoundError, ReplicaUrlError } from './storage/errors.js';

// Configuration files in litestream.yml form.
export { loadConfig, type LoadConfigOptions } from './config/load-config.js';
export { parseConfig, type ParseConfigOptions } from './config/parse-config.js';
export { resolveDatabases } from './config/databases.js';
export { ConfigError, ConfigNotFoundError, type ConfigLocation } from './config/errors.js';
export type {
  TidemarkConfig,
  DbConfig,
  DirConfig,
  ReplicaConfig,
  ReplicaSettings,
  ReplicaOptionValue,
  SocketConfig,
  LoggingConfig,
  CompactionLevelConfig,
  ConfigWarning,
  ResolvedDatabase,
} from './config/types.js';

// Logging.
export { createLogger, silentLogger, type Logger, type LogLevel, type LogFormat, type LogAttrs, type LoggerOptions } from './logger.js';
