import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { compactLevel, type CompactLevelResult } from './compact-level.js';
import { compactSnapshot, snapshotDue } from './compact-snapshot.js';
import { CompactionLevels, SNAPSHOT_LEVEL } from './compaction-levels.js';
import type { CompactionCounters } from './counters.js';
import { DEFAULT_L0_RETENTION_CHECK_INTERVAL_MS, DEFAULT_L0_RETENTION_MS, enforceL0Retention, type L0RetentionResult } from './l0-retention.js';
import type { LevelMaxCache } from './level-max-cache.js';
import type { JobContext, ScheduledJob } from './level-scheduler.js';
import type { LocalL0Files } from './local-l0.js';
import { DEFAULT_SNAPSHOT_RETENTION_MS, enforceSnapshotRetention, type SnapshotRetentionResult } from './snapshot-retention.js';
import { validateLevels, type LevelIssue } from './validate-level.js';

/** What the jobs report, for logs: the result of each step of each run (failures go to the scheduler's onError). */
export type CompactionEvent =
  | { readonly kind: 'compaction'; readonly result: CompactLevelResult }
  | { readonly kind: 'snapshot-retention'; readonly result: SnapshotRetentionResult }
  | { readonly kind: 'l0-retention'; readonly result: L0RetentionResult }
  | { readonly kind: 'validation'; readonly issues: readonly LevelIssue[] };

export interface CompactionJobsOptions {
  readonly client: ReplicaClient;
  readonly levels?: CompactionLevels;
  /** Local L0 copies: read by L0 → L1 compaction, deleted by L0 retention. */
  readonly localL0?: ReplicaClient | LocalL0Files;
  readonly cache?: LevelMaxCache;
  readonly counters?: CompactionCounters;
  /**
   * Writes the level-9 snapshot from the database (DbReplicator.snapshot),
   * called only when snapshotDue says one is due; it may still decline by
   * resolving undefined. Without it snapshots are taken from the replica
   * (compactSnapshot).
   */
  readonly snapshot?: (ctx: JobContext) => Promise<LtxFileInfo | undefined>;
  readonly snapshotRetentionMs?: number;
  /** 0 turns L0 retention off. */
  readonly l0RetentionMs?: number;
  readonly l0RetentionCheckIntervalMs?: number;
  /** Validate the levels this often; 0 (default) never. */
  readonly validationIntervalMs?: number;
  /** false: retention deletes nothing on the replica (local L0 copies are still removed). */
  readonly deleteRemote?: boolean;
  /** Check each destination level after compacting into it. */
  readonly verify?: boolean;
  /**
   * Wraps every job run, for a replicator that wants one database's jobs to
   * take a lock of its own (the engine does not need one: see docs/compaction.md).
   */
  readonly exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly onEvent?: (event: CompactionEvent) => void;
}

/**
 * The jobs a replicator schedules for one database, for a LevelScheduler:
 *
 * - `L1`…`L<max>`: compaction at the level's interval; after an L1
 *   compaction that wrote something, L0 retention at once;
 * - `snapshot`: the snapshot at the snapshot interval, then snapshot
 *   retention on every run, even when the snapshot was too early;
 * - `l0-retention`: every l0RetentionCheckIntervalMs (not aligned);
 * - `validation`: when validationIntervalMs > 0.
 */
export function compactionJobs(o: CompactionJobsOptions): ScheduledJob[] {
  const levels = o.levels ?? new CompactionLevels();
  const exclusive = o.exclusive ?? (<T>(fn: () => Promise<T>) => fn());
  const emit = (e: CompactionEvent): void => {
    try {
      o.onEvent?.(e);
    } catch {
      // A failing log handler must not fail the job.
    }
  };
  const l0RetentionMs = o.l0RetentionMs ?? DEFAULT_L0_RETENTION_MS;
  const l0Retention = async (ctx: JobContext): Promise<void> => {
    const result = await enforceL0Retention({
      client: o.client,
      l0RetentionMs,
      now: ctx.now,
      localL0: o.localL0,
      deleteRemote: o.deleteRemote,
      counters: o.counters,
      cache: o.cache,
      signal: ctx.signal,
    });
    emit({ kind: 'l0-retention', result });
  };

  const jobs: ScheduledJob[] = [];
  for (const lvl of levels.levels.slice(1)) {
    jobs.push({
      name: `L${lvl.level}`,
      intervalMs: lvl.intervalMs,
      run: (ctx) =>
        exclusive(async () => {
          const result = await compactLevel({
            client: o.client,
            dstLevel: lvl.level,
            levels,
            now: ctx.now,
            localL0: o.localL0,
            cache: o.cache,
            verify: o.verify,
            counters: o.counters,
            signal: ctx.signal,
          });
          emit({ kind: 'compaction', result });
          if (lvl.level === 1 && result.status === 'compacted' && l0RetentionMs > 0) await l0Retention(ctx);
        }),
    });
  }

  const takeSnapshot = async (ctx: JobContext): Promise<CompactLevelResult> => {
    const common = { client: o.client, levels, now: ctx.now, cache: o.cache, localL0: o.localL0, signal: ctx.signal };
    if (o.snapshot === undefined) return compactSnapshot({ ...common, counters: o.counters });
    const skip = await snapshotDue(common);
    if (skip !== undefined) return skip;
    const file = await o.snapshot(ctx);
    if (file === undefined) return { status: 'nothing-to-compact', level: SNAPSHOT_LEVEL, srcMaxTxid: 0n, dstMaxTxid: o.cache?.get(SNAPSHOT_LEVEL)?.maxTxid ?? 0n };
    o.cache?.note(file);
    return { status: 'compacted', level: file.level, file, files: [file], inputs: [], localReads: 0, bridgedGaps: [] };
  };
  jobs.push({
    name: 'snapshot',
    intervalMs: levels.snapshotIntervalMs,
    run: (ctx) =>
      exclusive(async () => {
        let failure: { err: unknown } | undefined;
        try {
          emit({ kind: 'compaction', result: await takeSnapshot(ctx) });
        } catch (err) {
          failure = { err };
        }
        const result = await enforceSnapshotRetention({
          client: o.client,
          retentionMs: o.snapshotRetentionMs ?? DEFAULT_SNAPSHOT_RETENTION_MS,
          now: ctx.now,
          levels,
          deleteRemote: o.deleteRemote,
          counters: o.counters,
          cache: o.cache,
          signal: ctx.signal,
        });
        emit({ kind: 'snapshot-retention', result });
        if (failure !== undefined) throw failure.err;
      }),
  });

  if (l0RetentionMs > 0) {
    jobs.push({
      name: 'l0-retention',
      intervalMs: o.l0RetentionCheckIntervalMs ?? DEFAULT_L0_RETENTION_CHECK_INTERVAL_MS,
      aligned: false,
      run: (ctx) => exclusive(() => l0Retention(ctx)),
    });
  }

  if ((o.validationIntervalMs ?? 0) > 0) {
    jobs.push({
      name: 'validation',
      intervalMs: o.validationIntervalMs!,
      aligned: false,
      run: (ctx) =>
        exclusive(async () => {
          const issues = await validateLevels(o.client, levels, { signal: ctx.signal, counters: o.counters });
          emit({ kind: 'validation', issues });
        }),
    });
  }
  return jobs;
}

