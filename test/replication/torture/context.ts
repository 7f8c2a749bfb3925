/** The state one torture run shares between its cycles and its checks: paths, the daemon, the model, counters, failures. */
import type { Daemon } from './daemon.js';
import type { ModelHistory } from './history.js';
import type { WorkloadConfig } from './schema.js';

export type FailureKind =
  /** An application transaction (or VACUUM) failed with SQLITE_BUSY: the replicator must never cause that. */
  | 'app-busy'
  /** Any other application error. */
  | 'app-error'
  /** A writer process died or never reported done (a harness problem, or SQLite's). */
  | 'writer-crash'
  /** The daemon exited without being told to. */
  | 'daemon-exit'
  /** SIGTERM did not end the daemon with exit code 0 in time. */
  | 'daemon-stop'
  /** The orderly catch-up did not bring the replica to rest. */
  | 'catch-up'
  /** The replica's layout: a gap or repeat in L0 TXIDs, a leftover .tmp file. */
  | 'replica-layout'
  /** A restore failed, or restored something that is not a state the application ever committed. */
  | 'replica-state'
  /** The source database does not match the model: the harness is wrong (or the source was damaged). */
  | 'source';

export interface Failure {
  readonly kind: FailureKind;
  /** The cycle it happened in (for a replica TXID: the cycle that wrote it). */
  readonly cycle: number;
  readonly message: string;
  readonly details: readonly string[];
  /** The daemon's stderr tail at the moment the failure was found. */
  readonly daemonTail: string;
}

export interface RunStats {
  cycles: number;
  commits: number;
  writers: number;
  shellWriters: number;
  perTransactionWriters: number;
  checkpoints: number;
  vacuums: number;
  daemonStarts: number;
  sigkills: number;
  sigterms: number;
  checks: number;
  /** L0 TXIDs restored with `txid` and compared with the model. */
  l0Checked: number;
  /** Restores run (per TXID and latest). */
  restores: number;
  /** L0 files that were replaced after they had been checked (checked again). */
  l0Rewritten: number;
  /** L0 files gone from the replica after they were checked (L0 retention). */
  l0Retired: number;
  /** Wall time spent in catch-ups and in checks. */
  catchUpMs: number;
  checkMs: number;
}

export function emptyStats(): RunStats {
  return {
    cycles: 0,
    commits: 0,
    writers: 0,
    shellWriters: 0,
    perTransactionWriters: 0,
    checkpoints: 0,
    vacuums: 0,
    daemonStarts: 0,
    sigkills: 0,
    sigterms: 0,
    checks: 0,
    l0Checked: 0,
    restores: 0,
    l0Rewritten: 0,
    l0Retired: 0,
    catchUpMs: 0,
    checkMs: 0,
  };
}

export interface RunContext {
  readonly seed: number;
  readonly cfg: WorkloadConfig;
  readonly dir: string;
  readonly dbPath: string;
  readonly replicaDir: string;
  /** Restores and source copies go here. */
  readonly scratchDir: string;
  /** The model snapshot writers start from. */
  readonly snapshotPath: string;
  readonly daemon: Daemon;
  readonly history: ModelHistory;
  readonly stats: RunStats;
  readonly failures: Failure[];
  /** Highest seq any writer reported committed. */
  maxCommittedSeq: number;
  /** The replica's newest L0 TXID at the end of each cycle, to tell which cycle wrote a TXID. */
  readonly cycleEndTxids: bigint[];
}

export function fail(ctx: RunContext, kind: FailureKind, cycle: number, message: string, details: readonly string[] = []): void {
  ctx.failures.push({ kind, cycle, message, details, daemonTail: ctx.daemon.tail() });
}

/** The cycle during which the replica got `txid` (the first whose end saw it), else the last one. */
export function cycleOfTxid(ctx: RunContext, txid: bigint): number {
  const i = ctx.cycleEndTxids.findIndex((t) => t >= txid);
  return i >= 0 ? i : ctx.cycleEndTxids.length - 1;
}
