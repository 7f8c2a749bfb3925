/** Latency samples in a preallocated array, and the summary the benchmark reports. */
export class Samples {
  private readonly values: Float64Array;
  count = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }

  add(ms: number): void {
    if (this.count < this.values.length) this.values[this.count] = ms;
    this.count++;
  }

  /** p-quantile (0..1) in ms over the samples kept. */
  quantile(p: number): number {
    const n = Math.min(this.count, this.values.length);
    if (n === 0) return Number.NaN;
    const sorted = this.values.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.floor(p * n))]!;
  }
}

export interface RateResult {
  eventsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export function median<T>(runs: T[], key: (r: T) => number): T {
  const sorted = [...runs].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
