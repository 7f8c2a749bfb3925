/** A place in the limiter's queue; `granted` resolves true once the request may run, false if it was withdrawn. */
export interface FetchTicket {
  readonly granted: Promise<boolean>;
}

interface Waiter extends FetchTicket {
  grant: (ok: boolean) => void;
}

/**
 * Bounds how many replica requests run at once. A request that something is
 * already blocked on can jump the queue (`expedite`), so read-ahead for
 * files the merge does not need yet never delays the one it is waiting for.
 */
export class FetchLimiter {
  private running = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly limit: number) {}

  /** Queues a request; call `release` once it is done (only if it was granted). */
  acquire(): FetchTicket {
    let grant!: (ok: boolean) => void;
    const granted = new Promise<boolean>((resolve) => (grant = resolve));
    const w: Waiter = { granted, grant };
    if (this.running < this.limit) {
      this.running++;
      grant(true);
    } else {
      this.queue.push(w);
    }
    return w;
  }

  /** Moves a waiting request to the front of the queue. */
  expedite(ticket: FetchTicket): void {
    const i = this.queue.indexOf(ticket as Waiter);
    if (i > 0) this.queue.unshift(...this.queue.splice(i, 1));
  }

  /** Takes a request that has not been granted out of the queue; its `granted` resolves false. */
  withdraw(ticket: FetchTicket): void {
    const i = this.queue.indexOf(ticket as Waiter);
    if (i < 0) return;
    this.queue.splice(i, 1);
    (ticket as Waiter).grant(false);
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next.grant(true);
    else this.running--;
  }
}
