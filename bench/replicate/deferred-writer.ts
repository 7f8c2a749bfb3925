/**
 * The replicator's effect on another application's deferred transactions:
 * deferred-writer-child.ts runs read-then-write transactions in a loop while
 * the benchmark writes its burst, and counts those that fail with SQLITE_BUSY
 * (the target is none caused by the replicator). Because a deferred
 * transaction cannot wait for the write lock when it upgrades, the burst
 * writer alone already makes many of them fail; the benchmark therefore also
 * runs the same with no replicator, and the deferred writer alone next to
 * the replicator, where every failure is the replicator's.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { killIfRunning, nextLine, spawnChild, type Child } from './child-process.js';
import { APP_READY_LINE, type DeferredWriterReport } from './protocol.js';
import { ReplicaWatch } from './replica-watch.js';
import { startReplicator, stopReplicator } from './replicator-process.js';
import { round } from './stats.js';
import { walEnd } from './wal-end.js';
import { BURST_MS, openDb, writeBurst } from './write-burst.js';

/** Pause between two of its transactions: a second application busy but not hogging the write lock. */
export const DEFERRED_PAUSE_MS = 1;
/** Its busy timeout, as set in deferred-writer-child.ts. */
export const DEFERRED_BUSY_TIMEOUT_MS = 5000;
/** How long it gets to start (tsx), and to stop and report. */
const DEFERRED_TIMEOUT_MS = 30_000;
/** After the burst, the replica is waited for this long; a replica still behind then is recorded, not fatal. */
const CATCH_UP_TIMEOUT_MS = 30_000;
/** Replica polling period while waiting for it to catch up. */
const POLL_MS = 10;

/** Starts the deferred writer on an existing database; resolves once it is looping. */
export async function startDeferredWriter(dbPath: string): Promise<Child> {
  const child = spawnChild('deferred writer child', 'deferred-writer-child.ts', [dbPath, String(DEFERRED_PAUSE_MS)]);
  try {
    const line = await nextLine(child, 'ready line', DEFERRED_TIMEOUT_MS);
    if (line !== APP_READY_LINE) throw new Error(`deferred writer child: unexpected output ${JSON.stringify(line)}`);
  } catch (err) {
    child.proc.kill('SIGKILL');
    throw err;
  }
  return child;
}

export async function stopDeferredWriter(child: Child): Promise<DeferredWriterReport> {
  child.proc.kill('SIGTERM');
  return JSON.parse(await nextLine(child, 'report', DEFERRED_TIMEOUT_MS)) as DeferredWriterReport;
}

export interface DeferredRun extends DeferredWriterReport {
  /** The burst writer's tx/s beside it; null when there was no burst. */
  burstTxPerSec: number | null;
  /** Share of its transactions that failed with SQLITE_BUSY. */
  busyShare: number | null;
  /** With a replicator: how long after the burst the replica held its last commit; null if it did not within CATCH_UP_TIMEOUT_MS. */
  catchUpMs?: number | null;
  /** What went wrong with the replicator in this run (the counts above stand all the same). */
  error?: string;
}

function withShare(r: DeferredWriterReport, extra: Omit<DeferredRun, keyof DeferredWriterReport | 'busyShare'>): DeferredRun {
  return { ...extra, ...r, busyShare: r.attempts === 0 ? null : round(r.busy / r.attempts, 4) };
}

/**
 * A burst on a fresh database with the deferred writer beside it, and the
 * replicator too if `replicator`. The replica is then waited for (and the
 * replicator closed); a failure there is recorded in `error`.
 */
export async function deferredWithBurst(dir: string, name: string, opts: { replicator: boolean }): Promise<DeferredRun> {
  const runDir = join(dir, name);
  mkdirSync(runDir, { recursive: true });
  const dbPath = join(runDir, 'app.db');
  const replicaDir = join(runDir, 'replica');
  const db = openDb(dbPath);
  let replicator: Child | undefined;
  let writer: Child | undefined;
  try {
    if (opts.replicator) replicator = await startReplicator(dbPath, replicaDir);
    writer = await startDeferredWriter(dbPath);
    const burst = writeBurst(db, BURST_MS);
    const burstEnd = performance.now();
    const report = await stopDeferredWriter(writer);
    writer = undefined;
    const burstTxPerSec = Math.round(burst.txs / burst.seconds);
    if (replicator === undefined) return withShare(report, { burstTxPerSec });

    const end = walEnd(`${dbPath}-wal`);
    const watch = new ReplicaWatch(replicaDir);
    let catchUpMs: number | null = null;
    let error: string | undefined;
    while (catchUpMs === null && error === undefined) {
      if (watch.covers(end)) catchUpMs = Math.round(performance.now() - burstEnd);
      else if (performance.now() - burstEnd > CATCH_UP_TIMEOUT_MS) error = `the replica did not catch up within ${CATCH_UP_TIMEOUT_MS} ms of the burst`;
      else await sleep(POLL_MS);
    }
    try {
      await stopReplicator(replicator);
    } catch (err) {
      error = [error, `closing the replicator: ${(err as Error).message}`].filter((x) => x !== undefined).join('; ');
    }
    replicator = undefined;
    return withShare(report, { burstTxPerSec, catchUpMs, ...(error === undefined ? {} : { error }) });
  } finally {
    killIfRunning(writer);
    killIfRunning(replicator);
    db.close();
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** The deferred writer as the only application, next to the replicator, for `ms`. */
export async function deferredAloneWithReplicator(dir: string, ms: number): Promise<DeferredRun> {
  const runDir = join(dir, 'deferred-alone');
  mkdirSync(runDir, { recursive: true });
  const dbPath = join(runDir, 'app.db');
  openDb(dbPath).close();
  let replicator: Child | undefined;
  let writer: Child | undefined;
  try {
    replicator = await startReplicator(dbPath, join(runDir, 'replica'));
    writer = await startDeferredWriter(dbPath);
    await sleep(ms);
    const report = await stopDeferredWriter(writer);
    writer = undefined;
    let error: string | undefined;
    try {
      await stopReplicator(replicator);
    } catch (err) {
      error = `closing the replicator: ${(err as Error).message}`;
    }
    replicator = undefined;
    return withShare(report, { burstTxPerSec: null, ...(error === undefined ? {} : { error }) });
  } finally {
    killIfRunning(writer);
    killIfRunning(replicator);
    rmSync(runDir, { recursive: true, force: true });
  }
}
