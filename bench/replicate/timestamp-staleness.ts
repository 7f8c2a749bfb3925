/**
 * Freshness, part 2: how stale a point-in-time restore is. For timestamps
 * spread over the burst, the replica is restored as of each
 * (`restore({ timestamp })`: the files created strictly before it) and the
 * newest row's commit time is read back; staleness = timestamp − max(at).
 * A row committed after the timestamp (max(at) > timestamp) must never come
 * back: that would be a restore fresher than the moment asked for, and is
 * reported as an error.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { restore } from '../../src/restore/restore.js';
import { seededRandom } from '../../src/seeded-random.js';
import type { ReplicaClient } from '../../src/storage/replica-client.js';
import { round, spread, type Spread } from './stats.js';

/** Timestamps restored per burst. */
export const STALENESS_SAMPLES = 20;
/** Seed of the timestamps' offsets into the burst, so every run picks the same ones. */
export const STALENESS_SEED = 0x5ea1e55;
/** The burst's first second is left out: the replica's first file of the burst is at most one sync interval in. */
export const STALENESS_SKIP_MS = 1000;

export interface StalenessSample {
  /** The timestamp restored, as ms after the burst began. */
  offsetMs: number;
  /** timestamp − the newest restored row's commit time (ms); null if the restore failed. */
  stalenessMs: number | null;
  rows: number | null;
}

export interface Staleness {
  samples: number;
  seed: number;
  skipMs: number;
  stalenessMs: Spread;
  /** Restores that held none of the burst's rows; their staleness is counted from the start of the burst. */
  emptyRestores: number;
  /** Restores that failed, or that held a row committed after their timestamp (a bug). */
  errors: { offsetMs: number; error: string }[];
  restoreSecondsTotal: number;
  each: StalenessSample[];
}

/**
 * One timestamp in each of STALENESS_SAMPLES equal slices of the burst after
 * its first STALENESS_SKIP_MS, at a seeded random place in its slice.
 */
export function stalenessOffsets(burstMs: number): number[] {
  const rand = seededRandom(STALENESS_SEED);
  const width = (burstMs - STALENESS_SKIP_MS) / STALENESS_SAMPLES;
  return Array.from({ length: STALENESS_SAMPLES }, (_, i) => Math.floor(STALENESS_SKIP_MS + width * (i + rand())));
}

/** Restores `client`'s replica as of timestamps within [startMs, endMs] into `workDir`, one at a time. */
export async function timestampStaleness(client: ReplicaClient, workDir: string, window: { startMs: number; endMs: number }): Promise<Staleness> {
  const each: StalenessSample[] = [];
  const errors: Staleness['errors'] = [];
  let emptyRestores = 0;
  let restoreMs = 0;
  for (const [i, offsetMs] of stalenessOffsets(window.endMs - window.startMs).entries()) {
    const t = window.startMs + offsetMs;
    const outputPath = join(workDir, `staleness-${i}.db`);
    try {
      const t0 = performance.now();
      await restore({ client, outputPath, timestamp: new Date(t) });
      restoreMs += performance.now() - t0;
      const db = new Database(outputPath, { readonly: true });
      const row = db.prepare('SELECT max(at) AS newest, count(*) AS n FROM events').get() as { newest: number | null; n: number };
      db.close();
      if (row.newest === null) emptyRestores++;
      const newest = row.newest ?? window.startMs;
      if (newest > t) errors.push({ offsetMs, error: `restored a row committed at ${newest}, ${newest - t} ms after the timestamp asked for (${t})` });
      each.push({ offsetMs, stalenessMs: t - newest, rows: row.n });
    } catch (err) {
      errors.push({ offsetMs, error: (err as Error).message });
      each.push({ offsetMs, stalenessMs: null, rows: null });
    } finally {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${outputPath}${suffix}`, { force: true });
    }
  }
  return {
    samples: STALENESS_SAMPLES,
    seed: STALENESS_SEED,
    skipMs: STALENESS_SKIP_MS,
    stalenessMs: spread(each.flatMap((s) => (s.stalenessMs === null ? [] : [s.stalenessMs])), 0),
    emptyRestores,
    errors,
    restoreSecondsTotal: round(restoreMs / 1000, 2),
    each,
  };
}
