import { MIN_HEARTBEAT_INTERVAL_MS } from '../config/defaults.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { ReplicationStatus } from '../replication/db-replicator.js';

/** How often the heartbeat looks at the databases' health, as Litestream's monitor (15 s). */
export const DEFAULT_HEARTBEAT_CHECK_INTERVAL_MS = 15_000;
/** How long one heartbeat request may take, as Litestream's client (30 s). */
export const HEARTBEAT_TIMEOUT_MS = 30_000;

export interface HeartbeatOptions {
  /** GET this URL (http or https) while every database is healthy and current. */
  url: string;
  /** At most one request per interval; raised to MIN_HEARTBEAT_INTERVAL_MS (1 min) if lower. */
  intervalMs: number;
  /** The databases to judge, asked at every check (a Store's `status()`). */
  databases: () => readonly (ReplicationStatus & { readonly path?: string })[];
  logger?: Logger;
  checkIntervalMs?: number;
  /** For tests: the clock. */
  now?: () => number;
}

/** What a check did. */
export type HeartbeatCheck =
  | { readonly sent: true; readonly status: number }
  | { readonly sent: false; readonly reason: 'not-due' | 'no-databases' | 'stopped'; readonly detail?: string }
  | { readonly sent: false; readonly reason: 'unhealthy'; readonly detail: string }
  | { readonly sent: false; readonly reason: 'failed'; readonly detail: string };

/**
 * Litestream's heartbeat (`heartbeat-url`, `heartbeat-interval`): a GET to a
 * monitoring URL (a dead man's switch such as healthchecks.io) only while
 * every database is healthy and current, so the monitor raises the alarm
 * when the pings stop. A database is healthy and current when neither it nor
 * any of its replicas reports an error and every replica holds its newest
 * TXID; an idle database that is fully replicated counts as current. A ping
 * is attempted at most once per interval, also after a failure, so a broken
 * endpoint is not hammered.
 */
export class Heartbeat {
  readonly #o: HeartbeatOptions;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  #lastAttempt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #inFlight: Promise<HeartbeatCheck> | undefined;

  constructor(options: HeartbeatOptions) {
    if (!/^https?:\/\//i.test(options.url)) throw new RangeError(`heartbeat URL must start with http:// or https:// (got ${JSON.stringify(options.url)})`);
    this.#o = options;
    this.#intervalMs = Math.max(options.intervalMs, MIN_HEARTBEAT_INTERVAL_MS);
    this.#log = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** When the last request was attempted (undefined before the first). */
  get lastAttemptAt(): Date | undefined {
    return this.#lastAttempt === undefined ? undefined : new Date(this.#lastAttempt);
  }

  /** Checks every `checkIntervalMs`; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setInterval(() => void this.check(), this.#o.checkIntervalMs ?? DEFAULT_HEARTBEAT_CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight?.catch(() => undefined);
  }

  /** One look: sends the ping when it is due and every database is healthy and current. */
  check(): Promise<HeartbeatCheck> {
    this.#inFlight ??= this.#check().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #check(): Promise<HeartbeatCheck> {
    if (this.#stopped) return { sent: false, reason: 'stopped' };
    const now = this.#now();
    if (this.#lastAttempt !== undefined && now - this.#lastAttempt < this.#intervalMs) return { sent: false, reason: 'not-due' };
    const dbs = this.#o.databases();
    if (dbs.length === 0) return { sent: false, reason: 'no-databases' };
    const problem = dbs.map(unhealthy).find((p) => p !== undefined);
    if (problem !== undefined) {
      this.#log.debug('heartbeat withheld', { reason: problem });
      return { sent: false, reason: 'unhealthy', detail: problem };
    }
    // Counted before the request, so that a failing endpoint is tried once per interval at most.
    this.#lastAttempt = now;
    try {
      const res = await fetch(this.#o.url, { method: 'GET', signal: AbortSignal.timeout(HEARTBEAT_TIMEOUT_MS), redirect: 'follow' });
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) throw new Error(`unexpected status code: ${res.status}`);
      this.#log.debug('heartbeat sent', { url: this.#o.url });
      return { sent: true, status: res.status };
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.#log.error('heartbeat failed', { url: this.#o.url, error: detail });
      return { sent: false, reason: 'failed', detail };
    }
  }
}

/** Why a database is not healthy and current, or undefined when it is. */
function unhealthy(s: ReplicationStatus & { readonly path?: string }): string | undefined {
  const db = s.path ?? 'database';
  if (s.lastError !== undefined) return `${db}: ${s.lastError.message}`;
  if (s.localTxid === 0n) return `${db}: nothing replicated yet`;
  for (const r of s.replicas) {
    if (r.lastError !== undefined) return `${db}: replica ${r.name}: ${r.lastError.message}`;
    if (r.replicatedTxid < s.localTxid) return `${db}: replica ${r.name} is behind (TXID ${r.replicatedTxid} of ${s.localTxid})`;
  }
  return undefined;
}
