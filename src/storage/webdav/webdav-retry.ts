import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How the WebDAV client retries one request. The webdav package retries
 * nothing and sets no timeout, so a server that never answers would hold a
 * request for ever. Here every try gets a deadline for its response headers
 * (a body is watched by the reader's idle timeout instead), and a failure
 * that asking again cannot fix (401, 403, 404, 409, …) is not retried.
 *
 * Litestream's WebDAV client does not retry at all (its 30 s timeout ends a
 * request, and the replication loop tries again later); tidemark retries a
 * few times with backoff so one dropped connection does not fail a restore.
 */

/** Tries per request, the first one included. */
export const DEFAULT_WEBDAV_MAX_TRIES = 5;
/** First retry delay. */
export const DEFAULT_WEBDAV_RETRY_DELAY_MS = 1000;
/** Upper bound of any one retry delay. */
export const DEFAULT_WEBDAV_MAX_RETRY_DELAY_MS = 30_000;
/**
 * A try whose response has not begun after this long is abandoned and
 * retried. It covers sending the request body too, so it is long enough
 * for a large upload on a slow link.
 */
export const DEFAULT_WEBDAV_TRY_TIMEOUT_MS = 120_000;
/**
 * HTTP statuses worth another try: timeout, a resource locked for the moment
 * (rclone answers 423 to two MKCOLs racing for one collection), throttling,
 * and server-side failures.
 */
export const WEBDAV_RETRY_STATUSES: ReadonlySet<number> = new Set([408, 423, 425, 429, 500, 502, 503, 504, 507]);
/** Network failures worth another try. */
const RETRY_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export interface WebdavRetryOptions {
  maxTries?: number;
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  tryTimeoutMs?: number;
  /** Uniform in [0, 1); for jitter. */
  random?: () => number;
}

/** A try that got no response in time. */
export class WebdavTryTimeoutError extends Error {
  override name = 'WebdavTryTimeoutError';
  readonly code = 'ETIMEDOUT';

  constructor(readonly timeoutMs: number) {
    super(`no response within ${timeoutMs} ms`);
  }
}

/** The last failure of a request, and how many tries it took to give up. */
export class WebdavAttemptsFailure extends Error {
  override name = 'WebdavAttemptsFailure';

  constructor(
    readonly error: unknown,
    readonly attempts: number,
  ) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

interface ErrorShape {
  code?: unknown;
  errno?: unknown;
  status?: unknown;
  cause?: unknown;
  type?: unknown;
}

/** HTTP status of a failed request (the webdav package puts it in `status`), when there was a response. */
export function webdavErrorStatus(err: unknown): number | undefined {
  const e = err instanceof WebdavAttemptsFailure ? err.error : err;
  const s = (e as ErrorShape | null)?.status;
  return typeof s === 'number' && s > 0 ? s : undefined;
}

/** The network error code (ECONNREFUSED, ECONNRESET, …) anywhere in the cause chain. */
export function webdavErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 6; e = (e as ErrorShape).cause, depth++) {
    const s = e as ErrorShape;
    // node-fetch's FetchError keeps the system error's code in both `code` and `errno`.
    for (const c of [s.code, s.errno]) if (typeof c === 'string' && c !== '' && c !== 'FETCH_ERROR' && c !== 'system') return c;
  }
  return undefined;
}

/** Whether a failed try is worth repeating unchanged. */
export function isRetryableWebdavError(err: unknown): boolean {
  const status = webdavErrorStatus(err);
  if (status !== undefined) return WEBDAV_RETRY_STATUSES.has(status);
  if (err instanceof WebdavTryTimeoutError) return true;
  const code = webdavErrorCode(err);
  if (code !== undefined && RETRY_NETWORK_CODES.has(code)) return true;
  // node-fetch reports a body cut short without a system code.
  const message = err instanceof Error ? err.message : '';
  return /socket hang up|premature close|terminated/i.test(message);
}

export class WebdavRetry {
  readonly maxTries: number;
  readonly tryTimeoutMs: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #random: () => number;

  constructor(o: WebdavRetryOptions = {}) {
    this.maxTries = o.maxTries ?? DEFAULT_WEBDAV_MAX_TRIES;
    if (!Number.isSafeInteger(this.maxTries) || this.maxTries < 1) throw new RangeError(`maxTries must be at least 1, got ${this.maxTries}`);
    this.#delay = o.retryDelayMs ?? DEFAULT_WEBDAV_RETRY_DELAY_MS;
    this.#maxDelay = o.maxRetryDelayMs ?? DEFAULT_WEBDAV_MAX_RETRY_DELAY_MS;
    this.tryTimeoutMs = o.tryTimeoutMs ?? DEFAULT_WEBDAV_TRY_TIMEOUT_MS;
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
   * Each try gets a signal that aborts with `signal` or at its deadline.
   * Aborting `signal` rejects with its reason; giving up rejects with
   * WebdavAttemptsFailure.
   */
  async run<T>(signal: AbortSignal | undefined, attempt: (signal: AbortSignal, tries: number) => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      signal?.throwIfAborted();
      const ac = new AbortController();
      const onAbort = (): void => ac.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort(new WebdavTryTimeoutError(this.tryTimeoutMs));
      }, this.tryTimeoutMs);
      let error: unknown;
      try {
        return await attempt(ac.signal, tries);
      } catch (err) {
        error = timedOut ? new WebdavTryTimeoutError(this.tryTimeoutMs) : err;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted === true) throw signal.reason;
      if (tries >= this.maxTries || !isRetryableWebdavError(error)) throw new WebdavAttemptsFailure(error, tries);
      await sleep(this.delayMs(tries - 1), undefined, { signal });
    }
  }
}
