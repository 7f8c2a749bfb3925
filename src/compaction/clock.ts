/** A timer that can be cancelled; cancelling a timer that already fired does nothing. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * Where the scheduler gets the time and its timers: the system clock in
 * production, a ManualClock in tests (intervals of hours run in
 * milliseconds, and boundaries can be checked exactly).
 */
export interface SchedulerClock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls fn once, about delayMs from now. */
  setTimer(fn: () => void, delayMs: number): TimerHandle;
}

/** Node fires a setTimeout longer than 2^31-1 ms at once, so longer waits are made of several timers. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The real clock. Its timers are unref'd: a replicator's schedule never
 * keeps the process alive on its own.
 */
export const systemClock: SchedulerClock = {
  now: () => Date.now(),
  setTimer(fn, delayMs) {
    const t = setTimeout(fn, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
