import type { SchedulerClock, TimerHandle } from './clock.js';

interface ManualTimer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advanceTo` fires the timers that
 * fall due on the way, in order, with the time set to their due time, and
 * after each moment lets the work they started finish (`settle`, e.g. a
 * scheduler's idle()) before looking for the next, so the timers that work
 * sets are honoured in the same advance.
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

  /**
   * Moves the time to `to` (never backwards), firing every timer due at or
   * before it: all timers due at the same moment together, then `settle`.
   */
  async advanceTo(to: number, settle: () => Promise<void> = yieldToEventLoop): Promise<void> {
    for (;;) {
      await settle();
      const first = this.#next();
      if (first === undefined || first.due > to) break;
      const due = this.#timers.filter((x) => x.due === first.due).sort((a, b) => a.seq - b.seq);
      this.#timers = this.#timers.filter((x) => x.due !== first.due);
      this.#now = Math.max(this.#now, first.due);
      for (const t of due) t.fn();
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
