/**
 * Where each write's sync runs: on the main thread, or in libuv's thread pool.
 *
 * Handing a sync to the thread pool costs two cross-CPU wake-ups (the pool
 * thread, then the event loop), about 50 µs on a 2-core VM: a third of what
 * an fdatasync of a preallocated segment costs there. That is pure latency for
 * a lone appender, and for any closed loop (appenders that await their append
 * before making the next one), where nothing can use the main thread while the
 * sync runs anyway. The thread pool pays only when appends keep arriving during
 * the sync, so that their encoding overlaps it.
 *
 * So a sync runs on the main thread while both hold:
 * - syncs are fast: the last one took at most INLINE_SYNC_MAX_MS, which bounds
 *   how long the event loop is held (a slow disk switches back at once);
 * - no appends arrived during the last sync that ran in the thread pool. Every
 *   PROBE_EVERY_WRITES writes one sync is sent to the pool again to find out.
 *
 * The choice changes only who waits for the sync, never what is synced or
 * when an append is acknowledged.
 */

/** Longest sync, in ms, after which the next one is still made on the main thread. */
export const INLINE_SYNC_MAX_MS = 1;
/** Every this many inline writes, one sync goes to the thread pool to see whether appends arrive meanwhile. */
export const PROBE_EVERY_WRITES = 64;

export class SyncPolicy {
  private lastSyncMs = Number.POSITIVE_INFINITY;
  private arrivalsDuringSync = true;
  private inlineWrites = 0;

  constructor(private readonly enabled: boolean) {}

  /** True when the next write's sync should run on the main thread. */
  inline(): boolean {
    if (!this.enabled || this.arrivalsDuringSync || this.lastSyncMs > INLINE_SYNC_MAX_MS) return false;
    if (++this.inlineWrites >= PROBE_EVERY_WRITES) {
      this.inlineWrites = 0;
      return false;
    }
    return true;
  }

  /**
   * Records how long a write's sync took and, for a sync run in the thread
   * pool, whether appends arrived while it ran.
   */
  observe(syncMs: number, inline: boolean, arrivals: boolean): void {
    this.lastSyncMs = syncMs;
    if (!inline) this.arrivalsDuringSync = arrivals;
  }
}
