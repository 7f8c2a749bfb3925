/**
 * Seeds for the torture harness. Every random decision (the ops of a
 * transaction, a writer's habits, when the daemon dies) comes from a PRNG
 * seeded by mixing the run's seed with what identifies the decision, so one
 * printed seed replays the same schedule.
 */
import { randomInt } from 'node:crypto';

/** Environment variable that fixes the seed of a run (the CI test and the soak). */
export const SEED_ENV = 'TIDEMARK_TORTURE_SEED';
/** Seeds are 32-bit unsigned, what seededRandom takes. */
const SEED_LIMIT = 2 ** 32;

/** A 32-bit hash of several integers (murmur3 finalizer per part), so nearby inputs give unrelated seeds. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    let k = Math.imul(p >>> 0, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Parses a seed given by a user (decimal or 0x hex); throws on anything else. */
export function parseSeed(text: string): number {
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 0 || n >= SEED_LIMIT) throw new Error(`seed must be an integer in [0, 2^32): ${JSON.stringify(text)}`);
  return n;
}

/** The seed from TIDEMARK_TORTURE_SEED, else a fresh random one. */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[SEED_ENV];
  return v === undefined || v === '' ? randomInt(0, SEED_LIMIT) : parseSeed(v);
}

/** Uniform integer in [lo, hi] from a PRNG. */
export function between(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

/** One element of a non-empty list, chosen by a PRNG. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}
