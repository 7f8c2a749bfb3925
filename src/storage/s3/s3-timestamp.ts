/**
 * The `litestream-timestamp` object metadata: the LTX header timestamp in Go's
 * time.RFC3339Nano layout, UTC, which is how Litestream writes it.
 */

/** Object user-metadata key under which Litestream keeps the LTX header timestamp. */
export const S3_TIMESTAMP_METADATA_KEY = 'litestream-timestamp';

/** Years Go's RFC 3339 layout can write with four digits. */
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MIN_MS = Date.UTC(0, 0, 1);

/**
 * Formats milliseconds since the epoch as Go's RFC3339Nano does in UTC: the
 * fractional second loses its trailing zeros, and disappears when it is zero
 * (`…05.12Z`, `…05Z`), so the bytes match what Litestream stores.
 */
export function formatRfc3339Nano(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < MIN_MS || ms > MAX_MS) {
    throw new RangeError(`timestamp ${ms} ms cannot be written as an RFC 3339 date with a four-digit year`);
  }
  // Within years 0000-9999 toISOString is `YYYY-MM-DDTHH:mm:ss.sssZ`, Go's layout with all three digits kept.
  const [whole, frac = ''] = new Date(ms).toISOString().slice(0, -1).split('.');
  const digits = frac.replace(/0+$/, '');
  return `${whole}${digits === '' ? '' : `.${digits}`}Z`;
}

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 timestamp as Go's time.Parse(RFC3339Nano) accepts it (any
 * offset, up to nine fractional digits), to milliseconds since the epoch.
 * Digits past the millisecond are dropped. Returns null for anything else, so
 * a caller can fall back to another timestamp.
 */
export function parseRfc3339(s: string): number | null {
  const m = RFC3339_RE.exec(s);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return null;
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime() - offsetMinutes * 60_000;
}

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}
