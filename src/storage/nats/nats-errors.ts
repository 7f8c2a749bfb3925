import { TidemarkError } from '../../errors.js';
import { StorageError } from '../errors.js';

/**
 * A NATS request that failed for good (after the tries it was allowed). The
 * message names the replica, what was being done and what to check;
 * `permanent` tells isPermanentError whether retrying can help.
 */
export class NatsStorageError extends StorageError {
  override name = 'NatsStorageError';
  /** The client's error name (AuthorizationError, TimeoutError, …) or a network code (ECONNREFUSED, …). */
  readonly code: string | undefined;
  readonly permanent: boolean;

  constructor(message: string, options: { code?: string | undefined; permanent?: boolean; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = options.code;
    this.permanent = options.permanent ?? false;
  }
}

/** Opening the object store found no stream behind the bucket name. */
export class NatsBucketMissingError extends TidemarkError {
  override name = 'NatsBucketMissingError';
}

/** A read that moved no byte for too long. */
export class NatsIdleTimeoutError extends TidemarkError {
  override name = 'NatsIdleTimeoutError';
  readonly code = 'ETIMEDOUT';

  constructor(readonly timeoutMs: number) {
    super(`no data within ${timeoutMs} ms`);
  }
}

export interface NatsErrorContext {
  /** The replica as named in messages (describeNatsReplica). */
  replica: string;
  bucket: string;
  /** What was being done, e.g. `listing the bucket`. */
  doing: string;
  /** Where the credential came from, for an authorization hint. */
  authSource: string;
  attempts?: number;
  /** Whether the connection uses TLS, for a hint when connecting times out. */
  tls?: boolean;
}

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
}

const MAX_CAUSE_DEPTH = 5;

/** Each error of a cause chain, outermost first. */
function* chain(err: unknown): Generator<ErrorShape> {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < MAX_CAUSE_DEPTH; e = (e as ErrorShape).cause, depth++) yield e as ErrorShape;
}

/** A system error code (ECONNREFUSED, …) anywhere in the chain. */
function networkCode(err: unknown): string | undefined {
  for (const e of chain(err)) if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code;
  return undefined;
}

function nameOf(err: unknown): string | undefined {
  const n = (err as ErrorShape | null)?.name;
  return typeof n === 'string' ? n : undefined;
}

function messageOf(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0]!.trim();
}

const TLS_CODE_RE = /^(CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|ERR_TLS_|ERR_SSL_)/;
const TLS_MESSAGE_RE = /certificate|tls|ssl/i;
/** Client error names that another try, once the connection is back, can cure. */
const RETRY_NAMES = new Set(['TimeoutError', 'ConnectionError', 'NoRespondersError', 'ClosedConnectionError', 'DrainingConnectionError', 'NatsIdleTimeoutError']);
const RETRY_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

function isAuthError(err: unknown): boolean {
  for (const e of chain(err)) {
    // The server's "Authentication Timeout" means the handshake did not finish in time (a slow or stalled link), not a wrong credential.
    if (typeof e.message === 'string' && /authentication timeout/i.test(e.message)) return false;
    const n = nameOf(e);
    if (n === 'AuthorizationError' || n === 'UserAuthenticationExpiredError') return true;
    if (typeof e.message === 'string' && /authorization violation|authentication expired/i.test(e.message)) return true;
  }
  return false;
}

/** The server runs without JetStream (the client finds no one answering its JetStream API). */
function isJetStreamOff(err: unknown): boolean {
  for (const e of chain(err)) {
    if (nameOf(e) === 'JetStreamNotEnabled') return true;
    if (typeof e.message === 'string' && /jetstream (is )?not enabled/i.test(e.message)) return true;
  }
  return false;
}

function isTlsError(err: unknown): boolean {
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && TLS_CODE_RE.test(e.code)) return true;
    if (typeof e.message === 'string' && TLS_MESSAGE_RE.test(e.message) && nameOf(e) !== 'TimeoutError') return true;
  }
  return false;
}

/** Whether a failed try is worth repeating unchanged. */
export function isRetryableNatsError(err: unknown): boolean {
  if (err instanceof StorageError || isAuthError(err) || isTlsError(err)) return false;
  if (err instanceof NatsBucketMissingError || isJetStreamOff(err)) return false;
  for (const e of chain(err)) {
    const n = nameOf(e);
    if (n !== undefined && RETRY_NAMES.has(n)) return true;
    if (typeof e.code === 'string' && RETRY_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && /timeout|disconnect|connection (closed|lost|refused)|no responders|503/i.test(e.message)) return true;
  }
  return false;
}

/** Turns a client or network failure into a NatsStorageError naming the replica and what to check. */
export function toNatsStorageError(err: unknown, ctx: NatsErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const tries = ctx.attempts !== undefined && ctx.attempts > 1 ? ` after ${ctx.attempts} attempts` : '';
  const raw = messageOf(err);
  const net = networkCode(err);
  const code = net ?? nameOf(err);
  let detail: string;
  let permanent = true;
  if (err instanceof NatsBucketMissingError) {
    detail = `bucket ${JSON.stringify(ctx.bucket)} does not exist (${raw}); create the object store first (tidemark, like Litestream, does not), e.g. nats object add ${ctx.bucket}`;
  } else if (isAuthError(err)) {
    detail = `authorization failed (${raw}); check the credentials (from ${ctx.authSource}) and the user's permissions`;
  } else if (/permissions violation/i.test(raw)) {
    detail = `permission denied (${raw}); the user (from ${ctx.authSource}) may not use the bucket's JetStream subjects`;
  } else if (isJetStreamOff(err)) {
    detail = `JetStream is not enabled on the server (${raw}); start nats-server with -js`;
  } else if (isTlsError(err)) {
    detail = `TLS failed (${raw}); check tls, root-cas, client-cert and client-key against the server's TLS setup`;
  } else if (net !== undefined && RETRY_CODES.has(net)) {
    permanent = false;
    detail = `cannot reach the NATS server${tries} (${net}: ${raw}); check the host and port and that nats-server is running`;
  } else if (isRetryableNatsError(err)) {
    permanent = false;
    // A TLS server drops a client whose certificate it refuses during the handshake, which the client only sees as a timeout.
    const tlsHint = ctx.tls === true && ctx.doing === 'connecting' ? ', or refuse the client certificate' : '';
    detail = `the NATS server did not answer${tries} (${code === undefined ? raw : `${code}: ${raw}`}); it may be overloaded, restarting or unreachable${tlsHint}`;
  } else {
    // Unknown failures count as transient, the project's rule (see permanent-error.ts).
    permanent = false;
    detail = code === undefined || raw.includes(code) ? `${raw}${tries}` : `${code}: ${raw}${tries}`;
  }
  return new NatsStorageError(`${ctx.replica}: ${ctx.doing}: ${detail}`, { code, permanent, cause: err });
}
