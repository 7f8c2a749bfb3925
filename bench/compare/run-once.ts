/**
 * One measured run of the comparison: a fresh database, a replicator CLI
 * (or none, for the writer's baseline), the writer child with one workload,
 * then catch-up, shutdown, replica size and a restore with the tool's CLI.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { dirBytes } from '../replicate/replica-watch.js';
import { walEnd } from '../replicate/wal-end.js';
import { restoreAndCheck } from './cli-restore.js';
import { heldReadMarks, machineBusySeconds } from './proc-stats.js';
import { ReplicatorProcess, parseTimes, type ReplicatorUsage } from './replicator-process.js';
import { round } from './stats.js';
import type { Tool, ToolName } from './tools.js';
import { SCHEMA, type Workload, type WriterReport } from './workloads.js';

/** Replica polling period after the workload: fine against a 1 s sync interval, and the same for both tools. */
const POLL_MS = 10;
/** The replicator must have made its first sync of the empty database within this long. */
const INITIAL_SYNC_TIMEOUT_MS = 30_000;
/** Give up waiting for the replica after the workload after this long. */
const CATCH_UP_TIMEOUT_MS = 60_000;
/** How often the WAL's size and salts are read while the writer runs. */
const WAL_SAMPLE_MS = 50;
const WAL_HEADER_SIZE = 32;
const MIB = 1024 * 1024;

const writerScript = join(dirname(fileURLToPath(import.meta.url)), 'writer-child.ts');

export class RunError extends Error {
  override name = 'RunError';
}

export interface RunResult {
  tool: ToolName | 'none';
  workload: Workload['name'];
  round: number;
  writer: WriterReport;
  /**
   * The WAL while the writer ran: the largest size seen, how often a new WAL
   * began, and the share of samples in which the replicator's read
   * transaction held read mark 0 (a snapshot of the database file alone,
   * which no checkpoint may copy WAL frames past).
   */
  wal: { maxMiB: number; restarts: number; replicatorReadMark0Share: number | null };
  replicator?: {
    cpuSeconds: number;
    /** CPU used by the end of the first sync of the empty database: process start-up, mostly. */
    startupCpuSeconds: number;
    userCpuSeconds: number;
    systemCpuSeconds: number;
    peakRssMiB: number;
    /** Last commit to the first poll that found it in the replica. */
    catchUpMs: number;
    replicaBytes: number;
    replicaMiB: number;
  };
  restore?: { seconds: number; dbMiB: number; mbPerSec: number; rows: number };
  /**
   * CPU seconds the rest of the machine used while the replicator ran (all
   * busy time minus the replicator, the writer and this process), and that as
   * a share of the machine's capacity over the same time.
   */
  otherLoad: { cpuSeconds: number; share: number };
}

function createDatabase(dbPath: string): void {
  mkdirSync(dirname(dbPath), { recursive: true });
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  db.close();
}

/**
 * Watches the database while the writer runs: the WAL's peak size, new WAL
 * generations (by their salts), and which WAL read mark the replicator's
 * read transaction holds.
 */
class DbSampler {
  readonly #walPath: string;
  readonly #shmPath: string;
  readonly #replicatorPid: () => number | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #header = Buffer.alloc(WAL_HEADER_SIZE);
  #salts = '';
  maxBytes = 0;
  restarts = 0;
  markSamples = 0;
  mark0Samples = 0;

  constructor(dbPath: string, replicatorPid: () => number | undefined) {
    this.#walPath = `${dbPath}-wal`;
    this.#shmPath = `${dbPath}-shm`;
    this.#replicatorPid = replicatorPid;
    this.#timer = setInterval(() => this.sample(), WAL_SAMPLE_MS);
  }

