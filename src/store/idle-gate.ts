import type { CompactionEvent } from '../compaction/compaction-jobs.js';
import type { LevelMaxCache } from '../compaction/level-max-cache.js';
import type { ScheduledJob } from '../compaction/level-scheduler.js';

/**
 * Keeps the compaction jobs of an idle database from asking the replica
 * anything. A job runs only when something it depends on may have changed
 * since its last run settled:
 *
 * - `L<n>`: the newest TXID of level n-1 as this process knows it (uploads
 *   for L0, its own compactions above) moved, or the last run was too early
 *   for its window, or it never ran;
 * - `l0-retention`: L1 moved, or files that were too recent last time have
 *   aged past the retention since (judged by the newest L0 file, so they go
 *   at most one retention period late; the newest file stays anyway);
 * - `snapshot` (the snapshot, then snapshot retention): the database moved
 *   past the newest snapshot, or a snapshot kept last time has aged past
 *   the retention since;
 * - anything else (validation) always runs: it was asked for.
 *
 * A run that fails settles nothing, so it is retried at the next boundary.
 */
export interface IdleGateOptions {
  readonly cache: LevelMaxCache;
  /** The database's newest synced TXID. */
  readonly localTxid: () => bigint;
  readonly snapshotRetentionMs: number;
  readonly l0RetentionMs: number;
}

export class IdleGate {
  readonly #cache: LevelMaxCache;
  readonly #o: IdleGateOptions;
  /** Creation time of the oldest snapshot kept by the last retention run, other than the newest; null: none. */
  #oldestKept: number | null | undefined;
  /** Per job: the source TXID its last settled run saw; absent means "run". */
  readonly #settled = new Map<string, bigint>();
  /** Per job: the source TXID seen when the current run started. */
  readonly #starting = new Map<string, bigint>();
  /** L0 retention need not run again (with L1 unchanged) before this time. */
  #l0RetentionNotBefore = 0;

  constructor(options: IdleGateOptions) {
    this.#cache = options.cache;
    this.#o = options;
  }

  wrap(job: ScheduledJob): ScheduledJob {
    if (job.name === 'snapshot') return { ...job, run: async (ctx) => (this.#snapshotDue(ctx.now) ? job.run(ctx) : undefined) };
    const source = this.#sourceLevel(job.name);
    if (source === undefined) return job;
    return {
      ...job,
      run: async (ctx) => {
        const seen = this.#cache.get(source)?.maxTxid;
        if (seen !== undefined && this.#settled.get(job.name) === seen) {
          if (job.name !== 'l0-retention' || ctx.now.getTime() < this.#l0RetentionNotBefore) return;
        }
        this.#settled.delete(job.name);
        if (seen !== undefined) this.#starting.set(job.name, seen);
        else this.#starting.delete(job.name);
        return job.run(ctx);
      },
    };
  }

  /** Feeds the outcome of a run (the jobs' onEvent) into the gate. */
  observe(e: CompactionEvent): void {
    if (e.kind === 'compaction') {
      if (e.result.level === 9) return;
      const name = `L${e.result.level}`;
      if (e.result.status !== 'too-early') this.#settle(name);
    } else if (e.kind === 'l0-retention') {
      // It also runs straight after an L1 compaction, outside its own job: what it saw is L1 as now known.
      const l1 = this.#cache.get(1)?.maxTxid;
      if (l1 !== undefined) this.#settled.set('l0-retention', l1);
      const newest = this.#cache.get(0)?.createdAt.getTime();
      this.#l0RetentionNotBefore =
        e.result.tooRecent === 0 ? Infinity : newest === undefined || !Number.isFinite(newest) ? 0 : newest + this.#o.l0RetentionMs;
    } else if (e.kind === 'snapshot-retention') {
      const kept = [...e.result.keptSnapshots].sort((a, b) => (a.maxTxid < b.maxTxid ? -1 : 1)).slice(0, -1);
      this.#oldestKept = kept.length === 0 ? null : Math.min(...kept.map((f) => f.createdAt.getTime()));
    }
  }

  #snapshotDue(now: Date): boolean {
    if (this.#oldestKept === undefined) return true;
    const newest = this.#cache.get(9);
    if (newest === undefined || this.#o.localTxid() > newest.maxTxid) return true;
    return this.#oldestKept !== null && this.#oldestKept < now.getTime() - this.#o.snapshotRetentionMs;
  }

  #settle(name: string): void {
    const seen = this.#starting.get(name);
    if (seen !== undefined) this.#settled.set(name, seen);
  }

  #sourceLevel(name: string): number | undefined {
    if (name === 'l0-retention') return 1;
    const m = /^L([1-8])$/.exec(name);
    return m === null ? undefined : Number(m[1]) - 1;
  }
}
