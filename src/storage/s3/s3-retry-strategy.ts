/**
 * How the S3 client retries a request, plugged into the AWS SDK as its retry
 * strategy so every command (and every part of a multipart upload) gets it:
 *
 * - retried: what the SDK classifies as transient or throttling — HTTP 500,
 *   502, 503, 504, 429, SlowDown and the other throttling codes, timeouts,
 *   connection resets and refusals;
 * - never retried: other client errors (403 bad credentials, 404 NoSuchBucket
 *   or NoSuchKey, 400 …), which asking again cannot fix, and aborts;
 * - delays grow exponentially from a base (a larger one for throttling) with
 *   jitter, up to a cap, and honour a Retry-After hint up to that cap.
 *
 * A strategy of our own rather than the SDK's standard one because the
 * standard one keeps a process-wide retry budget that, once a long outage has
 * drained it, stops retrying even transient errors, and its delays cannot be
 * shortened for tests. Attempts are fewer than Litestream's 10: the
 * replication loop above retries failed uploads with its own backoff, and
 * reads resume where they broke off, so a request need not try for long.
 */

/** Tries per request, the first one included. */
export const DEFAULT_S3_MAX_ATTEMPTS = 5;
/** First retry delay after a transient error. */
export const DEFAULT_S3_RETRY_BASE_MS = 100;
/** First retry delay after throttling (429, SlowDown): backing off harder is the point. */
export const DEFAULT_S3_THROTTLE_RETRY_BASE_MS = 500;
/** Upper bound of any one retry delay. */
export const DEFAULT_S3_RETRY_MAX_MS = 10_000;

/** The SDK's classification of a failed attempt (RetryErrorInfo in @smithy/types). */
export interface S3RetryErrorInfo {
  errorType: 'TRANSIENT' | 'THROTTLING' | 'SERVER_ERROR' | 'CLIENT_ERROR';
  retryAfterHint?: Date;
  error?: unknown;
}

/** The SDK's retry token: how many retries so far, and how long to wait before the next. */
export interface S3RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

export interface S3RetryOptions {
  maxAttempts?: number;
  baseDelayMs?: number;
  throttleBaseDelayMs?: number;
  maxDelayMs?: number;
  /** Uniform in [0, 1); for jitter. */
  random?: () => number;
  now?: () => number;
}

function token(retryCount: number, delayMs: number): S3RetryToken {
  return { getRetryCount: () => retryCount, getRetryDelay: () => delayMs };
}

/** Implements the SDK's RetryStrategyV2 interface (acquire, refresh, record). */
export class S3RetryStrategy {
  readonly mode = 'standard';
  readonly maxAttempts: number;
  readonly #base: number;
  readonly #throttleBase: number;
  readonly #max: number;
  readonly #random: () => number;
  readonly #now: () => number;

  constructor(o: S3RetryOptions = {}) {
    this.maxAttempts = o.maxAttempts ?? DEFAULT_S3_MAX_ATTEMPTS;
    if (!Number.isSafeInteger(this.maxAttempts) || this.maxAttempts < 1) throw new RangeError(`maxAttempts must be at least 1, got ${this.maxAttempts}`);
    this.#base = o.baseDelayMs ?? DEFAULT_S3_RETRY_BASE_MS;
    this.#throttleBase = o.throttleBaseDelayMs ?? Math.max(this.#base, DEFAULT_S3_THROTTLE_RETRY_BASE_MS);
    this.#max = o.maxDelayMs ?? DEFAULT_S3_RETRY_MAX_MS;
    this.#random = o.random ?? Math.random;
    this.#now = o.now ?? Date.now;
  }

  /** Whether a failure of this kind is worth another attempt at all. */
  static isRetryable(info: S3RetryErrorInfo): boolean {
    return info.errorType === 'TRANSIENT' || info.errorType === 'THROTTLING';
  }

  /** The wait before retry number `retry` (0 for the first retry). */
  delayMs(retry: number, info: S3RetryErrorInfo): number {
    const base = info.errorType === 'THROTTLING' ? this.#throttleBase : this.#base;
    const ceiling = Math.min(this.#max, base * 2 ** Math.min(retry, 30));
    // Half fixed, half random: retries of many clients spread out, and never collapse to zero.
    let delay = Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
    if (info.retryAfterHint !== undefined) {
      const hinted = info.retryAfterHint.getTime() - this.#now();
      if (Number.isFinite(hinted)) delay = Math.max(delay, Math.min(hinted, this.#max));
    }
    return delay;
  }

  async acquireInitialRetryToken(_scope: string): Promise<S3RetryToken> {
    return token(0, 0);
  }

  /** Resolves the token for the next attempt (the SDK then waits its delay), or rejects to stop retrying. */
  async refreshRetryTokenForRetry(previous: S3RetryToken, info: S3RetryErrorInfo): Promise<S3RetryToken> {
    const retries = previous.getRetryCount();
    if (!S3RetryStrategy.isRetryable(info) || retries + 1 >= this.maxAttempts) {
      throw new Error('no more retries for this request');
    }
    return token(retries + 1, this.delayMs(retries, info));
  }

  recordSuccess(_token: S3RetryToken): void {}
}
