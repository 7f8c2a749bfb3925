/** The write workloads of the tidemark / Litestream comparison, and what the writer reports. */
import type { WalEnd } from '../replicate/wal-end.js';

export interface Workload {
  name: 'burst' | 'steady';
  durationMs: number;
  /** Commits per second to hold; null commits as fast as better-sqlite3 can. */
  txPerSec: number | null;
  description: string;
}

export const BURST: Workload = {
  name: 'burst',
  durationMs: 10_000,
  txPerSec: null,
  description: '10 s of one-row transactions as fast as better-sqlite3 commits them',
};

export const STEADY: Workload = {
  name: 'steady',
  durationMs: 30_000,
  txPerSec: 100,
  description: '100 one-row transactions per second for 30 s',
};

export const WORKLOADS: readonly Workload[] = [BURST, STEADY];

export const SCHEMA = `CREATE TABLE events (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE INDEX events_key ON events(key);`;

/** Printed by the writer child as one JSON line when its workload is done. */
export interface WriterReport {
  transactions: number;
  seconds: number;
  txPerSec: number;
  commitLatencyMs: { p50: number; p99: number; p999: number; max: number };
  /** When the last commit returned: performance.timeOrigin + performance.now(), ms. */
  lastCommitAt: number;
  /** rowid of the last row written: the restored database must end with it. */
  lastId: number;
  /** Where the WAL's committed part ended right after the last commit. */
  walEnd: WalEnd;
  /** The WAL file's size then, bytes: how far it grew without being restarted. */
  walBytes: number;
  /** The writer's own CPU, seconds. */
  cpuSeconds: number;
}
