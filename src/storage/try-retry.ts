import { TidemarkError } from '../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** A try that got no response in time. */
export class TryTimeoutError extends TidemarkError {
  override name = 'TryTimeoutError';
  readonly code = 'ETIMEDOUT';

  constructor(readonly timeoutMs: number) {
    super(`no response within ${timeoutMs} ms`);
  }
}

/** The last failure of a request, and how many tries it took to give up. */
export class AttemptsFailure extends TidemarkError {
  override name = 'AttemptsFailure';

  constructor(
    readonly error: unknown,
    readonly attempts: number,
  ) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

export interface TryRetryOptions {
  maxTries?: number;
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  tryTimeoutMs?: number;
  /** Uniform in [0, 1); for jitter. */
  random?: () => number;
}

/** What a backend's retry decides for itself: its defaults, which failures are worth a new try, and its error classes. */
export interface TryRetryPolicy {
  readonly defaults: Required<Omit<TryRetryOptions, 'random'>>;
  isRetryable(err: unknown): boolean;
  timeoutError(timeoutMs: number): TryTimeoutError;
  attemptsFailure(error: unknown, attempts: number): AttemptsFailure;
}

/**
 * Tries of one request for the HTTP backends (Azure, GCS, WebDAV): each try
 * has a deadline of its own, failures worth repeating are retried after a
 * jittered exponential delay, up to maxTries in all. Written here because
 * each SDK's own retry either cannot be told a try's deadline or does not
 * see a body that breaks off after the headers.
 */
export class TryRetry {
  readonly maxTries: number;
  readonly tryTimeoutMs: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #random: () => number;
  readonly #policy: TryRetryPolicy;

  constructor(policy: TryRetryPolicy, o: TryRetryOptions = {}) {
    this.#policy = policy;
    this.maxTries = o.maxTries ?? policy.defaults.maxTries;
    if (!Number.isSafeInteger(this.maxTries) || this.maxTries < 1) throw new RangeError(`maxTries must be at least 1, got ${this.maxTries}`);
    this.#delay = o.retryDelayMs ?? policy.defaults.retryDelayMs;
    this.#maxDelay = o.maxRetryDelayMs ?? policy.defaults.maxRetryDelayMs;
    this.tryTimeoutMs = o.tryTimeoutMs ?? policy.defaults.tryTimeoutMs;
    this.#random = o.random ?? Math.random;
  }

  /** The wait before retry number `retry` (0 for the first retry). */
  delayMs(retry: number): number {
    const ceiling = Math.min(this.#maxDelay, this.#delay * 2 ** Math.min(retry, 30));
    // Half fixed, half random: retries of many clients spread out, and never collapse to zero.
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, or runs out of tries.
   * Each try gets a signal that aborts with `signal` or at its deadline
   * (`deadlineMs`, default tryTimeoutMs). Aborting `signal` rejects with its
   * reason; giving up rejects with the policy's AttemptsFailure.
   */
  async run<T>(signal: AbortSignal | undefined, attempt: (signal: AbortSignal, tries: number) => Promise<T>, deadlineMs = this.tryTimeoutMs): Promise<T> {
    for (let tries = 1; ; tries++) {
      signal?.throwIfAborted();
      const ac = new AbortController();
      const onAbort = (): void => ac.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort(this.#policy.timeoutError(deadlineMs));
      }, deadlineMs);
      let error: unknown;
      try {
        return await attempt(ac.signal, tries);
      } catch (err) {
        error = timedOut ? this.#policy.timeoutError(deadlineMs) : err;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted === true) throw signal.reason;
      if (tries >= this.maxTries || !this.#policy.isRetryable(error)) throw this.#policy.attemptsFailure(error, tries);
      await sleep(this.delayMs(tries - 1), undefined, { signal });
    }
  }
}