  sample(): void {
    this.#sampleWal();
    const pid = this.#replicatorPid();
    if (pid === undefined) return;
    let inode: number;
    try {
      inode = statSync(this.#shmPath).ino;
    } catch {
      return;
    }
    const marks = heldReadMarks(pid, inode);
    if (marks.length === 0) return;
    this.markSamples++;
    if (marks.includes(0)) this.mark0Samples++;
  }

  #sampleWal(): void {
    let fd: number;
    try {
      fd = openSync(this.#walPath, 'r');
    } catch {
      return;
    }
    try {
      this.maxBytes = Math.max(this.maxBytes, fstatSync(fd).size);
      if (readSync(fd, this.#header, 0, WAL_HEADER_SIZE, 0) < WAL_HEADER_SIZE) return;
      const salts = this.#header.subarray(16, 24).toString('hex');
      if (this.#salts !== '' && salts !== this.#salts) this.restarts++;
      this.#salts = salts;
    } finally {
      closeSync(fd);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Runs the writer child to completion. Like the replicator it runs under bash
 * so that `times` gives its whole CPU (start-up and the TypeScript loader's
 * helper process included), which the machine-load figure subtracts.
 */
function runWriter(dbPath: string, workload: Workload): Promise<{ report: WriterReport; processCpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, '--import', 'tsx', writerScript, dbPath, workload.name];
    const child = spawn('bash', ['-c', '"$@"; code=$?; times; exit $code', 'bash', ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.once('error', (err) => reject(new RunError('could not start the writer', { cause: err })));
    child.once('close', (code) => {
      if (code !== 0) return reject(new RunError(`writer exited ${code}`));
      const lines = out.trim().split('\n');
      const [user, sys] = parseTimes(lines[lines.length - 1]!);
      resolve({ report: JSON.parse(lines[0]!) as WriterReport, processCpuSeconds: user + sys });
    });
  });
}

async function waitFor(what: string, timeoutMs: number, replicator: ReplicatorProcess, done: () => boolean): Promise<void> {
  const start = performance.now();
  while (!done()) {
    replicator.assertRunning();
    if (performance.now() - start > timeoutMs) throw new RunError(`${what} not reached within ${timeoutMs} ms:\n${replicator.logTail()}`);
    await sleep(POLL_MS);
  }
}

/** The initial sync is done once the replica holds the WAL as it is now. */
function replicaHoldsCurrentWal(walPath: string, covers: (end: ReturnType<typeof walEnd>) => boolean): boolean {
  if (!existsSync(walPath)) return false;
  try {
    return covers(walEnd(walPath));
  } catch {
    // The WAL may be empty or just being restarted; look again.
    return false;
  }
}

export async function runOnce(tool: Tool | null, workload: Workload, round_: number, dir: string): Promise<RunResult> {
  const runDir = join(dir, `${workload.name}-${tool?.name ?? 'none'}-${round_}`);
  const dbPath = join(runDir, 'app.db');
  const walPath = `${dbPath}-wal`;
  const replicaDir = join(runDir, 'replica');
  const restoredPath = join(runDir, 'restored.db');
  createDatabase(dbPath);

  const busy0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let replicator: ReplicatorProcess | undefined;
  try {
    let catchUpMs: number | undefined;
    let usage: ReplicatorUsage | undefined;
    let writer: WriterReport;
    let writerCpuSeconds: number;
    let startupCpuSeconds = 0;
    let wal: DbSampler;
    if (tool !== null) {
      replicator = ReplicatorProcess.start(tool.replicateArgv(dbPath, replicaDir), tool.name);
      const probe = tool.probe(replicaDir);
      await waitFor('initial sync', INITIAL_SYNC_TIMEOUT_MS, replicator, () => replicaHoldsCurrentWal(walPath, (e) => probe.covers(e)));
      startupCpuSeconds = replicator.cpuSecondsNow() ?? 0;
      const running = replicator;
      wal = new DbSampler(dbPath, () => running.pid);
      ({ report: writer, processCpuSeconds: writerCpuSeconds } = await runWriter(dbPath, workload).finally(() => wal.stop()));
      // Time is measured from the writer's last commit, both clocks being this machine's monotonic one.
      const lastCommitAt = writer.lastCommitAt - performance.timeOrigin;
      await waitFor('catch-up', CATCH_UP_TIMEOUT_MS, replicator, () => probe.covers(writer.walEnd));
      catchUpMs = performance.now() - lastCommitAt;
      usage = await replicator.stop();
      if (usage.exitCode !== 0) throw new RunError(`${tool.name} exited ${usage.exitCode} after SIGTERM:\n${replicator.logTail()}`);
    } else {
      wal = new DbSampler(dbPath, () => undefined);
      ({ report: writer, processCpuSeconds: writerCpuSeconds } = await runWriter(dbPath, workload).finally(() => wal.stop()));
    }
    const wallSeconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const ours = (usage?.cpuSeconds ?? 0) + writerCpuSeconds + (self.user + self.system) / 1e6;
    const other = Math.max(0, machineBusySeconds() - busy0 - ours);
    const result: RunResult = {
      tool: tool?.name ?? 'none',
      workload: workload.name,
      round: round_,
      writer,
      wal: {
        maxMiB: round(wal.maxBytes / MIB, 1),
        restarts: wal.restarts,
        replicatorReadMark0Share: wal.markSamples === 0 ? null : round(wal.mark0Samples / wal.markSamples, 3),
      },
      otherLoad: { cpuSeconds: round(other, 2), share: round(other / (wallSeconds * cpus().length), 3) },
    };
    if (tool !== null && usage !== undefined && catchUpMs !== undefined) {
      const replicaBytes = dirBytes(replicaDir);
      result.replicator = {
        cpuSeconds: round(usage.cpuSeconds, 3),
        startupCpuSeconds: round(startupCpuSeconds, 2),
        userCpuSeconds: round(usage.userCpuSeconds, 3),
        systemCpuSeconds: round(usage.systemCpuSeconds, 3),
        peakRssMiB: round(usage.peakRssKiB / 1024, 1),
        catchUpMs: Math.round(catchUpMs),
        replicaBytes,
        replicaMiB: round(replicaBytes / MIB, 2),
      };
      const restored = await restoreAndCheck(tool.restoreArgv(replicaDir, restoredPath), restoredPath, writer.lastId);
      result.restore = {
        seconds: round(restored.seconds, 3),
        dbMiB: round(restored.dbBytes / MIB, 2),
        mbPerSec: round(restored.dbBytes / 1e6 / restored.seconds, 1),
        rows: restored.rows,
      };
    }
    return result;
  } finally {
    replicator?.kill();
    rmSync(runDir, { recursive: true, force: true });
  }
}
