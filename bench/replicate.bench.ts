/**
 * Replication under a sustained write burst (npm run bench:replicate).
 *
 * This process is the application: for BURST_MS it commits small
 * transactions as fast as better-sqlite3 can (WAL, synchronous=NORMAL, one
 * ~100-byte row per transaction into a table with an index), while tidemark
 * replicates the database from a child process
 * (bench/replicate/replicator-child.ts) with the default 1 s sync interval.
 * The burst runs twice: to a directory replica, then to an S3 replica on
 * s3rver on loopback (in a process of its own). Measured for each:
 * - transactions committed and tx/s, with commit latency percentiles;
 * - the replicator's CPU seconds (user + sys) and peak RSS;
 * - how long after the burst the replica holds the last transaction;
 * - the replica's size;
 * - restore wall time and MB/s, checking the restored row count.
 * Then, for S3, the requests an idle replicator makes in IDLE_WINDOW_MS
 * (counted by a proxy in front of s3rver): there should be none.
 * Results: bench/results/replicate.json (the directory run at the top level,
 * the S3 run under `s3`, the idle count under `s3Idle`).
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
import { FileReplicaClient, type ReplicaClient } from '../src/storage/index.js';
import { S3ReplicaClient } from '../src/storage/s3/index.js';
import { FaultProxy } from '../test/storage/s3/fault-proxy.js';
import { testS3Client } from '../test/storage/s3/helpers.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from '../test/storage/s3/s3-server.js';
import { READY_LINE, type ChildReport } from './replicate/protocol.js';
import { ClientReplicaWatch, replicaBytes } from './replicate/client-replica-watch.js';
import { ReplicaWatch, dirBytes } from './replicate/replica-watch.js';
import { walEnd, type WalEnd } from './replicate/wal-end.js';
import { machineInfo } from './machine.js';

const BURST_MS = 10_000;
/** Payload bytes per row; with the key and timestamp a row is about 100 bytes. */
const PAYLOAD_BYTES = 72;
/** Random bytes the payloads are sliced from, so generating rows costs next to nothing. */
const PAYLOAD_POOL_BYTES = 1024 * 1024;
/** Replica polling period: fine enough for a lag measured against a 1 s sync interval. */
const POLL_MS = 10;
/** An idle replicator is watched this long for S3 requests. */
const IDLE_WINDOW_MS = 60_000;
/**
 * After the last write, one time-based checkpoint is due once the database
 * file is a minute old (Litestream's 1 min checkpoint interval); its L0 file
 * is the last upload. The idle window opens after it, or after this long.
 */
const CHECKPOINT_WAIT_MS = 90_000;
/** A few sync intervals between the last upload and the idle window. */
const IDLE_SETTLE_MS = 3000;
const S3_BUCKET = 'tidemark-bench';
const SYNC_INTERVAL_MS = 1000;
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

/** s3rver's credentials, handed to the replicator the way a user would: through Litestream's variables. */
function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LITESTREAM_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY };
}

