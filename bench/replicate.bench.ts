/**
 * Replication under a sustained write burst (npm run bench:replicate).
 *
 * This process is the application: for BURST_MS it commits small
 * transactions as fast as better-sqlite3 can (WAL, synchronous=NORMAL, one
 * ~100-byte row per transaction into a table with an index; see
 * bench/replicate/write-burst.ts), while tidemark replicates the database
 * from a child process (bench/replicate/replicator-child.ts) with the default
 * 1 s sync interval. The burst runs to a directory replica, then to an S3
 * replica on s3rver on loopback (in a process of its own). Measured for each:
 * - transactions committed and tx/s, with commit latency percentiles;
 * - the replicator's CPU seconds (user + sys) and peak RSS;
 * - how long after the burst the replica holds the last transaction;
 * - the replica's size;
 * - restore wall time and MB/s, checking the restored row count;
 * - freshness: the gaps between the L0 files uploaded during the burst, and
 *   how stale restores to timestamps within the burst are
 *   (bench/replicate/l0-gaps.ts, timestamp-staleness.ts).
 * For the directory replica, also:
 * - the same burst with no replicator, alternating with bursts next to it,
 *   for the replicator's cost in application throughput (writer-throughput.ts);
 * - a second application's deferred read-then-write transactions failing with
 *   SQLITE_BUSY next to the burst and the replicator, with controls
 *   (deferred-writer.ts);
 * - how long after an application's last commit, once it has exited, the
 *   replica holds it (exit-to-replica.ts).
 * Then, for S3, the requests an idle replicator makes in IDLE_WINDOW_MS
 * (counted by a proxy in front of s3rver): there should be none.
 * Results: bench/results/replicate.json (the directory run at the top level
 * with the figures above under `freshness`, `throughputWithout`,
 * `throughputWith`, `deferredWriter` and `exitToReplicaMs`; the S3 run under
 * `s3`, the idle count under `s3Idle`; anything that went wrong in the new
 * measurements under `errors`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import type { LtxHeader } from '../src/ltx/header.js';
import { restore } from '../src/restore/restore.js';
import { FileReplicaClient } from '../src/storage/file-replica-client.js';
import type { ReplicaClient } from '../src/storage/replica-client.js';
import { S3ReplicaClient } from '../src/storage/s3/s3-replica-client.js';
import { FaultProxy } from '../test/storage/s3/fault-proxy.js';
import { testS3Client } from '../test/storage/s3/helpers.js';
import { startS3Server, type S3TestServer } from '../test/storage/s3/s3-server.js';
import { killIfRunning, type Child } from './replicate/child-process.js';
import { ClientReplicaWatch, replicaBytes } from './replicate/client-replica-watch.js';
import { DEFERRED_BUSY_TIMEOUT_MS, DEFERRED_PAUSE_MS, deferredAloneWithReplicator, deferredWithBurst, type DeferredRun } from './replicate/deferred-writer.js';
import { exitToReplica, type ExitToReplica } from './replicate/exit-to-replica.js';
import { l0Gaps, type L0Gaps } from './replicate/l0-gaps.js';
import { ReplicaWatch, dirBytes } from './replicate/replica-watch.js';
import { startReplicator, stopReplicator } from './replicate/replicator-process.js';
import { round } from './replicate/stats.js';
import { timestampStaleness, type Staleness } from './replicate/timestamp-staleness.js';
import { walEnd, type WalEnd } from './replicate/wal-end.js';
import { BURST_MS, PAYLOAD_BYTES, INSERT_EVENT, openDb, writeBurst, writerFigures } from './replicate/write-burst.js';
import { THROUGHPUT_RUNS, throughput, throughputRatio, unreplicatedBurst } from './replicate/writer-throughput.js';
import { machineInfo } from './machine.js';

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
const MIB = 1024 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');

/** Tells when a replica has caught up, and how much it holds. */
interface Watch {
  covers(end: WalEnd): Promise<boolean>;
  /** The replica's L0 headers in TXID order. */
  l0Headers(): Promise<LtxHeader[]>;
  bytes(): Promise<number>;
}

