import { MAX_TIMER_DELAY_MS, systemClock, type SchedulerClock, type TimerHandle } from './clock.js';
import { nextCompactionAt } from './schedule.js';

/** The first run of every job comes this soon after start(), as Litestream's 1 ns first timer. */
export const DEFAULT_FIRST_RUN_DELAY_MS = 0;

export interface JobContext {
  /** The time the run started, by the scheduler's clock: what "now" means for this run. */
  readonly now: Date;
  /** Aborted by stop(). */
  readonly signal: AbortSignal;
}

/** What a run may ask of the scheduler. */
export interface JobOutcome {
  /** Run again after this many ms instead of at the next boundary (a database not ready yet, say). */
  readonly retryAfterMs?: number;
}

export interface ScheduledJob {
  /** For status and error reports: 'L1', 'snapshot', 'l0-retention', … */
  readonly name: string;
  readonly intervalMs: number;
  /**
   * true (default): run at wall-clock multiples of the interval (see
   * prevCompactionAt). false: run intervalMs after the previous run started.
   */
  readonly aligned?: boolean;
  run(ctx: JobContext): Promise<JobOutcome | void>;
}

export interface JobStatus {
  readonly name: string;
  readonly runs: number;
  readonly failures: number;
  readonly lastRunAt: Date | undefined;
  readonly nextRunAt: Date | undefined;
  readonly lastError: unknown;
  readonly running: boolean;
}

export interface LevelSchedulerOptions {
  readonly jobs: readonly ScheduledJob[];
  readonly clock?: SchedulerClock;
  readonly firstRunDelayMs?: number;
  /** Called with every error a run throws; the job runs again at its next boundary regardless. */
  readonly onError?: (job: ScheduledJob, err: unknown) => void;
}

interface JobState {
  readonly job: ScheduledJob;
  timer: TimerHandle | undefined;
  dueAt: number | undefined;
  active: Promise<void> | undefined;
  runs: number;
  failures: number;
  lastRunAt: number | undefined;
  lastError: unknown;
}

/**
 * Runs each job at its interval's boundaries: first soon after start(), then
 * at the next wall-clock multiple of its interval after each run began (at
 * once if a run outlasted the boundary). A job never overlaps itself;
 * different jobs run independently of each other. Timers come from the
 * clock (unref'd on the system clock); stop() cancels them, aborts the runs
 * in progress and waits for them to end.
 */
export class LevelScheduler {
  readonly #clock: SchedulerClock;
  readonly #firstRunDelayMs: number;
  readonly #onError: ((job: ScheduledJob, err: unknown) => void) | undefined;
  readonly #states: JobState[];
  readonly #abort = new AbortController();
  #started = false;
  #stopped = false;

  constructor(options: LevelSchedulerOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#firstRunDelayMs = options.firstRunDelayMs ?? DEFAULT_FIRST_RUN_DELAY_MS;
    this.#onError = options.onError;
    const names = new Set<string>();
    for (const j of options.jobs) {
      if (!Number.isSafeInteger(j.intervalMs) || j.intervalMs <= 0) {
        throw new RangeError(`scheduled job ${j.name}: interval must be a positive integer number of ms, got ${String(j.intervalMs)}`);
      }
      if (names.has(j.name)) throw new RangeError(`scheduled job ${j.name} is listed twice`);
      names.add(j.name);
    }
    this.#states = options.jobs.map((job) => ({
      job,
      timer: undefined,
      dueAt: undefined,
      active: undefined,
      runs: 0,
      failures: 0,
      lastRunAt: undefined,
      lastError: undefined,
    }));
  }

  get started(): boolean {
    return this.#started && !this.#stopped;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const s of this.#states) this.#arm(s, this.#firstRunDelayMs);
  }

  /** Cancels the timers, aborts runs in progress and resolves once they have ended. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort(new Error('compaction scheduler stopped'));
    for (const s of this.#states) {
      s.timer?.cancel();
      s.timer = undefined;
      s.dueAt = undefined;
    }
    await this.idle();
  }

  /** Resolves when no job is running (runs that start meanwhile are waited for too). */
  async idle(): Promise<void> {
    for (;;) {
      const active = this.#states.map((s) => s.active).filter((a): a is Promise<void> => a !== undefined);
      if (active.length === 0) return;
      await Promise.all(active);
    }
  }

  status(): JobStatus[] {
    return this.#states.map((s) => ({
      name: s.job.name,
      runs: s.runs,
      failures: s.failures,
      lastRunAt: s.lastRunAt === undefined ? undefined : new Date(s.lastRunAt),
      nextRunAt: s.dueAt === undefined ? undefined : new Date(s.dueAt),
      lastError: s.lastError,
      running: s.active !== undefined,
    }));
  }

  #arm(s: JobState, delayMs: number): void {
    if (this.#stopped) return;
    const delay = Math.max(0, delayMs);
    s.dueAt = this.#clock.now() + delay;
    s.timer = this.#clock.setTimer(() => this.#fire(s), Math.min(delay, MAX_TIMER_DELAY_MS));
  }

  #fire(s: JobState): void {
    s.timer = undefined;
    if (this.#stopped || s.dueAt === undefined) return;
    const left = s.dueAt - this.#clock.now();
    // A wait longer than one timer allows, or a timer that fired early: wait for the rest.
    if (left > 0) {
      s.timer = this.#clock.setTimer(() => this.#fire(s), Math.min(left, MAX_TIMER_DELAY_MS));
      return;
    }
    s.dueAt = undefined;
    s.active = this.#run(s).finally(() => {
      s.active = undefined;
    });
  }

  async #run(s: JobState): Promise<void> {
    const started = this.#clock.now();
    s.lastRunAt = started;
    s.runs++;
    let outcome: JobOutcome | void = undefined;
    try {
      outcome = await s.job.run({ now: new Date(started), signal: this.#abort.signal });
      s.lastError = undefined;
    } catch (err) {
      s.failures++;
      s.lastError = err;
      if (!this.#stopped) {
        try {
          this.#onError?.(s.job, err);
        } catch {
          // A failing error handler must not stop the schedule.
        }
      }
    }
    if (this.#stopped) return;
    const now = this.#clock.now();
    let delay: number;
    if (outcome && outcome.retryAfterMs !== undefined) delay = outcome.retryAfterMs;
    else if (s.job.aligned === false) delay = started + s.job.intervalMs - now;
    else delay = nextCompactionAt(started, s.job.intervalMs).getTime() - now;
    this.#arm(s, delay);
  }
}
