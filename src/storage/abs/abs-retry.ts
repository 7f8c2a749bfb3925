import { AttemptsFailure, TryRetry, TryTimeoutError, type TryRetryOptions, type TryRetryPolicy } from '../try-retry.js';

/**
 * How the Azure client retries one request. The SDK's own retry policy is
 * switched off (maxTries 1): it retries only HTTP 500 and 503 and network
 * errors, while Litestream retries 408, 429, 500, 502, 503 and 504; and it
 * has no client-side timeout, so a server that never answers would hold a
 * request for ever. Here every try gets a deadline for its response headers
 * (a body is watched by the reader's idle timeout instead), and failures
 * that asking again cannot fix (403, 404, 400, …) are not retried.
 *
 * Delays are Litestream's (1 s doubling to at most 30 s), with jitter; tries
 * are fewer than its 11 because the replication loop above retries failed
 * uploads with its own backoff and reads resume where they broke off.
 */

/** Tries per request, the first one included. */
export const DEFAULT_ABS_MAX_TRIES = 5;
/** First retry delay; Litestream's RetryDelay. */
export const DEFAULT_ABS_RETRY_DELAY_MS = 1000;
/** Upper bound of any one retry delay; Litestream's MaxRetryDelay. */
export const DEFAULT_ABS_MAX_RETRY_DELAY_MS = 30_000;
/**
 * A try whose response has not begun after this long is abandoned and
 * retried. It covers sending the request body too, so it is long enough
 * for a whole block upload on a slow link.
 */
export const DEFAULT_ABS_TRY_TIMEOUT_MS = 120_000;
/** The statuses Litestream's Azure client retries. */
export const ABS_RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);
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
  'ENOTFOUND',
  'REQUEST_SEND_ERROR',
]);

export type AbsRetryOptions = TryRetryOptions;

/** A try that got no response in time. */
export class AbsTryTimeoutError extends TryTimeoutError {
  override name = 'AbsTryTimeoutError';
}

/** The last failure of a request, and how many tries it took to give up. */
export class AbsAttemptsFailure extends AttemptsFailure {
  override name = 'AbsAttemptsFailure';
}

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  cause?: unknown;
}

/** HTTP status of an SDK error (RestError.statusCode), when there was a response. */
export function absErrorStatus(err: unknown): number | undefined {
  const s = (err as ErrorShape | null)?.statusCode;
  return typeof s === 'number' && s > 0 ? s : undefined;
}

/** The Azure error code (ContainerNotFound, AuthorizationFailure, …) or the network error code (ECONNREFUSED, …). */
export function absErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as ErrorShape).cause, depth++) {
    const code = (e as ErrorShape).code;
    if (typeof code === 'string' && code !== '') return code;
  }
  return undefined;
}

/** Whether a failed try is worth repeating unchanged. */
export function isRetryableAbsError(err: unknown): boolean {
  const status = absErrorStatus(err);
  if (status !== undefined) return ABS_RETRY_STATUSES.has(status);
  if (err instanceof AbsTryTimeoutError) return true;
  const code = absErrorCode(err);
  return code !== undefined && RETRY_NETWORK_CODES.has(code);
}

const ABS_RETRY_POLICY: TryRetryPolicy = {
  defaults: {
    maxTries: DEFAULT_ABS_MAX_TRIES,
    retryDelayMs: DEFAULT_ABS_RETRY_DELAY_MS,
    maxRetryDelayMs: DEFAULT_ABS_MAX_RETRY_DELAY_MS,
    tryTimeoutMs: DEFAULT_ABS_TRY_TIMEOUT_MS,
  },
  isRetryable: (err) => isRetryableAbsError(err),
  timeoutError: (ms) => new AbsTryTimeoutError(ms),
  attemptsFailure: (error, attempts) => new AbsAttemptsFailure(error, attempts),
};

/** Azure's tries: see TryRetry; giving up rejects with AbsAttemptsFailure. */
export class AbsRetry extends TryRetry {
  constructor(o: AbsRetryOptions = {}) {
    super(ABS_RETRY_POLICY, o);
  }
}
