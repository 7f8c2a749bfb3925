import type { FileHandle } from 'node:fs/promises';

/**
 * How the running libuv turns utimes' double seconds into a timespec. Both
 * truncate `(seconds - whole seconds) * 1e9`; libuv up to Node 22 then also
 * drops the sub-microsecond digits, later ones keep them.
 */
export type UtimesResolution = 'microseconds' | 'nanoseconds';

/**
 * Half a microsecond, in seconds. A double near today's epoch seconds is only
 * good to about ±120 ns, so a time exactly on a millisecond often lands just
 * under it and, truncated to the microsecond, loses a whole microsecond. Aimed
 * half a microsecond late, both truncations land on the millisecond.
 */
const MICROSECOND_ROUNDING_SECONDS = 5e-7;
const MS_PER_SECOND = 1000;
const NS_PER_SECOND = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;
const MAX_STEPS = 64;

/**
 * The time, in nanoseconds, that libuv stores for `seconds` under the given
 * resolution: the same double operations and truncations, done here.
 */
export function utimesResultNs(seconds: number, resolution: UtimesResolution): bigint {
  const whole = Math.trunc(seconds);
  let ns = Math.trunc((seconds - whole) * 1e9);
  if (resolution === 'microseconds') ns -= ns % 1000;
  return BigInt(whole) * NS_PER_SECOND + BigInt(ns);
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** The adjacent double, up or down, of a finite non-negative number (down only from a positive one). */
function adjacent(x: number, step: 1n | -1n): number {
  f64[0] = x;
  u64[0] = u64[0]! + step;
  return f64[0];
}

/**
 * The seconds to hand utimes so the file's time is `ms` (a whole,
 * non-negative number of milliseconds), as Litestream reads it at nanosecond
 * resolution.
 *
 * At microsecond resolution the result is exact: the whole seconds and the
 * fraction are added in one rounding, whose error stays under half a
 * microsecond up to 2^33 s (the year 2242).
 *
 * At nanosecond resolution no double near today's epoch seconds reaches most
 * milliseconds exactly (they are about 240 ns apart), so the result is the
 * earliest time at or after `ms`, less than a microsecond late. Never early:
 * Litestream restores to a target time the LTX files whose mtime is strictly
 * before it, so a file stamped T must not count as before T; read back rounded
 * down (ltxCreatedAtFromNs) it is T again.
 */
export function utimesSecondsFor(ms: number, resolution: UtimesResolution): number {
  const subSecondMs = ms % MS_PER_SECOND;
  const wholeSeconds = (ms - subSecondMs) / MS_PER_SECOND;
  if (resolution === 'microseconds') return wholeSeconds + (subSecondMs / MS_PER_SECOND + MICROSECOND_ROUNDING_SECONDS);
  const target = BigInt(ms) * NS_PER_MS;
  // The nearest double is within a step or two of the answer; the bound only guards the loops.
  let seconds = wholeSeconds + subSecondMs / MS_PER_SECOND;
  for (let i = 0; i < MAX_STEPS && utimesResultNs(seconds, resolution) < target; i++) seconds = adjacent(seconds, 1n);
  for (let i = 0; i < MAX_STEPS && seconds > 0 && utimesResultNs(seconds, resolution) > target; i++) {
    const previous = adjacent(seconds, -1n);
    if (utimesResultNs(previous, resolution) < target) break;
    seconds = previous;
  }
  return seconds;
}

let runtimeResolution: UtimesResolution | undefined;

/**
 * Sets an open file's access and modification times to `ms`, as exactly as
 * the runtime allows (see utimesSecondsFor). The runtime's resolution is
 * learned from the first file: set for microseconds, a time that comes back
 * with nanoseconds means the runtime keeps them, and the time is set again.
 */
export async function setFileTimeMs(fh: FileHandle, ms: number): Promise<void> {
  if (runtimeResolution === 'nanoseconds') {
    const seconds = utimesSecondsFor(ms, 'nanoseconds');
    await fh.utimes(seconds, seconds);
    return;
  }
  const seconds = utimesSecondsFor(ms, 'microseconds');
  await fh.utimes(seconds, seconds);
  if (runtimeResolution === undefined) {
    const { mtimeNs } = await fh.stat({ bigint: true });
    runtimeResolution = mtimeNs % 1000n === 0n ? 'microseconds' : 'nanoseconds';
    if (runtimeResolution === 'nanoseconds') await setFileTimeMs(fh, ms);
  }
}
