import type { NatsConnection, ConnectionOptions } from '@nats-io/transport-node';
import type { ObjectStore } from '@nats-io/obj';
import { importBackendPackage } from '../backend-package.js';
import { NatsBucketMissingError } from './nats-errors.js';
import { DEFAULT_NATS_MAX_PINGS_OUT, DEFAULT_NATS_PING_INTERVAL_MS, type NatsSettings } from './nats-settings.js';

/**
 * With nothing in flight for this long the connection is closed, and the
 * next operation opens a new one. An idle replica then sends nothing at all
 * (not even pings), and a one-shot command is not kept alive by an open
 * socket once its work is done; short, since reconnecting costs one round
 * trip and one stream lookup.
 */
export const DEFAULT_NATS_IDLE_CLOSE_MS = 1_000;

export type TransportModule = typeof import('@nats-io/transport-node');
type ObjModule = typeof import('@nats-io/obj');

interface Live {
  nc: NatsConnection;
  store: ObjectStore;
}

/**
 * One NATS connection and the bucket's object store on it, opened on first
 * use and closed after an idle spell. Every operation holds a lease while it
 * runs (a read stream holds one until it ends); the idle timer runs only
 * when no lease is held.
 */
export class NatsConnectionHolder {
  #live: Promise<Live> | undefined;
  #leases = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Connections opened so far (tests check reconnects and idle closing with it). */
  connects = 0;

  constructor(
    readonly settings: Readonly<NatsSettings>,
    readonly idleCloseMs: number = DEFAULT_NATS_IDLE_CLOSE_MS,
  ) {}

  get open(): boolean {
    return this.#live !== undefined;
  }

  /** Takes a lease; the returned function gives it back (once). */
  lease(): () => void {
    this.#leases++;
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#leases === 0 && this.#live !== undefined) {
        this.#idleTimer = setTimeout(() => void this.close(), this.idleCloseMs);
      }
    };
  }

  /** The client package, for building headers; loaded by the first connect. */
  transport(): Promise<TransportModule> {
    return importBackendPackage('nats', '@nats-io/transport-node', () => import('@nats-io/transport-node'));
  }

  /** The object store, connecting first if need be. Call with a lease held. */
  store(): Promise<ObjectStore> {
    this.#live ??= this.#connect().catch((err: unknown) => {
      this.#live = undefined;
      throw err;
    });
    return this.#live.then((l) => l.store);
  }

  /**
   * Forgets a connection that failed under an operation, so the next try
   * opens a fresh one. It is closed in the background: closing flushes, and
   * on a stalled connection that would hold up the retry.
   */
  reset(): void {
    const live = this.#live;
    this.#live = undefined;
    void live?.then((l) => l.nc.close()).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const live = this.#live;
    this.#live = undefined;
    if (live === undefined) return;
    const l = await live.catch(() => undefined);
    await l?.nc.close().catch(() => undefined);
  }

  async #connect(): Promise<Live> {
    const transport = await this.transport();
    const obj: ObjModule = await importBackendPackage('nats', '@nats-io/obj', () => import('@nats-io/obj'));
    this.connects++;
    const nc = await transport.connect(connectOptions(transport, this.settings));
    // A connection the client gives up on (max-reconnects reached) is forgotten, so the next operation dials again.
    void nc.closed().then(() => {
      if (this.#live !== undefined) void this.#live.then((l) => l.nc === nc && (this.#live = undefined), () => undefined);
    });
    try {
      const store = await new obj.Objm(nc).open(this.settings.bucket).catch((err: unknown) => {
        throw err instanceof Error && /object store not found/i.test(err.message) ? new NatsBucketMissingError(err.message, { cause: err }) : err;
      });
      return { nc, store };
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }
}

function connectOptions(t: TransportModule, s: Readonly<NatsSettings>): ConnectionOptions {
  const enc = new TextEncoder();
  const o: ConnectionOptions = {
    servers: s.server,
    name: 'tidemark',
    maxReconnectAttempts: s.maxReconnects,
    reconnectTimeWait: s.reconnectWaitMs,
    timeout: s.connectTimeoutMs,
    pingInterval: DEFAULT_NATS_PING_INTERVAL_MS,
    maxPingOut: DEFAULT_NATS_MAX_PINGS_OUT,
  };
  const a = s.auth;
  switch (a.kind) {
    case 'jwt':
      o.authenticator = t.jwtAuthenticator(a.jwt, enc.encode(a.seed));
      break;
    case 'creds':
      o.authenticator = t.credsAuthenticator(enc.encode(a.creds));
      break;
    case 'nkey':
      o.authenticator = t.nkeyAuthenticator(enc.encode(a.seed));
      break;
    case 'user':
      o.user = a.username;
      o.pass = a.password;
      break;
    case 'token':
      o.token = a.token;
      break;
    case 'none':
      break;
  }
  if (s.tls !== undefined) {
    o.tls = {};
    if (s.tls.ca !== undefined) o.tls.ca = s.tls.ca;
    if (s.tls.cert !== undefined) o.tls.cert = s.tls.cert;
    if (s.tls.key !== undefined) o.tls.key = s.tls.key;
  }
  return o;
}
