/**
 * The application's write burst: for BURST_MS, one-row transactions as fast
 * as better-sqlite3 commits them (WAL, synchronous=NORMAL, ~100-byte rows into
 * a table with an index). Every row carries its commit time in `at`
 * (Date.now() just before the statement that commits it, in ms), which the
 * freshness figures compare restored databases against.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { percentile, round } from './stats.js';

export const BURST_MS = 10_000;
/** Payload bytes per row; with the key and timestamp a row is about 100 bytes. */
export const PAYLOAD_BYTES = 72;
/** Random bytes the payloads are sliced from, so generating rows costs next to nothing. */
const PAYLOAD_POOL_BYTES = 1024 * 1024;
/** Commit latencies are kept for this many transactions at most (8 bytes each). */
const MAX_LATENCY_SAMPLES = 4_000_000;
/** Seed of the keys' pseudo-random sequence: every burst inserts the same keys in the same order. */
const KEY_SEED = 0x2545f491;

export const EVENTS_SCHEMA = `CREATE TABLE events (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE INDEX events_key ON events(key);`;

export const INSERT_EVENT = 'INSERT INTO events (key, at, payload) VALUES (?, ?, ?)';

/** A fresh database with the application's settings and schema. */
export function openDb(dbPath: string): Database.Database {
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(EVENTS_SCHEMA);
  return db;
}

export interface Burst {
  txs: number;
  seconds: number;
  /** Per-commit latencies (ms), ascending. */
  latencies: Float64Array;
  /** Wall clock (Date.now()) when the burst began and when its last commit returned. */
  startedAtMs: number;
  endedAtMs: number;
}

/** Commits one-row transactions for `burstMs`. */
export function writeBurst(db: Database.Database, burstMs = BURST_MS): Burst {
  const insert = db.prepare(INSERT_EVENT);
  const pool = randomBytes(PAYLOAD_POOL_BYTES);
  const latencies = new Float64Array(MAX_LATENCY_SAMPLES);
  // Keys spread over the whole index, as ids or hashes would, so each commit touches an index page somewhere.
  let seed = KEY_SEED;
  let txs = 0;
  const startedAtMs = Date.now();
  const start = performance.now();
  const end = start + burstMs;
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
  const endedAtMs = Date.now();
  return { txs, seconds: (now - start) / 1000, latencies: latencies.subarray(0, Math.min(txs, MAX_LATENCY_SAMPLES)).sort(), startedAtMs, endedAtMs };
}

/** The writer's figures as replicate.json has always reported them. */
export function writerFigures(burst: Burst): Record<string, unknown> {
  return {
    transactions: burst.txs,
    seconds: round(burst.seconds, 3),
    txPerSec: Math.round(burst.txs / burst.seconds),
    commitLatencyMs: {
      p50: round(percentile(burst.latencies, 0.5), 4),
      p99: round(percentile(burst.latencies, 0.99), 4),
      p999: round(percentile(burst.latencies, 0.999), 4),
      max: round(percentile(burst.latencies, 1), 3),
    },
  };
}
