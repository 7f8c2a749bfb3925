import type { SchedulerClock, TimerHandle } from './clock.js';

interface ManualTimer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advanceTo` fires the timers that
 * fall due on the way, in order, with the time set to each one's due time,
 * and after each lets the work it started finish (`settle`) before looking
 * for the next, so timers set by that work are honoured in the same advance.
 */
export class ManualClock implements SchedulerClock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs: number) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { due: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Due time of the earliest pending timer, if any. */
  nextDue(): number | undefined {
    return this.#next()?.due;
  }

  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves the time forward by `ms`, firing timers on the way (see advanceTo). */
  advance(ms: number, settle?: () => Promise<void>): Promise<void> {
    return this.advanceTo(this.#now + ms, settle);
  }

  /** Moves the time to `to` (never backwards), firing every timer due at or before it. */
  async advanceTo(to: number, settle: () => Promise<void> = yieldToEventLoop): Promise<void> {
    for (;;) {
      await settle();
      const t = this.#next();
      if (t === undefined || t.due > to) break;
      this.#timers = this.#timers.filter((x) => x !== t);
      this.#now = Math.max(this.#now, t.due);
      t.fn();
    }
    this.#now = Math.max(this.#now, to);
  }

  #next(): ManualTimer | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let best: ManualTimer | undefined;
    for (const t of this.#timers) if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    return best;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
