/**
 * Replication under a sustained write burst (npm run bench:replicate).
 *
 * This process is the application: for BURST_MS it commits small
 * transactions as fast as better-sqlite3 can (WAL, synchronous=NORMAL, one
 * ~100-byte row per transaction into a table with an index), while tidemark
 * replicates the database to a directory replica from a child process
 * (bench/replicate/replicator-child.ts) with the default 1 s sync interval.
 * Measured:
 * - transactions committed and tx/s, with commit latency percentiles;
 * - the replicator's CPU seconds (user + sys) and peak RSS;
 * - how long after the burst the replica holds the last transaction;
 * - the replica's size;
 * - restore wall time and MB/s, checking the restored row count.
 * Results: bench/results/replicate.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { restore } from '../src/restore/index.js';
import { FileReplicaClient } from '../src/storage/index.js';
import { READY_LINE, type ChildReport } from './replicate/protocol.js';
import { ReplicaWatch, dirBytes } from './replicate/replica-watch.js';
import { walEnd } from './replicate/wal-end.js';
import { machineInfo } from './machine.js';

const BURST_MS = 10_000;
/** Payload bytes per row; with the key and timestamp a row is about 100 bytes. */
const PAYLOAD_BYTES = 72;
/** Random bytes the payloads are sliced from, so generating rows costs next to nothing. */
const PAYLOAD_POOL_BYTES = 1024 * 1024;
/** Replica polling period: fine enough for a lag measured against a 1 s sync interval. */
const POLL_MS = 10;
/** Give up waiting for the replica after this long: several sync intervals plus a slow checkpoint. */
const CATCH_UP_TIMEOUT_MS = 30_000;
/** How long the replicator gets to open, and to close and report, before the run fails. */
const CHILD_TIMEOUT_MS = 30_000;
/** Commit latencies are kept for this many transactions at most (8 bytes each). */
const MAX_LATENCY_SAMPLES = 4_000_000;
const MIB = 1024 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
const childScript = join(here, 'replicate', 'replicator-child.ts');

interface Child {
  proc: ChildProcess;
  lines: AsyncIterator<string>;
}

