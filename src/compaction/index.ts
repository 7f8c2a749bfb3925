/** Compaction, snapshots, retention and level validation over a ReplicaClient, with a wall-clock-aligned scheduler. */
export {
  CompactionLevels,
  validateCompactionLevels,
  DEFAULT_COMPACTION_LEVELS,
  DEFAULT_L1_INTERVAL_MS,
  DEFAULT_L2_INTERVAL_MS,
  DEFAULT_L3_INTERVAL_MS,
  DEFAULT_SNAPSHOT_INTERVAL_MS,
  MAX_COMPACTION_LEVEL,
  SNAPSHOT_LEVEL,
  type CompactionLevel,
} from './compaction-levels.js';
export { prevCompactionAt, nextCompactionAt } from './schedule.js';
export { systemClock, MAX_TIMER_DELAY_MS, type SchedulerClock, type TimerHandle } from './clock.js';
export { ManualClock } from './manual-clock.js';
export {
  LevelScheduler,
  DEFAULT_FIRST_RUN_DELAY_MS,
  type ScheduledJob,
  type JobContext,
  type JobOutcome,
  type JobStatus,
  type LevelSchedulerOptions,
} from './level-scheduler.js';
export {
  compactLevel,
  newestSnapshotTxid,
  DEFAULT_MAX_COMPACTION_INPUTS,
  type CompactLevelOptions,
  type CompactLevelResult,
  type Compacted,
  type TooEarly,
  type NothingToCompact,
  type TxidRange,
} from './compact-level.js';
export { compactSnapshot, snapshotDue, type CompactSnapshotOptions, type SnapshotDueOptions } from './compact-snapshot.js';
export {
  enforceSnapshotRetention,
  DEFAULT_SNAPSHOT_RETENTION_MS,
  type SnapshotRetentionOptions,
  type SnapshotRetentionResult,
} from './snapshot-retention.js';
export {
  enforceL0Retention,
  DEFAULT_L0_RETENTION_MS,
  DEFAULT_L0_RETENTION_CHECK_INTERVAL_MS,
  type L0RetentionOptions,
  type L0RetentionResult,
} from './l0-retention.js';
export { validateLevel, validateLevels, type LevelIssue, type LevelIssueKind, type ValidateOptions } from './validate-level.js';
export { createCompactionCounters, type CompactionCounters, type LevelCounts } from './counters.js';
export { LevelMaxCache, maxFileInfo } from './level-max-cache.js';
export { toLocalL0Files, type LocalL0Files } from './local-l0.js';
export { compactionJobs, type CompactionJobsOptions, type CompactionEvent } from './compaction-jobs.js';
export { CompactionError, CompactionLevelsError, CompactionOptionsError, CompactionGapError } from './errors.js';
