/**
 * Runs a replicator CLI (tidemark or Litestream) as a child process and
 * measures it the same way whichever it is.
 *
 * The command runs under a small bash wrapper that waits for it and then
 * prints `times`: the user and system CPU of the shell's reaped children,
 * which is the replicator with all its threads and any processes it started,
 * from start to exit, final sync after SIGTERM included. Peak memory is the
 * kernel's high-water mark (VmHWM) read from /proc while it runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { processCpuSeconds, readVmHwmKiB } from './proc-stats.js';

/** How often VmHWM is read; it only grows, so the last reading before exit is the peak up to then. */
const SAMPLE_MS = 50;
/** How long the replicator gets to exit after SIGTERM (its final sync included). */
const STOP_TIMEOUT_MS = 60_000;
/** Lines of the replicator's stderr kept to explain a failure. */
const LOG_TAIL_LINES = 20;

const PID_PREFIX = 'replicator-pid ';
// The replicator's stdout goes to stderr so the wrapper's stdout carries only its own two reports.
const WRAPPER = `"$@" 1>&2 & echo "${PID_PREFIX}$!"; wait $!; code=$?; times; exit $code`;

export class ReplicatorError extends Error {
  override name = 'ReplicatorError';
}

export interface ReplicatorUsage {
  userCpuSeconds: number;
  systemCpuSeconds: number;
  cpuSeconds: number;
  peakRssKiB: number;
  exitCode: number | null;
  wallSeconds: number;
}

/** bash `times` prints "XmY.YYYs XmY.YYYs" for the shell, then the same for its children. */
export function parseTimes(line: string): [number, number] {
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(line.trim());
  if (m === null) throw new ReplicatorError(`unexpected output from bash times: ${JSON.stringify(line)}`);
  return [Number(m[1]) * 60 + Number(m[2]), Number(m[3]) * 60 + Number(m[4])];
}

export class ReplicatorProcess {
  readonly #wrapper: ChildProcess;
  readonly #stdout: string[] = [];
  readonly #logTail: string[] = [];
  readonly #exited: Promise<number | null>;
  readonly #startedAt = performance.now();
  #pid: number | undefined;
  #peakKiB = 0;
  #sampler: NodeJS.Timeout;

  private constructor(argv: readonly string[], label: string) {
    this.#wrapper = spawn('bash', ['-c', WRAPPER, 'bash', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.#wrapper.stdout! }).on('line', (line) => {
      if (line.startsWith(PID_PREFIX)) this.#pid = Number(line.slice(PID_PREFIX.length));
      else this.#stdout.push(line);
    });
    createInterface({ input: this.#wrapper.stderr! }).on('line', (line) => {
      this.#logTail.push(line);
      if (this.#logTail.length > LOG_TAIL_LINES) this.#logTail.shift();
    });
    this.#exited = new Promise((resolve, reject) => {
      this.#wrapper.once('error', (err) => reject(new ReplicatorError(`could not start ${label}`, { cause: err })));
      // 'close' rather than 'exit': the stdout lines must all have arrived.
      this.#wrapper.once('close', (code) => resolve(code));
    });
    this.#sampler = setInterval(() => this.sample(), SAMPLE_MS);
  }

  /** Starts `argv` (executable first). */
  static start(argv: readonly string[], label: string): ReplicatorProcess {
    return new ReplicatorProcess(argv, label);
  }

  /** The replicator's own pid (not the wrapper's), once the wrapper has reported it. */
  get pid(): number | undefined {
    return this.#pid;
  }

  get running(): boolean {
    return this.#wrapper.exitCode === null && this.#wrapper.signalCode === null;
  }

  /** The last lines the replicator logged, for error messages. */
  logTail(): string {
    return this.#logTail.join('\n');
  }

  /** Reads VmHWM now (also done every SAMPLE_MS). */
  sample(): void {
    if (this.#pid === undefined) return;
    const kib = readVmHwmKiB(this.#pid);
    if (kib !== null && kib > this.#peakKiB) this.#peakKiB = kib;
  }

  /** CPU seconds used so far (10 ms resolution), or null before the pid is known. */
  cpuSecondsNow(): number | null {
    return this.#pid === undefined ? null : processCpuSeconds(this.#pid);
  }

  /** Throws if the replicator has exited on its own. */
  assertRunning(): void {
    if (!this.running) throw new ReplicatorError(`replicator exited early (exit ${this.#wrapper.exitCode}):\n${this.logTail()}`);
  }

  /** SIGTERM, wait for the final sync and exit, and return what it used. */
  async stop(): Promise<ReplicatorUsage> {
    this.sample();
    if (this.#pid === undefined) throw new ReplicatorError('replicator pid never reported');
    process.kill(this.#pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ReplicatorError(`replicator did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`)), STOP_TIMEOUT_MS);
    });
    let exitCode: number | null;
    try {
      exitCode = await Promise.race([this.#exited, timeout]);
    } finally {
      clearTimeout(timer);
      clearInterval(this.#sampler);
    }
    const wallSeconds = (performance.now() - this.#startedAt) / 1000;
    const children = this.#stdout[1];
    if (children === undefined) throw new ReplicatorError(`no CPU times from the wrapper (exit ${exitCode}):\n${this.logTail()}`);
    const [user, sys] = parseTimes(children);
    return { userCpuSeconds: user, systemCpuSeconds: sys, cpuSeconds: user + sys, peakRssKiB: this.#peakKiB, exitCode, wallSeconds };
  }

  /** Ends the replicator at once; for runs that failed part-way. */
  kill(): void {
    clearInterval(this.#sampler);
    if (this.#pid !== undefined && this.running) {
      try {
        process.kill(this.#pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}
