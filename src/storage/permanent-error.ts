/**
 * Whether a failed storage call can succeed if tried again unchanged. A
 * read-only file system, a permission refused, a missing bucket or an HTTP
 * 4xx other than a timeout or throttling stays so until someone fixes it: a
 * one-shot run should end at once and say why, rather than retry. A full disk
 * is transient (space may come back); everything unknown is treated as
 * transient too.
 */

/** errno codes that retrying cannot fix. */
const PERMANENT_ERRNO = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);
/** HTTP statuses below 500 that do clear up by themselves: timeout, throttling. */
const TRANSIENT_4XX = new Set([408, 425, 429]);
/** Error codes, from object stores and their SDKs, of failures that stay. */
const PERMANENT_CODES = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'InvalidBucketName',
  'AccountProblem',
  'ExpiredToken',
  'InvalidToken',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
]);
/** How deep a cause chain is followed. */
const MAX_CAUSE_DEPTH = 8;

interface ErrorShape {
  code?: unknown;
  Code?: unknown;
  name?: unknown;
  status?: unknown;
  statusCode?: unknown;
  permanent?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  cause?: unknown;
}

/** True when `err` (or an error it wraps) is one that retrying cannot fix. */
export function isPermanentError(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < MAX_CAUSE_DEPTH; e = (e as ErrorShape).cause, depth++) {
    const s = e as ErrorShape;
    if (s.permanent === true) return true;
    if (typeof s.code === 'string' && (PERMANENT_ERRNO.has(s.code) || PERMANENT_CODES.has(s.code))) return true;
    // The AWS SDK names its errors by the service's code, in `Code` and `name`.
    if (typeof s.Code === 'string' && PERMANENT_CODES.has(s.Code)) return true;
    if (typeof s.name === 'string' && PERMANENT_CODES.has(s.name)) return true;
    const status = [s.status, s.statusCode, s.$metadata?.httpStatusCode].find((x) => typeof x === 'number') as number | undefined;
    if (status !== undefined && status >= 400 && status < 500 && !TRANSIENT_4XX.has(status)) return true;
  }
  return false;
}
