import { StorageError } from '../errors.js';
import { GsAttemptsFailure, gsErrorStatus, gsNetworkCode } from './gs-retry.js';

/**
 * A request to Google Cloud Storage that failed for good (after the tries it
 * was allowed). The message names the replica, what was being done and what
 * to check. `status` carries the HTTP status, so isPermanentError sees a 401,
 * 403 or 404 as a failure retrying cannot fix.
 */
export class GsStorageError extends StorageError {
  override name = 'GsStorageError';
  /** GCS's error reason (notFound, forbidden, …) or the network error code (ECONNREFUSED, …). */
  readonly code: string | undefined;
  /** HTTP status of the last response, when there was one. */
  readonly status: number | undefined;
  /** Set where no status says so: no credentials anywhere in the chain will not appear by retrying (isPermanentError reads it). */
  readonly permanent: boolean;

  constructor(message: string, options: { code?: string | undefined; status?: number | undefined; permanent?: boolean; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = options.code;
    this.status = options.status;
    this.permanent = options.permanent ?? false;
  }
}

export interface GsErrorContext {
  /** The replica as named in messages (describeGsReplica). */
  replica: string;
  bucket: string;
  /** What was being done, e.g. `listing ltx/0/`. */
  doing: string;
  /** Where the credential came from, for an access-denied hint. */
  credentialSource: string;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);
const TLS_CODE_RE = /^(CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|ERR_TLS_|ERR_SSL_)/;
/** How google-auth-library says the whole Application Default Credentials chain came up empty (if it ever reaches a caller: the SDK then sends requests anonymous). */
const NO_ADC_RE = /Could not load the default credentials/i;
/** How GCS words a 404 for the bucket rather than for an object. */
const BUCKET_MISSING_RE = /bucket does not exist|no such bucket|bucket .* not found/i;

interface ApiErrorShape {
  errors?: { reason?: unknown; message?: unknown }[];
  message?: unknown;
}

/** GCS's reason for an error (the first of its `errors`), if it gave one. */
function gsReason(err: unknown): string | undefined {
  const reason = (err as ApiErrorShape | null)?.errors?.[0]?.reason;
  return typeof reason === 'string' && reason !== '' ? reason : undefined;
}

function inner(err: unknown): unknown {
  return err instanceof GsAttemptsFailure ? err.error : err;
}

/** The 404 is for the bucket, not an object in it. */
export function isGsBucketMissing(err: unknown): boolean {
  const e = inner(err);
  return gsErrorStatus(e) === 404 && BUCKET_MISSING_RE.test(firstLine(e instanceof Error ? e.message : String(e)));
}

/** The object asked for is missing (and not because its bucket is). */
export function isGsObjectNotFound(err: unknown): boolean {
  return gsErrorStatus(inner(err)) === 404 && !isGsBucketMissing(err);
}

/** The SDK joins several errors into one message over many lines; the first says what happened. */
function firstLine(s: string): string {
  return (s.split('\n').find((l) => l.trim() !== '') ?? '').replace(/\s+/g, ' ').trim();
}

/** Turns an SDK or network failure into a GsStorageError naming the replica and what to check. */
export function toGsStorageError(err: unknown, ctx: GsErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const attempts = err instanceof GsAttemptsFailure ? err.attempts : undefined;
  const e = inner(err);
  if (e instanceof StorageError) return e;
  const status = gsErrorStatus(e);
  const reason = gsReason(e);
  const netCode = status === undefined ? gsNetworkCode(e) : undefined;
  const code = reason ?? netCode;
  const raw = firstLine(e instanceof Error ? e.message : String(e));
  const what = code === undefined ? raw : raw === '' || raw === code ? code : `${code}: ${raw}`;
  const tries = attempts !== undefined && attempts > 1 ? ` after ${attempts} attempts` : '';
  let detail: string;
  if (status === undefined && NO_ADC_RE.test(raw)) {
    const why = 'no credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a key file, run gcloud auth application-default login, or run on Google Cloud (or set STORAGE_EMULATOR_HOST for an emulator)';
    return new GsStorageError(`${ctx.replica}: ${ctx.doing}: ${why}`, { code: 'NoCredentials', cause: e, permanent: true });
  } else if (isGsBucketMissing(e)) {
    detail = `bucket ${JSON.stringify(ctx.bucket)} does not exist (${what}); create it (tidemark, like Litestream, does not), or check the bucket name`;
  } else if (status === 401) {
    detail = `not authenticated (${what}); check the credentials (${ctx.credentialSource})`;
  } else if (status === 403) {
    detail = `access denied (${what}); check that the credentials (${ctx.credentialSource}) may read, write and list objects in bucket ${JSON.stringify(ctx.bucket)}`;
  } else if (status === 404) {
    detail = `not found (${what}); check the bucket name`;
  } else if (netCode !== undefined && CONNECT_CODES.has(netCode)) {
    detail = `cannot reach Google Cloud Storage${tries} (${what}); check the network, and STORAGE_EMULATOR_HOST if it is set`;
  } else if (netCode !== undefined && DNS_CODES.has(netCode)) {
    detail = `cannot resolve Google Cloud Storage's host${tries} (${what}); check DNS, and STORAGE_EMULATOR_HOST if it is set`;
  } else if (netCode !== undefined && TIMEOUT_CODES.has(netCode)) {
    detail = `no response from Google Cloud Storage in time${tries} (${what}); check the network`;
  } else if (netCode !== undefined && TLS_CODE_RE.test(netCode)) {
    detail = `TLS certificate not accepted (${what})`;
  } else if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    detail = `Google Cloud Storage kept failing${tries} (${what}, HTTP ${status}); the service may be overloaded or down`;
  } else {
    detail = status === undefined ? `${what}${tries}` : `${what} (HTTP ${status})`;
  }
  return new GsStorageError(`${ctx.replica}: ${ctx.doing}: ${detail}`, { code, status, cause: e });
}