async function startReplicator(dbPath: string, replica: string): Promise<Child> {
  // stderr is inherited so a failing replicator explains itself.
  const proc = spawn(process.execPath, ['--import', 'tsx', childScript, dbPath, replica], {
    cwd: join(here, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
    env: childEnv(),
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

/** Tells when a replica has caught up, and how much it holds. */
interface Watch {
  covers(end: WalEnd): Promise<boolean>;
  l0Files(): Promise<number>;
  bytes(): Promise<number>;
}

interface Target {
  name: 'file' | 's3';
  /** What the replicator child is given: a directory or a URL. */
  replica: string;
  /** A client on the same replica for this process, to restore from. */
  client: ReplicaClient;
  watch: Watch;
  /** How often the replica is looked at while waiting for it to catch up. */
  pollMs: number;
}

/** A directory replica is watched by reading its files directly, not through the client being measured. */
function dirWatch(replicaDir: string): Watch {
  const w = new ReplicaWatch(replicaDir);
  return {
    covers: async (end) => w.covers(end),
    l0Files: async () => w.l0Headers().length,
    bytes: async () => dirBytes(replicaDir),
  };
}

function clientWatch(client: ReplicaClient): Watch {
  const w = new ClientReplicaWatch(client);
  return {
    covers: (end) => w.covers(end),
    l0Files: async () => (await w.l0Headers()).length,
    bytes: () => replicaBytes(client),
  };
}

function openDb(dbPath: string): Database.Database {
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at INTEGER NOT NULL, payload BLOB NOT NULL);
           CREATE INDEX events_key ON events(key);`);
  return db;
}

/** One burst replicated to `target`, then a restore from it. */
async function burstRun(dir: string, target: Target): Promise<Record<string, unknown>> {
  const dbPath = join(dir, `${target.name}.db`);
  const restoredPath = join(dir, `restored-${target.name}`, 'app.db');
  let child: Child | undefined;
  try {
    const db = openDb(dbPath);
    child = await startReplicator(dbPath, target.replica);
    console.log(`writing for ${BURST_MS / 1000} s while replicating to ${target.replica} ...`);
    const burst = writeBurst(db);
    const burstEnd = performance.now();
    const end = walEnd(`${dbPath}-wal`);
    const sourceRows = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;

    // The replica has caught up once an uploaded L0 file reaches the last commit of the WAL.
    const watch = target.watch;
    while (!(await watch.covers(end))) {
      if (performance.now() - burstEnd > CATCH_UP_TIMEOUT_MS) throw new Error(`replica did not catch up within ${CATCH_UP_TIMEOUT_MS} ms`);
      await sleep(target.pollMs);
    }
    const catchUpMs = performance.now() - burstEnd;
    const bytes = await watch.bytes();
    const l0Files = await watch.l0Files();

    const report = await stopReplicator(child);
    child = undefined;
    db.close();

    const t0 = performance.now();
    const restored = await restore({ client: target.client, outputPath: restoredPath });
    const restoreSeconds = (performance.now() - t0) / 1000;
    if (restored.skipped) throw new Error('restore skipped');
    const check = new Database(restoredPath, { readonly: true });
    const restoredRows = (check.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    const quickCheck = check.pragma('quick_check', { simple: true });
    check.close();
    if (restoredRows !== sourceRows) throw new Error(`${target.name}: restored ${restoredRows} rows, the source has ${sourceRows}`);
    if (quickCheck !== 'ok') throw new Error(`${target.name}: restored database fails quick_check: ${String(quickCheck)}`);

    const usage = report.resourceUsage;
    return {
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
        cpuSeconds: round((usage.userCPUTime + usage.systemCPUTime) / 1e6, 3),
        userCpuSeconds: round(usage.userCPUTime / 1e6, 3),
        systemCpuSeconds: round(usage.systemCPUTime / 1e6, 3),
        peakRssMiB: round(report.maxRssKiB / 1024, 1),
        finalRssMiB: round(report.rssBytes / MIB, 1),
      },
      replica: { catchUpMs: Math.round(catchUpMs), bytes, mib: round(bytes / MIB, 2), l0Files },
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
  } finally {
    // A run that failed part-way must not leave a replicator behind.
    if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  }
}

/**
 * An idle replicator's S3 requests: it replicates a small database once and
 * makes the one checkpoint due after the last write, then nothing is written
 * for IDLE_WINDOW_MS while a proxy counts requests.
 */
async function idleRun(dir: string, s3: S3TestServer): Promise<Record<string, unknown>> {
  const proxy = await FaultProxy.start(s3.endpoint);
  const dbPath = join(dir, 'idle.db');
  const direct = testS3Client(s3.endpoint, S3_BUCKET, 'idle');
  let child: Child | undefined;
  try {
    const db = openDb(dbPath);
    db.prepare('INSERT INTO events (key, at, payload) VALUES (?, ?, ?)').run('k', Date.now(), randomBytes(PAYLOAD_BYTES));
    db.close();
    child = await startReplicator(dbPath, `s3://${S3_BUCKET}/idle?endpoint=${proxy.endpoint}`);
    const started = performance.now();
    while ((await l0Count(direct)) === 0) {
      if (performance.now() - started > CATCH_UP_TIMEOUT_MS) throw new Error('the idle database never reached the replica');
      await sleep(50);
    }
    const firstUploadSeconds = (performance.now() - started) / 1000;
    proxy.resetCounts();
    console.log('waiting for the checkpoint due a minute after the last write ...');
    while ((await l0Count(direct)) < 2 && performance.now() - started < CHECKPOINT_WAIT_MS) await sleep(250);
    const checkpointUploadSeconds = (await l0Count(direct)) >= 2 ? round((performance.now() - started) / 1000, 1) : null;
    await sleep(IDLE_SETTLE_MS);
    const beforeWindow = proxy.counts;
    proxy.resetCounts();
    console.log(`counting S3 requests of an idle replicator for ${IDLE_WINDOW_MS / 1000} s ...`);
    await sleep(IDLE_WINDOW_MS);
    const requests = proxy.counts;
    await stopReplicator(child);
    child = undefined;
    return {
      windowSeconds: IDLE_WINDOW_MS / 1000,
      syncIntervalMs: SYNC_INTERVAL_MS,
      requests,
      total: Object.values(requests).reduce((a, b) => a + b, 0),
      beforeWindow: { firstUploadSeconds: round(firstUploadSeconds, 2), checkpointUploadSeconds, requests: beforeWindow },
    };
  } finally {
    if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    direct.destroy();
    await proxy.close();
  }
}

async function l0Count(client: ReplicaClient): Promise<number> {
  let n = 0;
  for await (const _ of client.ltxFiles(0)) n++;
  return n;
}

function summary(name: string, r: Record<string, unknown>): Record<string, { value: unknown }> {
  const w = r['writer'] as { transactions: number; txPerSec: number; commitLatencyMs: { p50: number; p99: number; max: number } };
  const rep = r['replicator'] as { cpuSeconds: number; peakRssMiB: number };
  const replica = r['replica'] as { catchUpMs: number; mib: number; l0Files: number };
  const rs = r['restore'] as { seconds: number; mbPerSec: number; dbMiB: number; rows: number };
  return {
    [`${name}: transactions committed`]: { value: w.transactions },
    [`${name}: tx/s`]: { value: w.txPerSec },
    [`${name}: commit p50 / p99 / max (ms)`]: { value: `${w.commitLatencyMs.p50} / ${w.commitLatencyMs.p99} / ${w.commitLatencyMs.max}` },
    [`${name}: replicator CPU s (user+sys)`]: { value: rep.cpuSeconds },
    [`${name}: replicator peak RSS (MiB)`]: { value: rep.peakRssMiB },
    [`${name}: replica caught up after burst (ms)`]: { value: replica.catchUpMs },
    [`${name}: replica size (MiB)`]: { value: `${replica.mib} in ${replica.l0Files} L0 files` },
    [`${name}: restore (s)`]: { value: rs.seconds },
    [`${name}: restore MB/s`]: { value: `${rs.mbPerSec} (${rs.dbMiB} MiB db, ${rs.rows} rows)` },
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-replicate-'));
  let s3: S3TestServer | undefined;
  let s3Client: S3ReplicaClient | undefined;
  try {
    const replicaDir = join(dir, 'replica');
    const file = await burstRun(dir, { name: 'file', replica: replicaDir, client: new FileReplicaClient(replicaDir), watch: dirWatch(replicaDir), pollMs: POLL_MS });

    s3 = await startS3Server([S3_BUCKET]);
    s3Client = testS3Client(s3.endpoint, S3_BUCKET, 'burst');
    const s3Run = await burstRun(dir, {
      name: 's3',
      replica: `s3://${S3_BUCKET}/burst?endpoint=${s3.endpoint}`,
      client: s3Client,
      watch: clientWatch(s3Client),
      // Each look is a listing plus ranged reads of new headers on the same server the replicator uploads to.
      pollMs: POLL_MS * 5,
    });
    const s3Idle = await idleRun(dir, s3);

    const results = {
      benchmark: 'replicate',
      machine: machineInfo(),
      config: { burstMs: BURST_MS, rowBytes: PAYLOAD_BYTES + 16 + 8, syncIntervalMs: SYNC_INTERVAL_MS, journal: 'WAL', synchronous: 'NORMAL', replica: 'file' },
      ...file,
      s3: { server: 's3rver 3.7 on loopback, in a process of its own; path-style, plain HTTP', ...s3Run },
      s3Idle,
    };
    console.table({
      ...summary('file', file),
      ...summary('s3', s3Run),
      [`s3 idle ${IDLE_WINDOW_MS / 1000} s: requests`]: { value: JSON.stringify(s3Idle['requests']) },
    });
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'replicate.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results: ${join(resultsDir, 'replicate.json')}`);
  } finally {
    s3Client?.destroy();
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
