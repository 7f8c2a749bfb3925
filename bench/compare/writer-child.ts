/**
 * The application of the comparison: a process of its own that commits one
 * small row per transaction (WAL, synchronous=NORMAL, a table with an index,
 * default autocheckpoint) while a replicator runs next to it.
 *
 * Usage: node --import tsx writer-child.ts <dbPath> <burst|steady>
 * Prints one JSON line (WriterReport) when done.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { walEnd } from '../replicate/wal-end.js';
import { WORKLOADS, type WriterReport } from './workloads.js';

/** Payload bytes per row; with the key and timestamp a row is about 100 bytes. */
const PAYLOAD_BYTES = 72;
/** Random bytes the payloads are sliced from, so generating rows costs next to nothing. */
const PAYLOAD_POOL_BYTES = 1024 * 1024;
/** Commit latencies kept at most (8 bytes each). */
const MAX_LATENCY_SAMPLES = 4_000_000;
/** Replicators take the write lock for checkpoints; the application waits for it as real ones do. */
const BUSY_TIMEOUT_MS = 5000;

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

async function main(): Promise<void> {
  const [dbPath, workloadName] = process.argv.slice(2);
  const workload = WORKLOADS.find((w) => w.name === workloadName);
  if (dbPath === undefined || workload === undefined) throw new Error('usage: writer-child.ts <dbPath> <burst|steady>');
  const db = new Database(dbPath, { timeout: BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare('INSERT INTO events (key, at, payload) VALUES (?, ?, ?)');
  const pool = randomBytes(PAYLOAD_POOL_BYTES);
  const latencies = new Float64Array(MAX_LATENCY_SAMPLES);
  const intervalMs = workload.txPerSec === null ? 0 : 1000 / workload.txPerSec;
  // Keys spread over the whole index, as ids or hashes would, so each commit touches an index page somewhere.
  let seed = 0x2545f491;
  let txs = 0;
  let lastId = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + workload.durationMs;
  let now = start;
  while (now < end) {
    if (intervalMs > 0) {
      // Paced against the start, so a slow commit is caught up rather than shifting every later one.
      const due = start + txs * intervalMs;
      if (due >= end) break;
      if (due > now) await sleep(due - now);
    }
    const before = performance.now();
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const at = (seed >>> 8) % (PAYLOAD_POOL_BYTES - PAYLOAD_BYTES);
    // Not in an explicit transaction, so every run() is its own committed transaction.
    const r = insert.run(seed.toString(16).padStart(8, '0') + txs.toString(16).padStart(8, '0'), Date.now(), pool.subarray(at, at + PAYLOAD_BYTES));
    lastId = Number(r.lastInsertRowid);
    now = performance.now();
    if (txs < MAX_LATENCY_SAMPLES) latencies[txs] = now - before;
    txs++;
  }
  const seconds = (now - start) / 1000;
  const wal = walEnd(`${dbPath}-wal`);
  const walBytes = statSync(`${dbPath}-wal`).size;
  const cpu = process.cpuUsage(cpu0);
  db.close();
  const sorted = latencies.subarray(0, Math.min(txs, MAX_LATENCY_SAMPLES)).sort();
  const report: WriterReport = {
    transactions: txs,
    seconds: round(seconds, 3),
    txPerSec: Math.round(txs / seconds),
    commitLatencyMs: {
      p50: round(percentile(sorted, 0.5), 4),
      p99: round(percentile(sorted, 0.99), 4),
      p999: round(percentile(sorted, 0.999), 4),
      max: round(percentile(sorted, 1), 3),
    },
    lastCommitAt: performance.timeOrigin + now,
    lastId,
    walEnd: wal,
    walBytes,
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 3),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
