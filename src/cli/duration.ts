import { UsageError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration as Litestream's flags take them: `500ms`, `1s`,
 * `1m30s`, `2h`. `what` names the flag in the error.
 */
export function parseDuration(value: string, what: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (value === '' || matched !== value.length) {
    throw new UsageError(`invalid ${what} "${value}": expected a duration such as 500ms, 1s or 1m30s`);
  }
  return total;
}