async function nextLine(child: Child, what: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`replicator child: no ${what} within ${CHILD_TIMEOUT_MS} ms`)), CHILD_TIMEOUT_MS);
  });
  try {
    const r = await Promise.race([child.lines.next(), timeout]);
    if (r.done === true) throw new Error(`replicator child exited before its ${what} (exit ${child.proc.exitCode ?? child.proc.signalCode})`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

async function startReplicator(dbPath: string, replicaDir: string): Promise<Child> {
  // stderr is inherited so a failing replicator explains itself.
  const proc = spawn(process.execPath, ['--import', 'tsx', childScript, dbPath, replicaDir], {
    cwd: join(here, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const child: Child = { proc, lines: createInterface({ input: proc.stdout! })[Symbol.asyncIterator]() };
  const line = await nextLine(child, 'ready line');
  if (line !== READY_LINE) throw new Error(`replicator child: unexpected output ${JSON.stringify(line)}`);
  return child;
}

async function stopReplicator(child: Child): Promise<ChildReport> {
  child.proc.kill('SIGTERM');
  return JSON.parse(await nextLine(child, 'report')) as ChildReport;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** Commits one-row transactions for BURST_MS; returns the count and per-commit latencies (ms). */
function writeBurst(db: Database.Database): { txs: number; seconds: number; latencies: Float64Array } {
  const insert = db.prepare('INSERT INTO events (key, at, payload) VALUES (?, ?, ?)');
  const pool = randomBytes(PAYLOAD_POOL_BYTES);
  const latencies = new Float64Array(MAX_LATENCY_SAMPLES);
  // Keys spread over the whole index, as ids or hashes would, so each commit touches an index page somewhere.
  let seed = 0x2545f491;
  let txs = 0;
  const start = performance.now();
  const end = start + BURST_MS;
  let now = start;
  while (now < end) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const at = (seed >>> 8) % (PAYLOAD_POOL_BYTES - PAYLOAD_BYTES);
    // Not in an explicit transaction, so every run() is its own committed transaction.
    insert.run(seed.toString(16).padStart(8, '0') + txs.toString(16).padStart(8, '0'), Date.now(), pool.subarray(at, at + PAYLOAD_BYTES));
    const after = performance.now();
    if (txs < MAX_LATENCY_SAMPLES) latencies[txs] = after - now;
    txs++;
    now = after;
  }
  return { txs, seconds: (now - start) / 1000, latencies: latencies.subarray(0, Math.min(txs, MAX_LATENCY_SAMPLES)).sort() };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-replicate-'));
  const dbPath = join(dir, 'app.db');
  const replicaDir = join(dir, 'replica');
  const restoredPath = join(dir, 'restored', 'app.db');
  let child: Child | undefined;
  try {
    const db = new Database(dbPath);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at INTEGER NOT NULL, payload BLOB NOT NULL);
             CREATE INDEX events_key ON events(key);`);

    child = await startReplicator(dbPath, replicaDir);
    console.log(`writing for ${BURST_MS / 1000} s while replicating to ${replicaDir} ...`);
    const burst = writeBurst(db);
    const burstEnd = performance.now();
    const end = walEnd(`${dbPath}-wal`);
    const sourceRows = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;

    // The replica has caught up once an uploaded L0 file reaches the last commit of the WAL.
    const watch = new ReplicaWatch(replicaDir);
    while (!watch.covers(end)) {
      if (performance.now() - burstEnd > CATCH_UP_TIMEOUT_MS) throw new Error(`replica did not catch up within ${CATCH_UP_TIMEOUT_MS} ms`);
      await sleep(POLL_MS);
    }
    const catchUpMs = performance.now() - burstEnd;
    const replicaBytes = dirBytes(replicaDir);
    const l0Files = watch.l0Headers().length;

    const report = await stopReplicator(child);
    child = undefined;
    db.close();

    const client = new FileReplicaClient(replicaDir);
    const t0 = performance.now();
    const restored = await restore({ client, outputPath: restoredPath });
    const restoreSeconds = (performance.now() - t0) / 1000;
    if (restored.skipped) throw new Error('restore skipped');
    const check = new Database(restoredPath, { readonly: true });
    const restoredRows = (check.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    const quickCheck = check.pragma('quick_check', { simple: true });
    check.close();
    if (restoredRows !== sourceRows) throw new Error(`restored ${restoredRows} rows, the source has ${sourceRows}`);
    if (quickCheck !== 'ok') throw new Error(`restored database fails quick_check: ${String(quickCheck)}`);

    const usage = report.resourceUsage;
    const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
    const results = {
      benchmark: 'replicate',
      machine: machineInfo(),
      config: { burstMs: BURST_MS, rowBytes: PAYLOAD_BYTES + 16 + 8, syncIntervalMs: 1000, journal: 'WAL', synchronous: 'NORMAL', replica: 'file' },
      writer: {
        transactions: burst.txs,
        seconds: round(burst.seconds, 3),
        txPerSec: Math.round(burst.txs / burst.seconds),
        commitLatencyMs: {
          p50: round(percentile(burst.latencies, 0.5), 4),
          p99: round(percentile(burst.latencies, 0.99), 4),
          p999: round(percentile(burst.latencies, 0.999), 4),
          max: round(percentile(burst.latencies, 1), 3),
        },
      },
      replicator: {
        cpuSeconds: round(cpuSeconds, 3),
        userCpuSeconds: round(usage.userCPUTime / 1e6, 3),
        systemCpuSeconds: round(usage.systemCPUTime / 1e6, 3),
        peakRssMiB: round(report.maxRssKiB / 1024, 1),
        finalRssMiB: round(report.rssBytes / MIB, 1),
      },
      replica: { catchUpMs: Math.round(catchUpMs), bytes: replicaBytes, mib: round(replicaBytes / MIB, 2), l0Files },
      restore: {
        seconds: round(restoreSeconds, 3),
        dbBytes: restored.bytes,
        dbMiB: round(restored.bytes / MIB, 2),
        mbPerSec: round(restored.bytes / 1e6 / restoreSeconds, 1),
        filesMerged: restored.files,
        rows: restoredRows,
        rowsMatch: restoredRows === sourceRows,
      },
    };

    console.table({
      'transactions committed': { value: results.writer.transactions },
      'tx/s': { value: results.writer.txPerSec },
      'commit p50 / p99 / max (ms)': {
        value: `${results.writer.commitLatencyMs.p50} / ${results.writer.commitLatencyMs.p99} / ${results.writer.commitLatencyMs.max}`,
      },
      'replicator CPU s (user+sys)': { value: results.replicator.cpuSeconds },
      'replicator peak RSS (MiB)': { value: results.replicator.peakRssMiB },
      'replica caught up after burst (ms)': { value: results.replica.catchUpMs },
      'replica size (MiB)': { value: `${results.replica.mib} in ${l0Files} L0 files` },
      'restore (s)': { value: results.restore.seconds },
      'restore MB/s': { value: `${results.restore.mbPerSec} (${results.restore.dbMiB} MiB db)` },
      'restored rows = source rows': { value: `${restoredRows} = ${sourceRows}` },
    });
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'replicate.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results: ${join(resultsDir, 'replicate.json')}`);
  } finally {
    // A run that failed part-way must not leave a replicator behind.
    if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
