import { StorageError } from '../errors.js';
import { absErrorCode, absErrorStatus, AbsAttemptsFailure } from './abs-retry.js';

/**
 * A request to Azure Blob Storage that failed for good (after the tries it
 * was allowed). The message names the replica, what was being done and what
 * to check. `status` carries the HTTP status, so isPermanentError sees a
 * 403 or 404 as a failure retrying cannot fix.
 */
export class AbsStorageError extends StorageError {
  override name = 'AbsStorageError';
  /** The Azure error code (ContainerNotFound, AuthorizationFailure, …) or the network error code (ECONNREFUSED, …). */
  readonly code: string | undefined;
  /** HTTP status of the last response, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options: { code?: string | undefined; status?: number | undefined; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = options.code;
    this.status = options.status;
  }
}

export interface AbsErrorContext {
  /** The replica as named in messages (describeAbsReplica). */
  replica: string;
  container: string;
  /** What was being done, e.g. `listing ltx/0/`. */
  doing: string;
  /** Where the credential came from, for an access-denied hint. */
  credentialSource: string;
}

const ACCESS_DENIED_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationServiceMismatch',
  'AuthorizationSourceIPMismatch',
  'InvalidAuthenticationInfo',
  'InsufficientAccountPermissions',
  'AccountIsDisabled',
  'KeyVaultEncryptionKeyNotPresent',
]);
/** What @azure/identity throws when DefaultAzureCredential finds or gets no token. */
const AZURE_AD_ERROR_NAMES = new Set(['CredentialUnavailableError', 'AggregateAuthenticationError', 'AuthenticationError']);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'REQUEST_SEND_ERROR']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);
const TLS_CODE_RE = /^(CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|ERR_TLS_|ERR_SSL_)/;

/** The blob asked for is missing (and not because its container is). */
export function isAbsBlobNotFound(err: unknown): boolean {
  const e = err instanceof AbsAttemptsFailure ? err.error : err;
  const code = absErrorCode(e);
  return code === 'BlobNotFound' || (absErrorStatus(e) === 404 && code !== 'ContainerNotFound' && code !== 'ResourceNotFound');
}

/**
 * Azure's messages end with `RequestId:…` and `Time:…` lines; the first line
 * is the explanation. Network errors are one line already.
 */
function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').replace(/\s+/g, ' ').trim();
}

/** Turns an SDK or network failure into an AbsStorageError naming the replica and what to check. */
export function toAbsStorageError(err: unknown, ctx: AbsErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const attempts = err instanceof AbsAttemptsFailure ? err.attempts : undefined;
  const e = err instanceof AbsAttemptsFailure ? err.error : err;
  if (e instanceof StorageError) return e;
  const code = absErrorCode(e);
  const status = absErrorStatus(e);
  const raw = firstLine(e instanceof Error ? e.message : String(e));
  const what = code === undefined ? raw : raw === '' || raw === code ? code : `${code}: ${raw}`;
  const tries = attempts !== undefined && attempts > 1 ? ` after ${attempts} attempts` : '';
  let detail: string;
  let permanent = false;
  if (e instanceof Error && AZURE_AD_ERROR_NAMES.has(e.name)) {
    // @azure/identity lists every credential it tried, one per line; the first line says it found none.
    detail = `no Azure AD token (${raw}); set an account key or a SAS token, or the Azure AD credentials DefaultAzureCredential reads (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET, a managed identity, az login)`;
    permanent = true;
  } else if (/Bearer token authentication is not permitted/i.test(raw)) {
    detail = `an Azure AD token is only sent over https, and the endpoint is http (${raw}); use an account key or a SAS token with this endpoint`;
    permanent = true;
  } else if (code === 'ContainerNotFound') {
    detail = `container ${JSON.stringify(ctx.container)} does not exist (${what}); create it (tidemark, like Litestream, does not), or check the container name, the account and the endpoint`;
  } else if ((code !== undefined && ACCESS_DENIED_CODES.has(code)) || status === 403) {
    detail = `access denied (${what}); check the account key or SAS token (from ${ctx.credentialSource}), its permissions and expiry, and the account name`;
  } else if (status === 404) {
    detail = `not found (${what}); check the account name and the endpoint`;
  } else if (code !== undefined && CONNECT_CODES.has(code) && status === undefined) {
    detail = `cannot reach the Azure Blob Storage endpoint${tries} (${what}); check the endpoint and that the service is running`;
  } else if (code !== undefined && DNS_CODES.has(code)) {
    detail = `cannot resolve the Azure Blob Storage endpoint's host${tries} (${what}); check the account name and the endpoint`;
  } else if (code !== undefined && TIMEOUT_CODES.has(code)) {
    detail = `no response from Azure Blob Storage in time${tries} (${what}); check the endpoint and the network`;
  } else if (code !== undefined && TLS_CODE_RE.test(code)) {
    detail = `TLS certificate not accepted (${what}); check the endpoint's certificate`;
  } else if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    detail = `Azure Blob Storage kept failing${tries} (${what}, HTTP ${status}); the service may be overloaded or down`;
  } else {
    detail = status === undefined ? `${what}${tries}` : `${what} (HTTP ${status})`;
  }
  const out = new AbsStorageError(`${ctx.replica}: ${ctx.doing}: ${detail}`, { code, status, cause: e });
  // Asking again finds no credential that was not there: `replicate -once` stops at once.
  if (permanent) Object.assign(out, { permanent: true });
  return out;
}
