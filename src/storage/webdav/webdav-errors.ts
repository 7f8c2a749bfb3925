import { StorageError } from '../errors.js';
import { WebdavAttemptsFailure, webdavErrorCode, webdavErrorStatus } from './webdav-retry.js';

/**
 * A request to a WebDAV server that failed for good (after the tries it was
 * allowed). The message names the replica, what was being done and what to
 * check. `status` carries the HTTP status, so isPermanentError sees a 401,
 * 403 or 409 as a failure retrying cannot fix.
 */
export class WebdavStorageError extends StorageError {
  override name = 'WebdavStorageError';
  /** The network error code (ECONNREFUSED, …), when there was no response. */
  readonly code: string | undefined;
  /** HTTP status of the last response, when there was one. */
  readonly status: number | undefined;
  /** Set for failures without a status that retrying cannot fix either: a certificate that is not trusted. */
  readonly permanent: boolean;

  constructor(message: string, options: { code?: string | undefined; status?: number | undefined; permanent?: boolean; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = options.code;
    this.status = options.status;
    this.permanent = options.permanent ?? false;
  }
}

export interface WebdavErrorContext {
  /** The replica as named in messages (describeWebdavReplica). */
  replica: string;
  /** What was being done, e.g. `listing /db/ltx/0`. */
  doing: string;
  /** Where the credentials came from, for an authentication hint. */
  credentialSource: string;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);
const LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);
const TLS_CODE_RE = /^(CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH|ERR_CERT)/;

/** The resource asked for does not exist. */
export function isWebdavNotFound(err: unknown): boolean {
  return webdavErrorStatus(err) === 404 || webdavErrorStatus(err) === 410;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Turns a webdav package or network failure into a WebdavStorageError naming the replica and what to check. */
export function toWebdavStorageError(err: unknown, ctx: WebdavErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const attempts = err instanceof WebdavAttemptsFailure ? err.attempts : undefined;
  const e = err instanceof WebdavAttemptsFailure ? err.error : err;
  if (e instanceof StorageError) return e;
  const code = webdavErrorCode(e);
  const status = webdavErrorStatus(e);
  const message = oneLine(e instanceof Error ? e.message : String(e));
  // node-fetch says `request to URL failed, reason: …`; the URL is in the message's prefix already.
  const raw = /^request to \S+ failed, reason: (.*)$/.exec(message)?.[1] ?? message;
  const what = code === undefined || raw.includes(code) ? raw : `${code}: ${raw}`;
  const tries = attempts !== undefined && attempts > 1 ? ` after ${attempts} attempts` : '';
  let detail: string;
  if (status === 401) {
    detail =
      ctx.credentialSource === 'none given'
        ? `the server asks for credentials (HTTP 401); give them as webdav://USER:PASSWORD@host/path or with webdav-username and webdav-password`
        : `authentication failed (HTTP 401); check the user name and password (from ${ctx.credentialSource})`;
  } else if (status === 403) {
    detail = `access denied (HTTP 403); check that the user may write to this path on the server`;
  } else if (status === 404) {
    detail = `not found (HTTP 404); check the host and the path`;
  } else if (status === 405) {
    detail = `the server does not allow this here (HTTP 405); check that the URL points into a WebDAV share`;
  } else if (status === 409) {
    detail = `conflict (HTTP 409): a parent collection is missing or a file stands where a collection should be; check the path`;
  } else if (status === 507) {
    detail = `the server is out of space${tries} (HTTP 507)`;
  } else if (code !== undefined && CONNECT_CODES.has(code) && status === undefined) {
    detail = `cannot reach the WebDAV server${tries} (${what}); check the host, the port and that the server is running`;
  } else if (code !== undefined && LOST_CODES.has(code)) {
    detail = `lost the connection to the WebDAV server${tries} (${what})`;
  } else if (code !== undefined && DNS_CODES.has(code)) {
    detail = `cannot resolve the WebDAV server's host${tries} (${what}); check the host name`;
  } else if ((code !== undefined && TIMEOUT_CODES.has(code)) || /no response within/.test(raw)) {
    detail = `no response from the WebDAV server in time${tries} (${what}); check the host and the network`;
  } else if (code !== undefined && TLS_CODE_RE.test(code)) {
    detail = `TLS certificate not accepted (${what}); check the server's certificate, or trust its CA with NODE_EXTRA_CA_CERTS`;
  } else if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    detail = `the WebDAV server kept failing${tries} (HTTP ${status}); it may be overloaded or down`;
  } else {
    detail = status === undefined ? `${what}${tries}` : `${what} (HTTP ${status})`;
  }
  const permanent = status === undefined && code !== undefined && TLS_CODE_RE.test(code);
  return new WebdavStorageError(`${ctx.replica}: ${ctx.doing}: ${detail}`, { code, status, cause: e, permanent });
}
