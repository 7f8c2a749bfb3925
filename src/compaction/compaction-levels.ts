import { SNAPSHOT_LEVEL } from '../restore/plan.js';
import { CompactionLevelsError } from './errors.js';

export { SNAPSHOT_LEVEL };

/** Levels 1..8 hold compactions; 9 is the snapshot level, so no compaction level may reach it. */
export const MAX_COMPACTION_LEVEL = SNAPSHOT_LEVEL - 1;
/** L0 → L1 every 30 s: the finest point-in-time granularity once L0 files are expired. */
export const DEFAULT_L1_INTERVAL_MS = 30_000;
/** L1 → L2 every 5 minutes. */
export const DEFAULT_L2_INTERVAL_MS = 5 * 60_000;
/** L2 → L3 every hour. */
export const DEFAULT_L3_INTERVAL_MS = 60 * 60_000;
/** A full snapshot (level 9) every 24 hours, at 00:00 UTC. */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 24 * 60 * 60_000;

/** One level of the compaction ladder. */
export interface CompactionLevel {
  /** Must equal the level's position in the list: 0, 1, 2, … */
  readonly level: number;
  /** How often the previous level is compacted into this one; 0 for L0, which holds one file per sync. */
  readonly intervalMs: number;
}

/** Litestream v0.5's ladder: L0 raw, L1 30 s, L2 5 min, L3 1 h. */
export const DEFAULT_COMPACTION_LEVELS: readonly CompactionLevel[] = Object.freeze([
  { level: 0, intervalMs: 0 },
  { level: 1, intervalMs: DEFAULT_L1_INTERVAL_MS },
  { level: 2, intervalMs: DEFAULT_L2_INTERVAL_MS },
  { level: 3, intervalMs: DEFAULT_L3_INTERVAL_MS },
]);

/**
 * The compaction levels of one replica plus the snapshot level. Validated on
 * construction the way Litestream validates them: the list is non-empty,
 * each level's number equals its index, no level above 8, L0 has no
 * interval and every other level (and the snapshot level) has a positive one.
 */
export class CompactionLevels {
  readonly levels: readonly CompactionLevel[];
  readonly snapshotIntervalMs: number;

  constructor(levels: readonly CompactionLevel[] = DEFAULT_COMPACTION_LEVELS, snapshotIntervalMs = DEFAULT_SNAPSHOT_INTERVAL_MS) {
    validateCompactionLevels(levels, snapshotIntervalMs);
    this.levels = Object.freeze(levels.map((l) => Object.freeze({ level: l.level, intervalMs: l.intervalMs })));
    this.snapshotIntervalMs = snapshotIntervalMs;
  }

  /** The highest compaction level (not the snapshot level). */
  get maxLevel(): number {
    return this.levels.length - 1;
  }

  /** True for 0..maxLevel and for the snapshot level. */
  isValidLevel(level: number): boolean {
    return level === SNAPSHOT_LEVEL || (Number.isInteger(level) && level >= 0 && level <= this.maxLevel);
  }

  /** The interval of a compaction level or of the snapshot level. */
  intervalOf(level: number): number {
    if (level === SNAPSHOT_LEVEL) return this.snapshotIntervalMs;
    if (!this.isValidLevel(level)) throw new CompactionLevelsError(`level ${level} is not configured (levels run 0..${this.maxLevel}, snapshots are ${SNAPSHOT_LEVEL})`);
    return this.levels[level]!.intervalMs;
  }

  /** The level a level is compacted from: maxLevel for snapshots, level-1 otherwise (-1 for L0). */
  prevLevel(level: number): number {
    return level === SNAPSHOT_LEVEL ? this.maxLevel : level - 1;
  }

  /** The level a level is compacted into: snapshots after maxLevel, -1 after snapshots. */
  nextLevel(level: number): number {
    if (level === SNAPSHOT_LEVEL) return -1;
    return level === this.maxLevel ? SNAPSHOT_LEVEL : level + 1;
  }

  /** The levels that run on a schedule, in order: 1..maxLevel, then the snapshot level. */
  scheduled(): CompactionLevel[] {
    return [...this.levels.slice(1), { level: SNAPSHOT_LEVEL, intervalMs: this.snapshotIntervalMs }];
  }
}

/** Throws CompactionLevelsError naming the first entry that breaks a rule. */
export function validateCompactionLevels(levels: readonly CompactionLevel[], snapshotIntervalMs: number): void {
  if (!Array.isArray(levels) || levels.length === 0) throw new CompactionLevelsError('at least one compaction level (level 0) is required');
  levels.forEach((l, i) => {
    if (l.level !== i) {
      throw new CompactionLevelsError(`compaction level at position ${i} is numbered ${String(l.level)}: levels must be numbered 0, 1, 2, … in order`);
    }
    if (i > MAX_COMPACTION_LEVEL) {
      throw new CompactionLevelsError(`compaction level ${i} is too high: the highest is ${MAX_COMPACTION_LEVEL} (level ${SNAPSHOT_LEVEL} holds snapshots)`);
    }
    if (i === 0 && l.intervalMs !== 0) {
      throw new CompactionLevelsError(`compaction level 0 cannot have an interval (got ${String(l.intervalMs)} ms): it holds one file per sync`);
    }
    if (i > 0 && !isPositiveInterval(l.intervalMs)) {
      throw new CompactionLevelsError(`compaction level ${i} needs a positive interval, got ${String(l.intervalMs)} ms`);
    }
  });
  if (!isPositiveInterval(snapshotIntervalMs)) {
    throw new CompactionLevelsError(`the snapshot interval must be positive, got ${String(snapshotIntervalMs)} ms`);
  }
}

function isPositiveInterval(ms: number): boolean {
  return typeof ms === 'number' && Number.isSafeInteger(ms) && ms > 0;
}
