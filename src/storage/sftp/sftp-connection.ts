import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, ConnectConfig, SFTPWrapper } from 'ssh2';
import { importBackendPackage } from '../backend-package.js';
import { createLogger, type Logger } from '../../logger.js';
import {
  isSftpConnectionError,
  SftpAuthenticationError,
  SftpHostKeyMismatchError,
  SftpStorageError,
  toSftpStorageError,
} from './sftp-errors.js';
import { hostKeyAlgorithms } from './sftp-host-key.js';
import type { SftpSettings } from './sftp-settings.js';

/** TCP connect plus SSH handshake and authentication must finish within this. */
export const DEFAULT_SFTP_CONNECT_TIMEOUT_MS = 20_000;
/**
 * A request without a reply for this long means a dead or stalled
 * connection: it is dropped and the operation retried on a new one. This
 * takes the place of SSH keepalives, which would make an idle replica chatty.
 */
export const DEFAULT_SFTP_REQUEST_TIMEOUT_MS = 30_000;
/** With nothing in flight for this long the connection is closed; the next operation opens a new one. */
export const DEFAULT_SFTP_IDLE_CLOSE_MS = 120_000;
/** Tries of an operation that keeps losing its connection before it fails. */
export const DEFAULT_SFTP_MAX_ATTEMPTS = 4;
/** Wait before the first reconnect; doubled each time up to DEFAULT_SFTP_RETRY_MAX_MS. */
export const DEFAULT_SFTP_RETRY_BASE_MS = 250;
export const DEFAULT_SFTP_RETRY_MAX_MS = 4_000;

/** Knobs that are not part of a replica's configuration (tests shorten them). */
export interface SftpConnectionTuning {
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  idleCloseMs?: number;
  maxAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Where the warning about an unchecked host key goes (default: stderr, at warn level). */
  logger?: Logger;
}

/** One open SSH connection with its SFTP channel. */
export interface SftpSession {
  readonly sftp: SFTPWrapper;
  /** Extensions the server announced, e.g. `fsync@openssh.com`. */
  readonly extensions: ReadonlySet<string>;
  /** Set once the connection has gone; a session is never reused after that. */
  readonly closed: boolean;
}

interface LiveSession extends SftpSession {
  client: Client;
  socket: Socket;
  closed: boolean;
}

/** Hosts whose unchecked key was already warned about, so a process warns once per server. */
const warnedHosts = new Set<string>();

/**
 * One lazily opened SSH connection with an SFTP channel, shared by every
 * operation of a replica client. A lost connection is noticed (by ssh2, or
 * by a request going unanswered) and the next operation opens a new one.
 * While nothing is in flight the socket does not keep the process alive,
 * and after a long idle spell it is closed.
 */
export class SftpConnection {
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleCloseMs: number;
  readonly maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #log: Logger;
  #session: Promise<LiveSession> | undefined;
  #live: LiveSession | undefined;
  #active = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Connections opened so far (tests check reconnects and idle closing with it). */
  connects = 0;

  constructor(
    private readonly settings: SftpSettings,
    /** The replica as named in messages. */
    readonly name: string,
    tuning: SftpConnectionTuning = {},
  ) {
    this.connectTimeoutMs = tuning.connectTimeoutMs ?? DEFAULT_SFTP_CONNECT_TIMEOUT_MS;
    this.requestTimeoutMs = tuning.requestTimeoutMs ?? DEFAULT_SFTP_REQUEST_TIMEOUT_MS;
    this.idleCloseMs = tuning.idleCloseMs ?? DEFAULT_SFTP_IDLE_CLOSE_MS;
    this.maxAttempts = Math.max(1, tuning.maxAttempts ?? DEFAULT_SFTP_MAX_ATTEMPTS);
    this.#retryBaseMs = tuning.retryBaseMs ?? DEFAULT_SFTP_RETRY_BASE_MS;
    this.#retryMaxMs = tuning.retryMaxMs ?? DEFAULT_SFTP_RETRY_MAX_MS;
    this.#log = tuning.logger ?? createLogger({ level: 'warn' });
  }

