import { StorageError } from '../errors.js';

/**
 * A request to S3 that failed for good (after the retries it was allowed).
 * The message names the replica, what was being done and what to check.
 */
export class S3StorageError extends StorageError {
  override name = 'S3StorageError';
  /** The S3 error code (NoSuchBucket, AccessDenied, …) or the network error code (ECONNREFUSED, …). */
  readonly code: string | undefined;
  /** HTTP status of the last response, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options: { code?: string | undefined; status?: number | undefined; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = options.code;
    this.status = options.status;
  }
}

/** DeleteObjects reported keys it could not delete. */
export class S3DeleteError extends S3StorageError {
  override name = 'S3DeleteError';
  readonly failures: readonly { key: string; code: string; message: string }[];

  constructor(message: string, failures: readonly { key: string; code: string; message: string }[]) {
    super(message, { code: failures[0]?.code });
    this.failures = failures;
  }
}

export interface S3ErrorContext {
  /** The replica as named in messages (describeS3Replica). */
  replica: string;
  bucket: string;
  /** What was being done, e.g. `listing level 0`. */
  doing: string;
  /** Where the credentials came from, for an access-denied hint. */
  credentialSource: string;
}

const ACCESS_DENIED_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'Forbidden',
  'AllAccessDisabled',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AccountProblem',
]);
const WRONG_REGION_CODES = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException']);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const TLS_CODE_RE = /^(CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|ERR_TLS_|ERR_SSL_)/;

interface SdkErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  Code?: unknown;
  cause?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** The S3 error code, or the errno code of the network failure underneath. */
export function s3ErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const s = e as SdkErrorShape;
    if (typeof s.Code === 'string') return s.Code;
    if (typeof s.code === 'string') return s.code;
    if (typeof s.name === 'string' && s.$metadata?.httpStatusCode !== undefined) return s.name;
    e = s.cause ?? (Array.isArray(s.errors) ? (s.errors as unknown[])[0] : undefined);
  }
  if (err instanceof Error && err.name !== 'Error') return err.name;
  return undefined;
}

export function s3ErrorStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

/** True for a missing object: GetObject says NoSuchKey, HeadObject a bare 404. */
export function isS3NotFound(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return code === 'NoSuchKey' || code === 'NotFound' || (s3ErrorStatus(err) === 404 && code !== 'NoSuchBucket');
}

/** One line: SDK messages can carry newlines and XML dumps. */
function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Turns an SDK or network failure into an S3StorageError naming the replica and what to check. */
export function toS3StorageError(err: unknown, ctx: S3ErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const code = s3ErrorCode(err);
  const status = s3ErrorStatus(err);
  const attempts = (err as SdkErrorShape | null)?.$metadata?.attempts;
  const raw = oneLine(err instanceof Error ? err.message : String(err));
  const what = code === undefined ? raw : raw === '' || raw === code ? code : `${code}: ${raw}`;
  const tries = attempts !== undefined && attempts > 1 ? ` after ${attempts} attempts` : '';
  let detail: string;
  if (code === 'NoSuchBucket') {
    detail = `bucket ${JSON.stringify(ctx.bucket)} does not exist (${what}); check the bucket name, the endpoint and the region`;
  } else if ((code !== undefined && ACCESS_DENIED_CODES.has(code)) || status === 403) {
    detail = `access denied (${what}); check the credentials (from ${ctx.credentialSource}) and the bucket's policy`;
  } else if ((code !== undefined && WRONG_REGION_CODES.has(code)) || status === 301) {
    detail = `the bucket is in another region (${what}); set the region option or ?region=`;
  } else if (code === 'CredentialsProviderError' || (err instanceof Error && err.name === 'CredentialsProviderError')) {
    detail =
      `no S3 credentials found (${raw}); set access-key-id/secret-access-key, ` +
      'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or LITESTREAM_ACCESS_KEY_ID/LITESTREAM_SECRET_ACCESS_KEY';
  } else if (code !== undefined && CONNECT_CODES.has(code) && status === undefined) {
    detail = `cannot reach the S3 endpoint${tries} (${what}); check the endpoint and that the server is running`;
  } else if (code !== undefined && DNS_CODES.has(code)) {
    detail = `cannot resolve the S3 endpoint's host${tries} (${what}); check the endpoint`;
  } else if (code === 'TimeoutError' || code === 'ETIMEDOUT') {
    detail = `no response from S3 in time${tries} (${what}); check the endpoint and the network`;
  } else if (code !== undefined && TLS_CODE_RE.test(code)) {
    detail = `TLS certificate not accepted (${what}); fix the certificate, or set skip-verify for a server you trust`;
  } else if (status !== undefined && (status >= 500 || status === 429)) {
    detail = `S3 kept failing${tries} (${what}, HTTP ${status}); the service may be overloaded or down`;
  } else {
    detail = status === undefined ? what : `${what} (HTTP ${status})`;
  }
  return new S3StorageError(`${ctx.replica}: ${ctx.doing}: ${detail}`, { code, status, cause: err });
}
