import { CompactionOptionsError } from './errors.js';

/**
 * The most recent compaction boundary at or before `now`: `now` rounded down
 * to a multiple of the interval, counted in absolute UTC time since the Unix
 * epoch. So 30 s, 5 min and 1 h boundaries fall on the wall clock's round
 * minutes and hours, and 24 h on 00:00 UTC. (Litestream counts from year 1
 * rather than 1970; both agree for every interval that divides a day.)
 * `now` itself when it is exactly on a boundary.
 */
export function prevCompactionAt(now: Date | number, intervalMs: number): Date {
  const t = toMs(now);
  checkInterval(intervalMs);
  const rem = t % intervalMs;
  return new Date(t - (rem < 0 ? rem + intervalMs : rem));
}

/** The first boundary strictly after `now`. */
export function nextCompactionAt(now: Date | number, intervalMs: number): Date {
  return new Date(prevCompactionAt(now, intervalMs).getTime() + intervalMs);
}

export function toMs(now: Date | number): number {
  const t = typeof now === 'number' ? now : now.getTime();
  if (!Number.isFinite(t)) throw new CompactionOptionsError(`invalid time ${String(now)}`);
  return t;
}

function checkInterval(intervalMs: number): void {
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new CompactionOptionsError(`invalid compaction interval ${String(intervalMs)} ms: expected a positive integer`);
  }
}
