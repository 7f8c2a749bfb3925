/** Percentiles, medians and rounding for the replication benchmark's figures. */

/** The value at quantile `p` (0..1) of an ascending array: the nearest rank at or below, as the writer's latencies have always been reported. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** The median of unsorted values (the mean of the middle two for an even count); null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

export interface Spread {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/** p50, p99 and max of a handful of values (null for none), rounded to `digits`. */
export function spread(values: readonly number[], digits = 1): Spread {
  if (values.length === 0) return { count: 0, p50: null, p99: null, max: null };
  const s = [...values].sort((a, b) => a - b);
  return { count: s.length, p50: round(percentile(s, 0.5), digits), p99: round(percentile(s, 0.99), digits), max: round(s[s.length - 1]!, digits) };
}
