import { StorageError } from '../errors.js';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02, section 7) that the client acts on. */
export const SFTP_STATUS = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/**
 * An SFTP replica operation that failed for good (after any reconnects it
 * was allowed). The message names the replica, what was being done and the
 * cause; `permanent` tells a one-shot run to stop rather than retry.
 */
export class SftpStorageError extends StorageError {
  override name = 'SftpStorageError';
  /** errno-style code of a network failure, or the SFTP status code. */
  readonly code: string | number | undefined;
  readonly permanent: boolean;

  constructor(message: string, options: { code?: string | number | undefined; permanent?: boolean; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = options.code;
    this.permanent = options.permanent ?? false;
  }
}

/** The server presented another host key than the pinned one. */
export class SftpHostKeyMismatchError extends SftpStorageError {
  override name = 'SftpHostKeyMismatchError';
}

/** The server refused every authentication method offered. */
export class SftpAuthenticationError extends SftpStorageError {
  override name = 'SftpAuthenticationError';
}

interface Ssh2ErrorShape {
  code?: unknown;
  level?: unknown;
  message?: unknown;
}

/** Network errno codes after which a new connection may well succeed. */
const TRANSIENT_NET_CODES = new Set(['ECONNLOST', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/** Codes of a connection that never came up, as opposed to one that was lost. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** Messages ssh2 gives a request or session cut off by a lost connection. */
const LOST_CONNECTION_RE = /No response from server|Not connected|Keepalive timeout|Timed out while waiting for handshake|Connection lost|channel.*(closed|open failure)|Unable to start subsystem|write after end/i;

/**
 * True when the failure is the connection going away (or never coming up for
 * a reason that can clear), so the operation is worth trying again on a new
 * connection. SFTP status replies other than NO_CONNECTION/CONNECTION_LOST are
 * answers from a working server and are not retried.
 */
export function isSftpConnectionError(err: unknown): boolean {
  if (err instanceof SftpStorageError) return !err.permanent && typeof err.code === 'string' && TRANSIENT_NET_CODES.has(err.code);
  const e = err as Ssh2ErrorShape | null;
  if (e === null || typeof e !== 'object') return false;
  if (e.code === SFTP_STATUS.NO_CONNECTION || e.code === SFTP_STATUS.CONNECTION_LOST) return true;
  if (typeof e.code === 'number') return false;
  if (typeof e.code === 'string' && TRANSIENT_NET_CODES.has(e.code)) return true;
  if (e.level === 'client-socket' || e.level === 'client-timeout') return true;
  return typeof e.message === 'string' && LOST_CONNECTION_RE.test(e.message);
}

export function sftpStatus(err: unknown): number | undefined {
  const code = (err as Ssh2ErrorShape | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isSftpNotFound(err: unknown): boolean {
  return sftpStatus(err) === SFTP_STATUS.NO_SUCH_FILE;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/**
 * Turns an ssh2 failure into an SftpStorageError: `replica: doing: cause`.
 * Permission denied and other refusals of a working server are permanent;
 * a lost connection, a refused or timed-out connect are transient.
 */
export function toSftpStorageError(err: unknown, replica: string, doing: string, attempts = 1): StorageError {
  if (err instanceof StorageError) return err;
  const raw = oneLine(err instanceof Error ? err.message : String(err));
  const status = sftpStatus(err);
  const code = (err as Ssh2ErrorShape | null)?.code;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  if (status === SFTP_STATUS.PERMISSION_DENIED) {
    return new SftpStorageError(`${replica}: ${doing}: permission denied (${raw}); check the path and the user's rights on the server`, { code: status, permanent: true, cause: err });
  }
  if (status === SFTP_STATUS.OP_UNSUPPORTED) {
    return new SftpStorageError(`${replica}: ${doing}: the server does not support this operation (${raw})`, { code: status, permanent: true, cause: err });
  }
  if (isSftpConnectionError(err)) {
    const what = typeof code === 'string' ? `${code}${raw.includes(code) ? '' : `: ${raw}`}` : raw;
    const level = (err as Ssh2ErrorShape | null)?.level;
    const unreachable = (typeof code === 'string' && UNREACHABLE_CODES.has(code)) || level === 'client-timeout' || /waiting for handshake/i.test(raw);
    const detail = unreachable
      ? `cannot reach the SFTP server${tries} (${what}); check the host, the port and that the server is running`
      : `lost the connection to the SFTP server${tries} (${what})`;
    return new SftpStorageError(`${replica}: ${doing}: ${detail}`, { code: typeof code === 'string' ? code : 'ECONNLOST', cause: err });
  }
  if (status === SFTP_STATUS.FAILURE) {
    // OpenSSH answers a generic failure for ENOTDIR, EEXIST on mkdir over a file, a full disk…: it may clear, so it is retried upstream.
    return new SftpStorageError(`${replica}: ${doing}: the server reported a failure (${raw})`, { code: status, cause: err });
  }
  return new SftpStorageError(`${replica}: ${doing}: ${raw}`, { code: typeof code === 'string' || typeof code === 'number' ? code : undefined, cause: err });
}
