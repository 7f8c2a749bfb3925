/**
 * One torture run: a fresh database and directory replica, a CPU hog per
 * core, then cycles (cycle.ts), with an orderly catch-up and the checks
 * (checks.ts) every `checkEvery` cycles and after the last one. On failure the
 * temporary directory is kept; every child process is killed on every way out.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { seededRandom } from '../../../src/seeded-random.js';
import { catchUp } from './catch-up.js';
import { checkReplica, newCursor, type CheckCursor } from './checks.js';
import { emptyStats, type Failure, type RunContext, type RunStats } from './context.js';
import { runCycle } from './cycle.js';
import { assertCliBuilt, Daemon } from './daemon.js';
import { ModelHistory } from './history.js';
import { CpuHogs } from './hogs.js';
import { installCleanupHooks, killAllChildren } from './processes.js';
import { FIRST_TABLE, LOG_DDL, tableDdl } from './schema.js';
import { mixSeed, pick } from './seeds.js';

/** Salt of the run-level PRNG (page size). */
const RUN_SALT = 0x7247;
/** Page sizes a run may use: large values are sized in pages, so overflow chains churn at every size. */
const PAGE_SIZES = [1024, 4096, 4096, 8192] as const;
/** Default writer window of a cycle. */
export const DEFAULT_WINDOW_MS = 6000;
/** A run stops starting cycles after this many failures (a broken replica tends to repeat itself). */
const MAX_FAILURES = 200;

export interface TortureOptions {
  readonly seed: number;
  readonly cycles: number;
  /** Catch up and check after every this many cycles (and after the last). */
  readonly checkEvery: number;
  readonly windowMs?: number;
  /** CPU hogs (default one per core). */
  readonly hogs?: number;
  /** No new cycle starts after this moment (Date.now() ms); the final check still runs. */
  readonly deadline?: number;
  /** Told after every cycle (and check) with the counters so far. */
  readonly onProgress?: (p: TortureProgress) => void;
  /**
   * Runs after the final catch-up, before the final checks: the checker's
   * own test breaks the replica or the source here to see the checks fail.
   */
  readonly beforeFinalCheck?: (ctx: RunContext) => Promise<void>;
}

export interface TortureProgress {
  readonly seed: number;
  /** The run's temporary directory (removed at the end unless something failed). */
  readonly dir: string;
  readonly cycle: number;
  readonly checked: boolean;
  readonly stats: RunStats;
  readonly failures: readonly Failure[];
  readonly elapsedMs: number;
}

export interface TortureSummary extends TortureProgress {
  /** The directory was kept (there were failures). */
  readonly kept: boolean;
  readonly pageSize: number;
  readonly maxSeq: number;
  readonly daemonErrorLines: number;
  readonly hogs: number;
}

export async function runTorture(opts: TortureOptions): Promise<TortureSummary> {
  installCleanupHooks();
  assertCliBuilt();
  const started = Date.now();
  const random = seededRandom(mixSeed(opts.seed, RUN_SALT));
  const cfg = { seed: opts.seed, pageSize: pick(random, PAGE_SIZES) };
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-torture-'));
  const dbPath = join(dir, 'app.db');
  const replicaDir = join(dir, 'replica');
  const scratchDir = join(dir, 'scratch');
  await mkdir(scratchDir);
  createDatabase(dbPath, cfg.pageSize);

  const ctx: RunContext = {
    seed: opts.seed,
    cfg,
    dir,
    dbPath,
    replicaDir,
    scratchDir,
    snapshotPath: join(dir, 'model-snapshot.json'),
    daemon: new Daemon(dbPath, replicaDir),
    history: new ModelHistory(cfg),
    stats: emptyStats(),
    failures: [],
    maxCommittedSeq: 0,
    cycleEndTxids: [],
  };
  await writeFile(ctx.snapshotPath, JSON.stringify(ctx.history.model.toSnapshot()));
  const cursor = newCursor();
  const hogs = new CpuHogs(opts.hogs);
  let cycle = -1;
  try {
    let checkedAt = -1;
    for (let c = 0; c < opts.cycles; c++) {
      if (opts.deadline !== undefined && Date.now() > opts.deadline) break;
      if (ctx.failures.length >= MAX_FAILURES) break;
      cycle = c;
      await runCycle(ctx, c, { windowMs: opts.windowMs ?? DEFAULT_WINDOW_MS });
      // The last cycle is checked after the loop, where a run cut short by the deadline is checked too.
      const check = (c + 1) % opts.checkEvery === 0 && c !== opts.cycles - 1;
      if (check) {
        await catchUpAndCheck(ctx, cursor, c);
        checkedAt = c;
      }
      opts.onProgress?.(progress(ctx, c, check, started));
    }
    if (cycle >= 0 && checkedAt !== cycle) {
      await catchUpAndCheck(ctx, cursor, cycle, opts.beforeFinalCheck);
      opts.onProgress?.(progress(ctx, cycle, true, started));
    }
  } catch (err) {
    // A harness error is not a verdict on the replicator; keep everything for a look.
    throw new Error(`torture run with seed ${opts.seed} stopped by an error in cycle ${cycle} (directory kept: ${dir}): ${(err as Error).stack ?? String(err)}`, {
      cause: err,
    });
  } finally {
    await ctx.daemon.kill();
    await hogs.stop();
    killAllChildren();
  }
  const kept = ctx.failures.length > 0;
  if (!kept) await rm(dir, { recursive: true, force: true });
  return {
    ...progress(ctx, cycle, true, started),
    dir,
    kept,
    pageSize: cfg.pageSize,
    maxSeq: ctx.history.seq,
    daemonErrorLines: ctx.daemon.errorLines().length,
    hogs: hogs.count,
  };
}

async function catchUpAndCheck(ctx: RunContext, cursor: CheckCursor, cycle: number, between?: (ctx: RunContext) => Promise<void>): Promise<void> {
  let t = Date.now();
  await catchUp(ctx, cycle);
  ctx.stats.catchUpMs += Date.now() - t;
  await between?.(ctx);
  t = Date.now();
  await checkReplica(ctx, cursor, cycle);
  ctx.stats.checkMs += Date.now() - t;
}

function progress(ctx: RunContext, cycle: number, checked: boolean, started: number): TortureProgress {
  return { seed: ctx.seed, dir: ctx.dir, cycle, checked, stats: { ...ctx.stats }, failures: [...ctx.failures], elapsedMs: Date.now() - started };
}

/** The schema at seq 0: the log and the first table, in WAL mode. */
function createDatabase(path: string, pageSize: number): void {
  const db = new Database(path);
  try {
    db.pragma(`page_size = ${pageSize}`);
    db.pragma('journal_mode = WAL');
    db.exec(LOG_DDL);
    db.exec(tableDdl(FIRST_TABLE));
  } finally {
    db.close();
  }
}
