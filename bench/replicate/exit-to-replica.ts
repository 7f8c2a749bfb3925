/**
 * How long after an application's last commit, once it has exited, the
 * replica holds that commit. Each run: a fresh database, the replicator child
 * (default settings) on it, then an application child process
 * (app-writer-child.ts) that commits at about APP_RATE_PER_SEC for
 * APP_WRITE_MS, closes its database, prints its last commit's wall time and
 * exits. The replica is restored (latest state) every POLL_MS until the
 * restored database holds that last row; the delay is counted from the last
 * commit to the start of the first restore that has it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { restore } from '../../src/restore/restore.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { killIfRunning, nextLine, spawnChild, type Child } from './child-process.js';
import { APP_READY_LINE, type AppWriterReport } from './protocol.js';
import { startReplicator, stopReplicator } from './replicator-process.js';
import { median } from './stats.js';
import { openDb } from './write-burst.js';

export const EXIT_RUNS = 5;
export const APP_RATE_PER_SEC = 100;
export const APP_WRITE_MS = 3000;
/** Pause between two restores of the replica while waiting for the last commit. */
export const POLL_MS = 10;
/** A last commit not on the replica this long after it is a failure of the run. */
export const EXIT_TIMEOUT_MS = 30_000;
/** The application child's start (tsx), writing and exit together. */
const APP_TIMEOUT_MS = APP_WRITE_MS + 30_000;

export interface ExitToReplica {
  runs: number;
  appRatePerSec: number;
  appWriteMs: number;
  pollMs: number;
  timeoutMs: number;
  /** Each run's delay (ms), null for a run that failed. */
  each: (number | null)[];
  /** Median of the runs that succeeded. */
  median: number | null;
  /** Restores made while waiting, per run (0 for a run that failed before it could wait). */
  restores: number[];
  /** Commits the application made, per run. */
  commits: number[];
  failures: { run: number; error: string }[];
}

/** Does the replica's latest state hold row `id`? Restores it to `outputPath` and removes it again. */
async function replicaHolds(client: FileReplicaClient, outputPath: string, id: number): Promise<boolean> {
  try {
    await restore({ client, outputPath });
    const db = new Database(outputPath, { readonly: true });
    try {
      return db.prepare('SELECT 1 FROM events WHERE id = ?').get(id) !== undefined;
    } finally {
      db.close();
    }
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${outputPath}${suffix}`, { force: true });
  }
}

async function oneRun(runDir: string): Promise<{ delayMs: number | null; restores: number; commits: number; error?: string }> {
  mkdirSync(runDir, { recursive: true });
  const dbPath = join(runDir, 'app.db');
  const replicaDir = join(runDir, 'replica');
  openDb(dbPath).close();
  let replicator: Child | undefined;
  let app: Child | undefined;
  try {
    replicator = await startReplicator(dbPath, replicaDir);
    app = spawnChild('application child', 'app-writer-child.ts', [dbPath, String(APP_RATE_PER_SEC), String(APP_WRITE_MS)]);
    const ready = await nextLine(app, 'ready line', APP_TIMEOUT_MS);
    if (ready !== APP_READY_LINE) throw new Error(`application child: unexpected output ${JSON.stringify(ready)}`);
    const report = JSON.parse(await nextLine(app, 'report', APP_TIMEOUT_MS)) as AppWriterReport;
    const client = new FileReplicaClient(replicaDir);
    let restores = 0;
    let lastError: string | undefined;
    for (;;) {
      const attemptAt = Date.now();
      if (attemptAt - report.lastCommitAtMs > EXIT_TIMEOUT_MS) {
        const why = lastError === undefined ? '' : ` (last restore error: ${lastError})`;
        return { delayMs: null, restores, commits: report.commits, error: `the last commit was not on the replica within ${EXIT_TIMEOUT_MS} ms${why}` };
      }
      restores++;
      try {
        if (await replicaHolds(client, join(runDir, 'poll.db'), report.lastId)) return { delayMs: attemptAt - report.lastCommitAtMs, restores, commits: report.commits };
      } catch (err) {
        // Nothing on the replica yet, say; the timeout above still ends the wait.
        lastError = (err as Error).message;
      }
      await sleep(POLL_MS);
    }
  } finally {
    killIfRunning(app);
    try {
      if (replicator !== undefined) await stopReplicator(replicator);
    } finally {
      killIfRunning(replicator);
      rmSync(runDir, { recursive: true, force: true });
    }
  }
}

export async function exitToReplica(dir: string): Promise<ExitToReplica> {
  const each: (number | null)[] = [];
  const restores: number[] = [];
  const commits: number[] = [];
  const failures: ExitToReplica['failures'] = [];
  for (let run = 1; run <= EXIT_RUNS; run++) {
    try {
      const r = await oneRun(join(dir, `exit-${run}`));
      each.push(r.delayMs);
      restores.push(r.restores);
      commits.push(r.commits);
      if (r.error !== undefined) failures.push({ run, error: r.error });
    } catch (err) {
      each.push(null);
      restores.push(0);
      commits.push(0);
      failures.push({ run, error: (err as Error).message });
    }
    console.log(`  exit run ${run}: ${each[each.length - 1] === null ? `failed: ${failures[failures.length - 1]!.error}` : `${each[each.length - 1]} ms`}`);
  }
  return {
    runs: EXIT_RUNS,
    appRatePerSec: APP_RATE_PER_SEC,
    appWriteMs: APP_WRITE_MS,
    pollMs: POLL_MS,
    timeoutMs: EXIT_TIMEOUT_MS,
    each,
    median: median(each.filter((x): x is number => x !== null)),
    restores,
    commits,
    failures,
  };
}
