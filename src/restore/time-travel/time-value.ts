import { parseRfc3339 } from '../../storage/s3/s3-timestamp.js';

/** Where a time-travel view points: the newest state, a TXID, or the state as of a moment. */
export type TimeTravelTarget = 'latest' | { txid: bigint } | { timestamp: Date };

const UNIT_MS: Readonly<Record<string, number>> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
  // Calendar-free approximations, enough to aim a look into the past.
  month: 30 * 86_400_000,
  year: 365 * 86_400_000,
};
const UNIT_ALIASES: Readonly<Record<string, string>> = { s: 'second', sec: 'second', m: 'minute', min: 'minute', h: 'hour', hr: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year', yr: 'year' };
const RELATIVE_RE = /^(\d+(?:\.\d+)?|an?)\s*([a-z]+?)s?\s+ago$/;

/**
 * Reads a time the way Litestream's `litestream_set_time` takes it: `LATEST`,
 * an RFC 3339 timestamp, or a relative time such as `5 minutes ago`,
 * `an hour ago`, `yesterday` or `now` (relative to `now`). Returns null for
 * anything else.
 */
export function parseTimeValue(value: string, now: number = Date.now()): TimeTravelTarget | null {
  const v = value.trim().toLowerCase();
  if (v === 'latest') return 'latest';
  const exact = parseRfc3339(value.trim());
  if (exact !== null) return { timestamp: new Date(exact) };
  if (v === 'now') return { timestamp: new Date(now) };
  if (v === 'yesterday') return { timestamp: new Date(now - UNIT_MS.day!) };
  const m = RELATIVE_RE.exec(v.replace(/\s+/g, ' '));
  if (m === null) return null;
  const unit = UNIT_MS[UNIT_ALIASES[m[2]!] ?? m[2]!];
  if (unit === undefined) return null;
  const count = m[1] === 'a' || m[1] === 'an' ? 1 : Number(m[1]);
  return { timestamp: new Date(now - Math.round(count * unit)) };
}

/** How a target reads in messages and in `litestream_time()`. */
export function describeTarget(t: TimeTravelTarget): string {
  if (t === 'latest') return 'latest';
  return 'txid' in t ? `TXID ${t.txid.toString(16).padStart(16, '0')}` : t.timestamp.toISOString();
}
