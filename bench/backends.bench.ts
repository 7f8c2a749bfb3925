/**
 * Every replica backend against its loopback server (the same servers the
 * tests start): upload throughput (one full-image LTX file streamed with
 * writeLtxFile), restore throughput (restore() of that file into a
 * database), and what an idle database costs each backend over a window:
 * the replica calls made and the bytes that crossed a TCP proxy in front of
 * the server. Results: bench/results/backends.json.
 *
 * BENCH_BACKEND_MB (default 64) sets the database size, BENCH_IDLE_WINDOW_MS
 * (default 60000; 0 skips it) the idle window, BENCH_BACKENDS a comma-separated subset.
 */
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DbReplicator } from '../src/replication/db-replicator.js';
import { restore } from '../src/restore/restore.js';
import { FaultInjectingClient } from '../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../src/storage/file-replica-client.js';
import type { ReplicaClient } from '../src/storage/replica-client.js';
import { Store } from '../src/store/store.js';
import { TcpFaultProxy } from '../test/storage/sftp/tcp-fault-proxy.js';
import { BENCH_BACKENDS, type RunningBackend } from './backends/registry.js';
import { machineInfo } from './machine.js';

const DB_MB = Number(process.env['BENCH_BACKEND_MB'] ?? 64);
const IDLE_WINDOW_MS = Number(process.env['BENCH_IDLE_WINDOW_MS'] ?? 60_000);
const ONLY = process.env['BENCH_BACKENDS']?.split(',');
/** Each throughput figure is the median of this many runs. */
const REPETITIONS = 3;
/**
 * Before the idle window: the first sync and upload, the time-based
 * checkpoint a minute after the last write (which adds one L0 file), and the
 * next L1 compaction boundary (30 s, wall-clock aligned) plus time to finish.
 */
const CHECKPOINT_AFTER_WRITES_MS = 65_000;
const L1_INTERVAL_MS = 30_000;
const SETTLE_AFTER_BOUNDARY_MS = 5000;
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function destroy(c: ReplicaClient): void {
  (c as { destroy?: () => void }).destroy?.();
}

/** A database of about DB_MB MiB of incompressible rows, and its full image as one local LTX file. */
async function makeImage(dir: string): Promise<{ ltxPath: string; ltxBytes: number; dbBytes: number }> {
  const dbPath = join(dir, 'source.db');
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)');
  const ins = db.prepare('INSERT INTO t (b) VALUES (randomblob(4000))');
  const rows = Math.ceil((DB_MB * 1024 * 1024) / 4100);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run();
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const replicaRoot = join(dir, 'image');
  const rep = await DbReplicator.open({ dbPath, client: new FileReplicaClient(replicaRoot), validationIntervalMs: 0 });
  try {
    await rep.syncAndWait({ timeoutMs: 600_000 });
  } finally {
    await rep.close();
  }
  const ltxPath = join(replicaRoot, 'ltx', '0', '0000000000000001-0000000000000001.ltx');
  return { ltxPath, ltxBytes: statSync(ltxPath).size, dbBytes: statSync(dbPath).size };
}

