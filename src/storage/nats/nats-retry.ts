import { TidemarkError } from '../../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryableNatsError } from './nats-errors.js';

/**
 * Retries of NATS requests. The client reconnects by itself after a dropped
 * connection, but a request in flight then fails (usually by timing out):
 * such failures are tried again after a delay, up to a bound, and failures
 * that another try cannot fix (authorization, a missing bucket, TLS) are not.
 * Delays are Litestream's (1 s doubling to at most 30 s) with jitter; tries
 * are fewer than its 11 because the replication loop above retries failed
 * uploads with its own backoff.
 */

/** Tries per request, the first one included. */
export const DEFAULT_NATS_MAX_TRIES = 5;
export const DEFAULT_NATS_RETRY_DELAY_MS = 1000;
export const DEFAULT_NATS_MAX_RETRY_DELAY_MS = 30_000;

export interface NatsRetryOptions {
  maxTries?: number;
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Uniform in [0, 1); for jitter. */
  random?: () => number;
}

/** The last failure of a request, and how many tries it took to give up. */
export class NatsAttemptsFailure extends TidemarkError {
  override name = 'NatsAttemptsFailure';

  constructor(
    readonly error: unknown,
    readonly attempts: number,
  ) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

export class NatsRetry {
  readonly maxTries: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #random: () => number;

  constructor(o: NatsRetryOptions = {}) {
    this.maxTries = o.maxTries ?? DEFAULT_NATS_MAX_TRIES;
    if (!Number.isSafeInteger(this.maxTries) || this.maxTries < 1) throw new RangeError(`maxTries must be at least 1, got ${this.maxTries}`);
    this.#delay = o.retryDelayMs ?? DEFAULT_NATS_RETRY_DELAY_MS;
    this.#maxDelay = o.maxRetryDelayMs ?? DEFAULT_NATS_MAX_RETRY_DELAY_MS;
    this.#random = o.random ?? Math.random;
  }

  /** The wait before retry number `retry` (0 for the first retry). */
  delayMs(retry: number): number {
    const ceiling = Math.min(this.#maxDelay, this.#delay * 2 ** Math.min(retry, 30));
    // Half fixed, half random: retries of many clients spread out, and never collapse to zero.
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, or runs out of tries;
   * giving up rejects with NatsAttemptsFailure, an abort with the signal's reason.
   */
  async run<T>(signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      signal?.throwIfAborted();
      let error: unknown;
      try {
        return await attempt();
      } catch (err) {
        error = err;
      }
      if (signal?.aborted === true) throw signal.reason;
      if (tries >= this.maxTries || !isRetryableNatsError(error)) throw new NatsAttemptsFailure(error, tries);
      await sleep(this.delayMs(tries - 1), undefined, { signal });
    }
  }
}
