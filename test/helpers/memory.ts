import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** JS heap plus the ArrayBuffers behind every Uint8Array (page data lives there, not on the heap). */
function usedMemory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Runs fn while sampling memory every `sampleMs`, and returns its result with
 * the peak growth over the starting point. Collecting before each sample
 * measures what fn keeps alive, not garbage V8 has yet to collect.
 */
export async function measurePeakGrowth<T>(fn: () => Promise<T>, sampleMs: number): Promise<{ result: T; growth: number }> {
  gc();
  const baseline = usedMemory();
  let peak = baseline;
  const timer = setInterval(() => {
    gc();
    peak = Math.max(peak, usedMemory());
  }, sampleMs);
  let result: T;
  try {
    result = await fn();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, usedMemory());
  return { result, growth: peak - baseline };
}
