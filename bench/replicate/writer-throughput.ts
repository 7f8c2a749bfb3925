/**
 * The replicator's effect on the application's throughput: the same burst on
 * a fresh database with no replicator at all, to set against the bursts made
 * next to the replicator. Runs alternate (without, with, with, without), so
 * that a drift over the benchmark's run falls on both sides alike.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, round } from './stats.js';
import { openDb, writeBurst, writerFigures } from './write-burst.js';

/** Bursts with no replicator; as many are made next to it. */
export const THROUGHPUT_RUNS = 2;

export interface UnreplicatedBurst {
  writer: Record<string, unknown>;
  txPerSec: number;
}

/** One burst on a fresh database `name`.db in `dir`, nothing replicating it. */
export function unreplicatedBurst(dir: string, name: string): UnreplicatedBurst {
  const dbPath = join(dir, `${name}.db`);
  const db = openDb(dbPath);
  try {
    const writer = writerFigures(writeBurst(db));
    return { writer, txPerSec: writer['txPerSec'] as number };
  } finally {
    db.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbPath}${suffix}`, { force: true });
  }
}

export interface Throughput {
  runs: number;
  /** tx/s of each burst, in the order run. */
  txPerSec: number[];
  medianTxPerSec: number | null;
}

export function throughput(txPerSec: number[]): Throughput {
  const m = median(txPerSec);
  return { runs: txPerSec.length, txPerSec, medianTxPerSec: m === null ? null : Math.round(m) };
}

/** Median tx/s next to the replicator over median tx/s without it. */
export function throughputRatio(withReplicator: Throughput, without: Throughput): number | null {
  const w = withReplicator.medianTxPerSec;
  const wo = without.medianTxPerSec;
  return w === null || wo === null || wo === 0 ? null : round(w / wo, 3);
}