interface Target {
  name: string;
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
    l0Headers: async () => w.l0Headers(),
    bytes: async () => dirBytes(replicaDir),
  };
}

function clientWatch(client: ReplicaClient): Watch {
  const w = new ClientReplicaWatch(client);
  return {
    covers: (end) => w.covers(end),
    l0Headers: () => w.l0Headers(),
    bytes: () => replicaBytes(client),
  };
}

/** A directory replica of its own for the run `name` in `dir`. */
function fileTarget(dir: string, name: string): Target {
  const replicaDir = join(dir, `replica-${name}`);
  return { name, replica: replicaDir, client: new FileReplicaClient(replicaDir), watch: dirWatch(replicaDir), pollMs: POLL_MS };
}

interface BurstOptions {
  /** Measure the L0 gaps and the staleness of timestamp restores (freshness). */
  freshness?: boolean;
}

interface BurstRun {
  /** The figures replicate.json has always held for a run: writer, replicator, replica, restore. */
  figures: Record<string, unknown>;
  txPerSec: number;
  freshness?: { l0Gap: L0Gaps; timestampRestore: Staleness };
}

/** One burst replicated to `target`, then a restore from it. */
async function burstRun(dir: string, target: Target, opts: BurstOptions = {}): Promise<BurstRun> {
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
    // Listed while the replicator still runs, seconds after the burst: nothing has had time to remove an L0 file.
    const headers = await watch.l0Headers();
    const l0Files = headers.length;
    const window = { startMs: burst.startedAtMs, endMs: burst.endedAtMs };

    const report = await stopReplicator(child);
    child = undefined;
    db.close();

    const t0 = performance.now();
    const restored = await restore({ client: target.client, outputPath: restoredPath });
    const restoreSeconds = (performance.now() - t0) / 1000;
    if (!restored.restored) throw new Error('restore skipped');
    const check = new Database(restoredPath, { readonly: true });
    const restoredRows = (check.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    const quickCheck = check.pragma('quick_check', { simple: true });
    check.close();
    if (restoredRows !== sourceRows) throw new Error(`${target.name}: restored ${restoredRows} rows, the source has ${sourceRows}`);
    if (quickCheck !== 'ok') throw new Error(`${target.name}: restored database fails quick_check: ${String(quickCheck)}`);

    let freshness: BurstRun['freshness'];
    if (opts.freshness === true) {
      console.log(`restoring ${target.name} as of timestamps within the burst ...`);
      const stalenessDir = join(dir, `staleness-${target.name}`);
      mkdirSync(stalenessDir, { recursive: true });
      freshness = { l0Gap: l0Gaps(headers, window, SYNC_INTERVAL_MS), timestampRestore: await timestampStaleness(target.client, stalenessDir, window) };
    }

    const usage = report.resourceUsage;
    const writer = writerFigures(burst);
    return {
      figures: {
        writer,
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
      },
      txPerSec: writer['txPerSec'] as number,
      ...(freshness === undefined ? {} : { freshness }),
    };
  } finally {
    // A run that failed part-way must not leave a replicator behind.
    killIfRunning(child);
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
    db.prepare(INSERT_EVENT).run('k', Date.now(), randomBytes(PAYLOAD_BYTES));
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
    killIfRunning(child);
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

const triple = (s: { p50: number | null; p99: number | null; max: number | null }): string => `${s.p50 ?? 'n/a'} / ${s.p99 ?? 'n/a'} / ${s.max ?? 'n/a'}`;

function freshnessSummary(name: string, f: NonNullable<BurstRun['freshness']>): Record<string, { value: unknown }> {
  const g = f.l0Gap;
  const t = f.timestampRestore;
  return {
    [`${name}: L0 gap in burst p50 / p99 / max (ms)`]: { value: `${triple(g.gapMs)} (${g.filesInWindow} files, sync ${g.syncIntervalMs} ms)` },
    [`${name}: timestamp restore staleness p50 / p99 / max (ms)`]: { value: `${triple(t.stalenessMs)} (${t.samples} restores, ${t.errors.length} errors)` },
  };
}

/** One line per deferred-writer run: busy failures of attempts. */
const busyLine = (r: DeferredRun): string => `${r.busy} of ${r.attempts} busy (${JSON.stringify(r.busyByCode)})${r.error === undefined ? '' : `; ${r.error}`}`;

/** Everything in the new measurements that went wrong, as plain sentences. */
function collectErrors(freshness: Record<string, BurstRun['freshness']>, exit: ExitToReplica, deferred: Record<string, DeferredRun>): string[] {
  const out: string[] = [];
  for (const [name, f] of Object.entries(freshness)) {
    if (f === undefined) continue;
    for (const e of f.timestampRestore.errors) out.push(`${name}: timestamp restore ${e.offsetMs} ms into the burst: ${e.error}`);
    if (!f.l0Gap.l0ChainComplete) out.push(`${name}: the replica's L0 files do not run from TXID 1 without a gap: some were missing when listed`);
  }
  for (const e of exit.failures) out.push(`exit-to-replica run ${e.run}: ${e.error}`);
  for (const [name, r] of Object.entries(deferred)) {
    if (r.error !== undefined) out.push(`deferred writer, ${name}: ${r.error}`);
    if (r.firstOtherError !== null) out.push(`deferred writer, ${name}: errors other than SQLITE_BUSY: ${JSON.stringify(r.otherErrors)}, first: ${r.firstOtherError}`);
  }
  return out;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-replicate-'));
  // Other work on the machine competes with the writer and the replicator: recorded, to read the figures by.
  const loadAverage1mBefore = round(loadavg()[0]!, 2);
  let s3: S3TestServer | undefined;
  let s3Client: S3ReplicaClient | undefined;
  try {
    // Throughput without and with the replicator, alternating in pairs (without, with, with, without, ...);
    // the first burst next to the replicator is the one every other figure of the directory replica comes from.
    const without: number[] = [];
    const withReplicator: number[] = [];
    let file: BurstRun | undefined;
    for (let pair = 0; pair < THROUGHPUT_RUNS; pair++) {
      for (const replicated of pair % 2 === 0 ? [false, true] : [true, false]) {
        if (!replicated) {
          console.log(`writing for ${BURST_MS / 1000} s with no replicator ...`);
          without.push(unreplicatedBurst(dir, `baseline-${without.length + 1}`).txPerSec);
        } else if (file === undefined) {
          file = await burstRun(dir, fileTarget(dir, 'file'), { freshness: true });
          withReplicator.push(file.txPerSec);
        } else {
          withReplicator.push((await burstRun(dir, fileTarget(dir, `file-${withReplicator.length + 1}`))).txPerSec);
        }
      }
    }
    if (file === undefined) throw new Error('THROUGHPUT_RUNS must be at least 1');
    const throughputWithout = throughput(without);
    const throughputWith = throughput(withReplicator);

    // Deferred read-then-write transactions of a second application: next to the burst and the
    // replicator, then the two controls (the burst alone, the replicator alone).
    console.log(`writing for ${BURST_MS / 1000} s with the deferred writer beside, replicated ...`);
    const deferredWithBoth = await deferredWithBurst(dir, 'deferred', { replicator: true });
    console.log(`writing for ${BURST_MS / 1000} s with the deferred writer beside, no replicator ...`);
    const deferredNoReplicator = await deferredWithBurst(dir, 'deferred-control', { replicator: false });
    console.log(`the deferred writer alone next to the replicator for ${BURST_MS / 1000} s ...`);
    const deferredAlone = await deferredAloneWithReplicator(dir, BURST_MS);
    const deferredRuns = { withBurstAndReplicator: deferredWithBoth, withBurstNoReplicator: deferredNoReplicator, aloneWithReplicator: deferredAlone };

    console.log('last commit of an application that exits: waiting for it on the replica ...');
    const exit = await exitToReplica(dir);

    s3 = await startS3Server([S3_BUCKET]);
    s3Client = testS3Client(s3.endpoint, S3_BUCKET, 'burst');
    const s3Run = await burstRun(
      dir,
      {
        name: 's3',
        replica: `s3://${S3_BUCKET}/burst?endpoint=${s3.endpoint}`,
        client: s3Client,
        watch: clientWatch(s3Client),
        // Each look is a listing plus ranged reads of new headers on the same server the replicator uploads to.
        pollMs: POLL_MS * 5,
      },
      { freshness: true },
    );
    const s3Idle = await idleRun(dir, s3);

    const errors = collectErrors({ file: file.freshness, s3: s3Run.freshness }, exit, deferredRuns);
    const results = {
      benchmark: 'replicate',
      machine: machineInfo(),
      load: { loadAverage1mBefore, loadAverage1mAfter: round(loadavg()[0]!, 2) },
      config: { burstMs: BURST_MS, rowBytes: PAYLOAD_BYTES + 16 + 8, syncIntervalMs: SYNC_INTERVAL_MS, journal: 'WAL', synchronous: 'NORMAL', replica: 'file' },
      ...file.figures,
      freshness: file.freshness,
      throughputWithout,
      throughputWith: {
        ...throughputWith,
        ratioToWithout: throughputRatio(throughputWith, throughputWithout),
        order: 'alternating in pairs: without, with, with, without, ...; the first run with the replicator is the burst above',
      },
      deferredWriter: {
        method:
          `a second process runs BEGIN (deferred); SELECT max(id); INSERT; COMMIT in a loop with busy_timeout ${DEFERRED_BUSY_TIMEOUT_MS}, ` +
          `${DEFERRED_PAUSE_MS} ms between transactions, for one burst; SQLite does not wait on a busy lock when a deferred transaction ` +
          'upgrades to writing, so failures come from whoever holds the write lock or committed meanwhile: the controls tell the burst writer\'s from the replicator\'s',
        pauseMs: DEFERRED_PAUSE_MS,
        busyTimeoutMs: DEFERRED_BUSY_TIMEOUT_MS,
        ...deferredRuns,
      },
      exitToReplicaMs: exit,
      errors,
      s3: { server: 's3rver 3.7 on loopback, in a process of its own; path-style, plain HTTP', ...s3Run.figures, freshness: s3Run.freshness },
      s3Idle,
    };
    console.table({
      ...summary('file', file.figures),
      ...freshnessSummary('file', file.freshness!),
      'file: tx/s without / with replicator (median)': {
        value: `${throughputWithout.medianTxPerSec} / ${throughputWith.medianTxPerSec} (x${results.throughputWith.ratioToWithout}; each ${without.join(', ')} / ${withReplicator.join(', ')})`,
      },
      'deferred writer: burst + replicator': { value: busyLine(deferredWithBoth) },
      'deferred writer: burst, no replicator': { value: busyLine(deferredNoReplicator) },
      'deferred writer: replicator only': { value: busyLine(deferredAlone) },
      'exit to replica (ms, median; each)': { value: `${exit.median ?? 'n/a'}; ${exit.each.map((x) => x ?? 'failed').join(', ')}` },
      ...summary('s3', s3Run.figures),
      ...freshnessSummary('s3', s3Run.freshness!),
      [`s3 idle ${IDLE_WINDOW_MS / 1000} s: requests`]: { value: JSON.stringify(s3Idle['requests']) },
      errors: { value: errors.length === 0 ? 'none' : errors.join('; ') },
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
