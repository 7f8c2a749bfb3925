import { AttemptsFailure, TryRetry, TryTimeoutError, type TryRetryOptions, type TryRetryPolicy } from '../try-retry.js';

/**
 * How the GCS client retries one request. The SDK's own retries are off
 * (autoRetry false): they have no per-try deadline a caller's signal can cut
 * short, and a resumed read must be pinned to the object generation, which
 * only the reader knows. Retried are what Google's Go client (Litestream's)
 * retries: 408, 429, 500, 502, 503, 504 and broken connections; never other
 * 4xx, which asking again cannot fix.
 *
 * Delays are Litestream's (1 s doubling to at most 30 s), with jitter; tries
 * are few because the replication loop above retries failed uploads with its
 * own backoff and reads resume where they broke off.
 */

/** Tries per request, the first one included. */
export const DEFAULT_GS_MAX_TRIES = 5;
/** First retry delay. */
export const DEFAULT_GS_RETRY_DELAY_MS = 1000;
/** Upper bound of any one retry delay. */
export const DEFAULT_GS_MAX_RETRY_DELAY_MS = 30_000;
/**
 * A try whose response has not come after this long is abandoned and
 * retried. It covers sending an upload's body too, so it is long enough for
 * a single-request upload on a slow link.
 */
export const DEFAULT_GS_TRY_TIMEOUT_MS = 120_000;
/**
 * The deadline of a try that sends no data (a listing page, a delete). The
 * SDK's HTTP layer does not report a response cut off after its headers, so
 * such a try ends only at its deadline; this one is short for that reason.
 */
export const DEFAULT_GS_SHORT_TRY_TIMEOUT_MS = 30_000;
/** The statuses Google's storage clients retry. */
export const GS_RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);
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
  'ERR_STREAM_PREMATURE_CLOSE',
]);
/** How node-fetch (under the SDK) words a connection that broke without a code of its own. */
const RETRY_MESSAGE_RE = /socket hang up|network timeout|ECONNRESET|premature close|other side closed/i;

export interface GsRetryOptions extends TryRetryOptions {
  /** For tries that send no data; at most tryTimeoutMs. */
  shortTryTimeoutMs?: number;
}

/** A try that got no response in time. */
export class GsTryTimeoutError extends TryTimeoutError {
  override name = 'GsTryTimeoutError';
}

/** The last failure of a request, and how many tries it took to give up. */
export class GsAttemptsFailure extends AttemptsFailure {
  override name = 'GsAttemptsFailure';
}

interface ErrorShape {
  code?: unknown;
  status?: unknown;
  errno?: unknown;
  cause?: unknown;
  response?: { statusCode?: unknown; status?: unknown };
}

/** HTTP status of an SDK error (ApiError keeps it as a numeric `code`), when there was a response. */
export function gsErrorStatus(err: unknown): number | undefined {
  const e = err as ErrorShape | null;
  if (e === null || typeof e !== 'object') return undefined;
  for (const s of [e.code, e.status, e.response?.statusCode, e.response?.status]) {
    if (typeof s === 'number' && s >= 100 && s < 600) return s;
  }
  return undefined;
}

/** The network error code (ECONNREFUSED, …) of a failure, looked for down its cause chain. */
export function gsNetworkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as ErrorShape).cause, depth++) {
    const s = e as ErrorShape;
    if (typeof s.code === 'string' && s.code !== '') return s.code;
    if (typeof s.errno === 'string' && s.errno !== '') return s.errno;
  }
  return undefined;
}

/** Whether a failed try is worth repeating unchanged. */
export function isRetryableGsError(err: unknown): boolean {
  const status = gsErrorStatus(err);
  if (status !== undefined) return GS_RETRY_STATUSES.has(status);
  if (err instanceof GsTryTimeoutError) return true;
  const code = gsNetworkCode(err);
  if (code !== undefined && RETRY_NETWORK_CODES.has(code)) return true;
  return err instanceof Error && RETRY_MESSAGE_RE.test(err.message);
}

/** `p`, or a rejection when `signal` aborts first (the SDK's calls take no signal: an abandoned one ends by the SDK's own timeout). */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

const GS_RETRY_POLICY: TryRetryPolicy = {
  defaults: {
    maxTries: DEFAULT_GS_MAX_TRIES,
    retryDelayMs: DEFAULT_GS_RETRY_DELAY_MS,
    maxRetryDelayMs: DEFAULT_GS_MAX_RETRY_DELAY_MS,
    tryTimeoutMs: DEFAULT_GS_TRY_TIMEOUT_MS,
  },
  isRetryable: (err) => isRetryableGsError(err),
  timeoutError: (ms) => new GsTryTimeoutError(ms),
  attemptsFailure: (error, attempts) => new GsAttemptsFailure(error, attempts),
};

/** Cloud Storage's tries: see TryRetry; giving up rejects with GsAttemptsFailure. */
export class GsRetry extends TryRetry {
  readonly shortTryTimeoutMs: number;

  constructor(o: GsRetryOptions = {}) {
    super(GS_RETRY_POLICY, o);
    this.shortTryTimeoutMs = Math.min(o.shortTryTimeoutMs ?? DEFAULT_GS_SHORT_TRY_TIMEOUT_MS, this.tryTimeoutMs);
  }

  /**
   * As TryRetry.run, with the deadline `shortTryTimeoutMs` for a `short` try
   * (one that sends no data), and each try given up when its signal aborts:
   * the SDK's calls take no signal.
   */
  override async run<T>(signal: AbortSignal | undefined, attempt: (signal: AbortSignal, tries: number) => Promise<T>, short: boolean | number = false): Promise<T> {
    const deadline = typeof short === 'number' ? short : short ? this.shortTryTimeoutMs : this.tryTimeoutMs;
    return super.run(signal, (s, tries) => untilAborted(attempt(s, tries), s), deadline);
  }
}
