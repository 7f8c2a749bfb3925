/** Wall-clock time in nanoseconds since the Unix epoch (millisecond resolution). */
export function wallClockNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Monotonic milliseconds for intervals measured inside one process. Wall time
 * can jump; the dedup window and batch ages must not.
 */
export function monotonicMs(): number {
  return performance.now();
}
