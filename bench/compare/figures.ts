/**
 * The comparison's figures: medians per tool over the rounds, the ratios
 * tidemark / Litestream, the targets, and the shape of
 * bench/results/compare-litestream.json that bench/summary.ts reads.
 */
import type { DiskLimits } from '../machine.js';
import type { RunResult } from './run-once.js';
import { median, ratio, round } from './stats.js';
import type { ToolName } from './tools.js';
import type { Workload } from './workloads.js';

/** Targets tidemark is held to against Litestream. */
export const TARGETS = {
  /** Replicator CPU, tidemark / Litestream, at most. */
  cpuRatioMax: 1,
  /** Restore speed, tidemark / Litestream, at least. */
  restoreSpeedupMin: 2,
  /** Catch-up time, tidemark / Litestream, at most. */
  catchUpRatioMax: 1,
};

export interface WorkloadSummary {
  description: string;
  /** The writer with no replicator; only the burst has one. */
  baseline: { runs: number; writerTxPerSec: number; writerP99Ms: number; walMaxMiB: number } | null;
  tidemark: ToolFigures;
  litestream: ToolFigures;
  /** tidemark / Litestream for each figure; null when Litestream's is 0. */
  ratios: Record<RatioKey, number | null>;
  meetsTargets: { cpu: boolean; restore: boolean; catchUp: boolean };
}

export const RATIO_KEYS = ['writerTxPerSec', 'cpuSeconds', 'cpuAfterStartupSeconds', 'cpuMsPerKTx', 'peakRssMiB', 'catchUpMs', 'replicaMiB', 'restoreSeconds', 'restoreMBps'] as const;
export type RatioKey = (typeof RATIO_KEYS)[number];

export interface CompareResults {
  benchmark: 'compare-litestream';
  machine: Record<string, unknown>;
  disk: DiskLimits;
  versions: { tidemark: string; litestream: string };
  /** The CLI measured and the commit it was built from; srcChanged: the checkout's src/ differed from that commit. */
  tidemarkSource: { cli: string; commit: string; srcChanged: boolean };
  method: Record<string, string>;
  config: { rounds: number; workloads: { name: string; durationMs: number; txPerSec: number | null }[]; replica: string };
  startupSeconds: { tidemark: number; litestream: number };
  targets: typeof TARGETS;
  load: { loadAverage1mBefore: number; loadAverage1mAfter: number; otherShareMedian: number; otherShareMax: number };
  workloads: Record<string, WorkloadSummary>;
  runs: RunResult[];
}

export interface ToolFigures {
  runs: number;
  writerTxPerSec: number;
  writerP99Ms: number;
  writerMaxMs: number;
  walMaxMiB: number;
  walRestarts: number;
  /** Share of samples in which the replicator's read transaction held WAL read mark 0. */
  readMark0Share: number;
  cpuSeconds: number;
  /** Replicator CPU after its first sync of the empty database, i.e. without process start-up. */
  cpuAfterStartupSeconds: number;
  /** Replicator CPU per 1000 committed transactions: the burst commits a different number under each tool. */
  cpuMsPerKTx: number;
  peakRssMiB: number;
  catchUpMs: number;
  replicaMiB: number;
  restoreSeconds: number;
  restoreMBps: number;
  restoredDbMiB: number;
}

export function figures(runs: RunResult[]): ToolFigures {
  const m = (f: (r: RunResult) => number): number => median(runs.map(f));
  const rep = (r: RunResult): NonNullable<RunResult['replicator']> => r.replicator!;
  const res = (r: RunResult): NonNullable<RunResult['restore']> => r.restore!;
  return {
    runs: runs.length,
    writerTxPerSec: Math.round(m((r) => r.writer.txPerSec)),
    writerP99Ms: round(m((r) => r.writer.commitLatencyMs.p99), 3),
    writerMaxMs: round(m((r) => r.writer.commitLatencyMs.max), 1),
    walMaxMiB: round(m((r) => r.wal.maxMiB), 1),
    walRestarts: m((r) => r.wal.restarts),
    readMark0Share: round(m((r) => r.wal.replicatorReadMark0Share ?? 0), 3),
    cpuSeconds: round(m((r) => rep(r).cpuSeconds), 3),
    cpuAfterStartupSeconds: round(m((r) => rep(r).cpuSeconds - rep(r).startupCpuSeconds), 3),
    cpuMsPerKTx: round(m((r) => (rep(r).cpuSeconds * 1e6) / r.writer.transactions), 1),
    peakRssMiB: round(m((r) => rep(r).peakRssMiB), 1),
    catchUpMs: Math.round(m((r) => rep(r).catchUpMs)),
    replicaMiB: round(m((r) => rep(r).replicaMiB), 2),
    restoreSeconds: round(m((r) => res(r).seconds), 3),
    restoreMBps: round(m((r) => res(r).mbPerSec), 1),
    restoredDbMiB: round(m((r) => res(r).dbMiB), 2),
  };
}

export function summarize(workload: Workload, runs: RunResult[]): WorkloadSummary {
  const of = (tool: ToolName | 'none'): RunResult[] => runs.filter((r) => r.workload === workload.name && r.tool === tool);
  const t = figures(of('tidemark'));
  const l = figures(of('litestream'));
  const baseline = of('none');
  const ratios: Record<RatioKey, number | null> = {
    writerTxPerSec: ratio(t.writerTxPerSec, l.writerTxPerSec),
    cpuSeconds: ratio(t.cpuSeconds, l.cpuSeconds),
    cpuAfterStartupSeconds: ratio(t.cpuAfterStartupSeconds, l.cpuAfterStartupSeconds),
    cpuMsPerKTx: ratio(t.cpuMsPerKTx, l.cpuMsPerKTx),
    peakRssMiB: ratio(t.peakRssMiB, l.peakRssMiB),
    catchUpMs: ratio(t.catchUpMs, l.catchUpMs),
    replicaMiB: ratio(t.replicaMiB, l.replicaMiB),
    restoreSeconds: ratio(t.restoreSeconds, l.restoreSeconds),
    restoreMBps: ratio(t.restoreMBps, l.restoreMBps),
  };
  return {
    description: workload.description,
    baseline:
      baseline.length === 0
        ? null
        : {
            runs: baseline.length,
            writerTxPerSec: Math.round(median(baseline.map((r) => r.writer.txPerSec))),
            writerP99Ms: round(median(baseline.map((r) => r.writer.commitLatencyMs.p99)), 3),
            walMaxMiB: round(median(baseline.map((r) => r.wal.maxMiB)), 1),
          },
    tidemark: t,
    litestream: l,
    ratios,
    meetsTargets: {
      cpu: ratios.cpuSeconds !== null && ratios.cpuSeconds <= TARGETS.cpuRatioMax,
      restore: ratios.restoreMBps !== null && ratios.restoreMBps >= TARGETS.restoreSpeedupMin,
      catchUp: ratios.catchUpMs !== null && ratios.catchUpMs <= TARGETS.catchUpRatioMax,
    },
  };
}