async function throughput(b: RunningBackend, name: string, image: { ltxPath: string; ltxBytes: number; dbBytes: number }, dir: string) {
  const upload: number[] = [];
  const restoreMBps: number[] = [];
  for (let i = 0; i < REPETITIONS; i++) {
    const client = await b.client(`throughput-${i}`);
    try {
      await client.init();
      const t0 = performance.now();
      await client.writeLtxFile(0, 1n, 1n, createReadStream(image.ltxPath, { highWaterMark: 1024 * 1024 }));
      upload.push(image.ltxBytes / 2 ** 20 / ((performance.now() - t0) / 1000));
      const out = join(dir, `${name}-restored-${i}.db`);
      const t1 = performance.now();
      await restore({ client, outputPath: out });
      restoreMBps.push(image.dbBytes / 2 ** 20 / ((performance.now() - t1) / 1000));
      rmSync(out, { force: true });
    } finally {
      destroy(client);
    }
  }
  return {
    uploadMiBps: Number(median(upload).toFixed(1)),
    restoreMiBps: Number(median(restoreMBps).toFixed(1)),
    uploadRuns: upload.map((x) => Number(x.toFixed(1))),
    restoreRuns: restoreMBps.map((x) => Number(x.toFixed(1))),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-backends-'));
  const backends = BENCH_BACKENDS.filter((b) => ONLY === undefined || ONLY.includes(b.name));
  const running: Running[] = [];
  try {
    console.error(`making a ${DB_MB} MiB database and its full image…`);
    const image = await makeImage(dir);
    const results: Record<string, unknown>[] = [];
    for (const backend of backends) {
      console.error(`${backend.name}: starting ${backend.server}…`);
      const b = await backend.start(dir);
      const proxy = b.port === undefined ? undefined : await TcpFaultProxy.start(b.port);
      running.push({ name: backend.name, server: backend.server, b, proxy });
      const t = await throughput(b, backend.name, image, dir);
      console.error(`${backend.name}: upload ${t.uploadMiBps} MiB/s, restore ${t.restoreMiBps} MiB/s`);
      results.push({ backend: backend.name, server: backend.server, ...t });
    }

    if (IDLE_WINDOW_MS > 0) await measureIdle(dir, running, results);
    const out = { machine: machineInfo(), databaseMiB: Number((image.dbBytes / 2 ** 20).toFixed(1)), ltxFileMiB: Number((image.ltxBytes / 2 ** 20).toFixed(1)), repetitions: REPETITIONS, results };
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'backends.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(JSON.stringify(out, null, 2));
  } finally {
    for (const r of running) {
      await r.proxy?.close();
      await r.b.stop().catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Running {
  name: string;
  server: string;
  b: RunningBackend;
  proxy: TcpFaultProxy | undefined;
}

/** One database per backend in one store, reached through the proxies, left alone for the window (BENCH_IDLE_WINDOW_MS=0 skips it). */
async function measureIdle(dir: string, running: readonly Running[], results: Record<string, unknown>[]): Promise<void> {
  const specs = [];
  for (const r of running) {
    const path = join(dir, `idle-${r.name}.db`);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    db.prepare('INSERT INTO t (v) VALUES (?)').run('x'.repeat(1000));
    db.close();
    const client = new FaultInjectingClient(await r.b.client('idle', r.proxy?.port));
    specs.push({ r, path, client });
  }
  console.error(`idle: settling, then a ${IDLE_WINDOW_MS / 1000} s window…`);
  const store = await Store.open(specs.map((s) => ({ path: s.path, client: s.client })));
  try {
    await new Promise((res) => setTimeout(res, CHECKPOINT_AFTER_WRITES_MS));
    await new Promise((res) => setTimeout(res, L1_INTERVAL_MS - (Date.now() % L1_INTERVAL_MS) + SETTLE_AFTER_BOUNDARY_MS));
    for (const s of specs) {
      s.client.resetCalls();
      s.r.proxy?.resetCounts();
    }
    const t0 = performance.now();
    await new Promise((res) => setTimeout(res, IDLE_WINDOW_MS));
    const windowMs = Math.round(performance.now() - t0);
    for (const s of specs) {
      const calls = Object.values(s.client.calls).reduce((a, n) => a + n, 0);
      const row = results.find((x) => x['backend'] === s.r.name)!;
      row['idle'] = {
        windowMs,
        replicaCalls: calls,
        ...(s.r.proxy === undefined
          ? {}
          : { connections: s.r.proxy.connections, bytesToServer: s.r.proxy.bytesUp, bytesFromServer: s.r.proxy.bytesDown }),
      };
    }
  } finally {
    await store.close();
  }
}

await main();
