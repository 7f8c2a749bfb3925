/** Per-level counts, keyed by level number. */
export type LevelCounts = Record<number, number>;

/**
 * Plain numbers for metrics, updated by the compaction functions when passed
 * one: cumulative counters unless marked as a gauge (the value of the last run).
 */
export interface CompactionCounters {
  /** Files written per destination level (9 = snapshots). */
  filesWritten: LevelCounts;
  /** Bytes written per destination level. */
  bytesWritten: LevelCounts;
  /** Source files merged per destination level. */
  filesMerged: LevelCounts;
  /** Source files read from the local L0 copies rather than the replica. */
  localReads: number;
  /** Runs per destination level that found it too early. */
  tooEarly: LevelCounts;
  /** Runs per destination level that found nothing new. */
  nothingToCompact: LevelCounts;
  /** Runs per destination level that failed (gaps included). */
  failures: LevelCounts;
  /** Runs per destination level stopped by a gap in the source level. */
  gaps: LevelCounts;
  /** Files deleted by retention, per level (0, 1..8, 9). */
  filesDeleted: LevelCounts;
  /** Gauge: the L0 files of the last L0 retention run, by what happened to them. */
  l0Retention: { eligible: number; notCompacted: number; tooRecent: number };
  /** Gauge: issues found per level by the last validation of that level. */
  validationIssues: LevelCounts;
  /** Issues found by all validations so far. */
  validationIssuesTotal: number;
}

export function createCompactionCounters(): CompactionCounters {
  return {
    filesWritten: {},
    bytesWritten: {},
    filesMerged: {},
    localReads: 0,
    tooEarly: {},
    nothingToCompact: {},
    failures: {},
    gaps: {},
    filesDeleted: {},
    l0Retention: { eligible: 0, notCompacted: 0, tooRecent: 0 },
    validationIssues: {},
    validationIssuesTotal: 0,
  };
}

export function bump(counts: LevelCounts | undefined, level: number, by = 1): void {
  if (counts === undefined || by === 0) return;
  counts[level] = (counts[level] ?? 0) + by;
}