  /** True while a connection is open. */
  get isOpen(): boolean {
    return this.#live !== undefined && !this.#live.closed;
  }

  /**
   * Runs `fn` on a session. If the connection is lost on the way (and
   * `retry` is not false), the session is dropped and `fn` runs again on a
   * new one, up to maxAttempts in all. Failures end as SftpStorageError
   * naming the replica and `doing`.
   */
  async run<T>(doing: string, fn: (s: SftpSession) => Promise<T>, opts: { signal?: AbortSignal; retry?: boolean } = {}): Promise<T> {
    const attempts = opts.retry === false ? 1 : this.maxAttempts;
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted();
      this.#enter();
      try {
        const s = await this.#get();
        return await fn(s);
      } catch (err) {
        if (opts.signal?.aborted === true && err === opts.signal.reason) throw err;
        if (!isSftpConnectionError(err) || attempt >= attempts || this.#closed) throw toSftpStorageError(err, this.name, doing, attempt);
        this.#drop();
      } finally {
        this.#leave();
      }
      const delay = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (attempt - 1));
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }

  /**
   * One SFTP request: `start` issues it with the callback it is given. A
   * reply that does not come within requestTimeoutMs drops the connection
   * and rejects with a connection error.
   */
  request<T>(s: SftpSession, start: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
    if (s.closed) return Promise.reject(Object.assign(new Error('Not connected'), { code: 'ECONNLOST' }));
    this.#enter();
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        reject(Object.assign(new Error(`no reply from the server in ${this.requestTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
        this.#destroy(s as LiveSession);
      }, this.requestTimeoutMs);
      try {
        start((err, value) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(value as T);
        });
      } catch (err) {
        done = true;
        clearTimeout(timer);
        reject(err as Error);
      }
    }).finally(() => this.#leave());
  }

  /** Closes the connection; later operations open a new one unless `final`. */
  close(final = true): void {
    if (final) this.#closed = true;
    this.#drop();
  }

  #enter(): void {
    this.#active++;
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    this.#live?.socket.ref();
  }

  #leave(): void {
    this.#active--;
    if (this.#active > 0 || this.#live === undefined) return;
    // Nothing in flight: a replicator waiting for the next commit, or a finished one-shot run that should exit.
    this.#live.socket.unref();
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#active === 0) this.#drop();
    }, this.idleCloseMs);
    this.#idleTimer.unref();
  }

  #drop(): void {
    const live = this.#live;
    this.#session = undefined;
    this.#live = undefined;
    if (live !== undefined) this.#destroy(live);
  }

  #destroy(live: LiveSession): void {
    live.closed = true;
    if (this.#live === live) {
      this.#live = undefined;
      this.#session = undefined;
    }
    live.client.end();
    live.socket.destroy();
  }

  #get(): Promise<LiveSession> {
    if (this.#closed) return Promise.reject(new SftpStorageError(`${this.name}: the client was closed`, { permanent: true }));
    if (this.#live?.closed === true) this.#drop();
    if (this.#session === undefined) {
      const p = this.#open();
      this.#session = p;
      p.then(
        (live) => {
          if (this.#session === p) this.#live = live;
          else this.#destroy(live);
        },
        () => {
          if (this.#session === p) this.#session = undefined;
        },
      );
    }
    return this.#session;
  }

  async #open(): Promise<LiveSession> {
    const ssh2 = await importBackendPackage('sftp', 'ssh2', () => import('ssh2'));
    const ClientCtor = (ssh2 as { Client?: typeof Client }).Client ?? (ssh2 as unknown as { default: { Client: typeof Client } }).default.Client;
    const { host, port } = this.settings;
    const deadline = Date.now() + this.connectTimeoutMs;
    const socket = await connectTcp(host, port, this.connectTimeoutMs);
    const client = new ClientCtor();
    let hostKeyRejected: string | undefined;
    const config: ConnectConfig = {
      sock: socket,
      username: this.settings.user,
      readyTimeout: Math.max(1, deadline - Date.now()),
      hostVerifier: (key: Buffer) => {
        const pinned = this.settings.hostKey;
        if (pinned === undefined) {
          this.#warnUnchecked(key);
          return true;
        }
        if (key.equals(pinned.blob)) return true;
        hostKeyRejected = fingerprint(key);
        return false;
      },
    };
    if (this.settings.password !== undefined) config.password = this.settings.password;
    if (this.settings.privateKey !== undefined) config.privateKey = this.settings.privateKey;
    if (this.settings.hostKey !== undefined) {
      type HostKeyAlgorithms = NonNullable<NonNullable<ConnectConfig['algorithms']>['serverHostKey']>;
      config.algorithms = { serverHostKey: hostKeyAlgorithms(this.settings.hostKey.type) as HostKeyAlgorithms };
    }

    const live = await new Promise<LiveSession>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        client.end();
        socket.destroy();
        reject(this.#connectError(err, hostKeyRejected));
      };
      // ssh2 can emit more than one error as a connection dies; past the first, there is nobody left to tell.
      client.on('error', () => undefined);
      client.once('error', fail);
      client.once('close', () => fail(Object.assign(new Error('Connection lost before the session was ready'), { code: 'ECONNRESET' })));
      client.once('ready', () => {
        client.sftp((err, sftp) => {
          if (err) return fail(err);
          if (settled) return;
          settled = true;
          const extensions = new Set(Object.keys((sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {}));
          const s: LiveSession = { client, socket, sftp, extensions, closed: false };
          // Errors after the handshake end the session; the operation in flight sees its request fail.
          client.on('error', () => this.#destroy(s));
          client.on('close', () => this.#destroy(s));
          sftp.on('close', () => this.#destroy(s));
          resolve(s);
        });
      });
      try {
        client.connect(config);
      } catch (err) {
        fail(err);
      }
    });
    this.connects++;
    return live;
  }

  #warnUnchecked(key: Buffer): void {
    const where = `${this.settings.host}:${this.settings.port}`;
    if (warnedHosts.has(where)) return;
    warnedHosts.add(where);
    this.#log.warn('sftp host key not verified: set host-key to pin it', { host: where, key: fingerprint(key) });
  }

  #connectError(err: unknown, hostKeyRejected: string | undefined): unknown {
    const where = `${this.settings.host}:${this.settings.port}`;
    if (hostKeyRejected !== undefined) {
      return new SftpHostKeyMismatchError(`${this.name}: the host key of ${where} (${hostKeyRejected}) is not the one host-key pins; if the server's key was changed on purpose, update host-key`, { code: 'HOST_KEY_MISMATCH', permanent: true, cause: err });
    }
    const e = err as { level?: unknown; message?: unknown };
    if (e.level === 'client-authentication') {
      const methods = [this.settings.password !== undefined ? 'password' : '', this.settings.keyPath !== undefined ? `key-path ${this.settings.keyPath}` : '']
        .filter((m) => m !== '')
        .join(' and ');
      return new SftpAuthenticationError(`${this.name}: authentication as ${this.settings.user} on ${where} failed (tried ${methods === '' ? 'no password or key' : methods}); check user, password and key-path`, { code: 'AUTH_FAILED', permanent: true, cause: err });
    }
    if (typeof e.message === 'string' && /Cannot parse privateKey|Encrypted private OpenSSH key|passphrase/i.test(e.message)) {
      return new SftpStorageError(`${this.name}: key-path ${this.settings.keyPath ?? ''}: ${e.message} (an unencrypted private key is needed)`, { code: 'BAD_KEY', permanent: true, cause: err });
    }
    return err;
  }
}

/** OpenSSH's fingerprint format: `SHA256:` and unpadded base64. */
function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    // Without Nagle: SFTP requests are small writes answered one by one, and waiting to coalesce them costs a delayed ACK each.
    const socket = netConnect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connecting to ${host}:${port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT', level: 'client-timeout' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // ssh2 attaches its own error handling; until then, an error here would be unhandled.
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
