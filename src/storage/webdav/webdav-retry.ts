import { AttemptsFailure, TryRetry, TryTimeoutError, type TryRetryOptions, type TryRetryPolicy } from '../try-retry.js';

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

export type WebdavRetryOptions = TryRetryOptions;

/** A try that got no response in time. */
export class WebdavTryTimeoutError extends TryTimeoutError {
  override name = 'WebdavTryTimeoutError';
}

/** The last failure of a request, and how many tries it took to give up. */
export class WebdavAttemptsFailure extends AttemptsFailure {
  override name = 'WebdavAttemptsFailure';
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

const WEBDAV_RETRY_POLICY: TryRetryPolicy = {
  defaults: {
    maxTries: DEFAULT_WEBDAV_MAX_TRIES,
    retryDelayMs: DEFAULT_WEBDAV_RETRY_DELAY_MS,
    maxRetryDelayMs: DEFAULT_WEBDAV_MAX_RETRY_DELAY_MS,
    tryTimeoutMs: DEFAULT_WEBDAV_TRY_TIMEOUT_MS,
  },
  isRetryable: (err) => isRetryableWebdavError(err),
  timeoutError: (ms) => new WebdavTryTimeoutError(ms),
  attemptsFailure: (error, attempts) => new WebdavAttemptsFailure(error, attempts),
};

/** WebDAV's tries: see TryRetry; giving up rejects with WebdavAttemptsFailure. */
export class WebdavRetry extends TryRetry {
  constructor(o: WebdavRetryOptions = {}) {
    super(WEBDAV_RETRY_POLICY, o);
  }
}
