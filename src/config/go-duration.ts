import { ValueSyntaxError } from './errors.js';

/**
 * Durations exactly as Go's time.ParseDuration reads them and
 * time.Duration.String writes them, because litestream.yml values are Go
 * durations: `1s`, `500ms`, `1h30m`, `1.5h`, `-2m`, `0`. Values are int64
 * nanoseconds, held as bigint so nothing is rounded.
 */

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // micro sign
  ['\u03bcs', 1_000n], // Greek small letter mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const TWO_POW_63 = 1n << 63n;
export const MAX_DURATION_NS = TWO_POW_63 - 1n;
export const MIN_DURATION_NS = -TWO_POW_63;
export const NS_PER_MS = 1_000_000n;

/** Examples named in error messages. */
export const DURATION_EXAMPLES = '1s, 500ms, 1h30m';

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Parses a Go duration into nanoseconds; throws ValueSyntaxError with Go's reason. */
export function parseGoDuration(input: string): bigint {
  let s = input;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new ValueSyntaxError('invalid duration');

  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === '.' || isDigit(s[i]))) throw new ValueSyntaxError('invalid duration');

    // Whole part, rejected when it leaves int64 range.
    const wholeStart = i;
    let whole = 0n;
    while (isDigit(s[i])) {
      if (whole > TWO_POW_63 / 10n) throw new ValueSyntaxError('invalid duration (out of range)');
      whole = whole * 10n + BigInt(s.charCodeAt(i) - 48);
      if (whole > TWO_POW_63) throw new ValueSyntaxError('invalid duration (out of range)');
      i++;
    }
    const hasWhole = i > wholeStart;

    // Fraction: digits past int64 precision are read but ignored, as Go does.
    let frac = 0n;
    let scale = 1;
    let hasFrac = false;
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      let overflow = false;
      while (isDigit(s[i])) {
        if (!overflow) {
          const next = frac * 10n + BigInt(s.charCodeAt(i) - 48);
          if (frac > MAX_DURATION_NS / 10n || next > TWO_POW_63) {
            overflow = true;
          } else {
            frac = next;
            scale *= 10;
          }
        }
        i++;
      }
      hasFrac = i > fracStart;
    }
    if (!hasWhole && !hasFrac) throw new ValueSyntaxError('invalid duration');

    const unitStart = i;
    while (i < s.length && !(s[i] === '.' || isDigit(s[i]))) i++;
    if (i === unitStart) throw new ValueSyntaxError('missing unit');
    const unitName = s.slice(unitStart, i);
    const unit = NS_PER_UNIT.get(unitName);
    if (unit === undefined) throw new ValueSyntaxError(`unknown unit ${JSON.stringify(unitName)}`);

    if (whole > TWO_POW_63 / unit) throw new ValueSyntaxError('invalid duration (out of range)');
    let v = whole * unit;
    if (frac > 0n) {
      // Go computes the fractional part in float64; doing the same keeps results identical.
      v += BigInt(Math.trunc(Number(frac) * (Number(unit) / scale)));
      if (v > TWO_POW_63) throw new ValueSyntaxError('invalid duration (out of range)');
    }
    total += v;
    if (total > TWO_POW_63) throw new ValueSyntaxError('invalid duration (out of range)');
  }
  if (neg) return -total;
  if (total > MAX_DURATION_NS) throw new ValueSyntaxError('invalid duration (out of range)');
  return total;
}

/** Writes nanoseconds the way Go's Duration.String does: `0s`, `1.5ms`, `1h30m0s`. */
export function formatGoDuration(ns: bigint): string {
  if (ns < MIN_DURATION_NS || ns > MAX_DURATION_NS) throw new RangeError(`duration ${ns}ns is outside int64`);
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    if (u === 0n) return '0s';
    let prec: number;
    let unit: string;
    if (u < 1_000n) {
      prec = 0;
      unit = 'ns';
    } else if (u < 1_000_000n) {
      prec = 3;
      unit = '\u00b5s';
    } else {
      prec = 6;
      unit = 'ms';
    }
    const [intPart, fracPart] = splitFraction(u, prec);
    out = `${intPart}${fracPart}${unit}`;
  } else {
    const [secondsTotal, fracPart] = splitFraction(u, 9);
    u = secondsTotal;
    out = `${u % 60n}${fracPart}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

/** v / 10^prec as the integer part and a `.ddd` fraction without trailing zeros ('' when zero). */
function splitFraction(v: bigint, prec: number): [bigint, string] {
  const div = 10n ** BigInt(prec);
  const intPart = v / div;
  const rem = v % div;
  if (rem === 0n) return [intPart, ''];
  const digits = rem.toString().padStart(prec, '0').replace(/0+$/, '');
  return [intPart, `.${digits}`];
}

/** Nanoseconds to milliseconds, the unit tidemark's timers take; sub-millisecond parts are kept as a fraction. */
export function nsToMs(ns: bigint): number {
  const whole = ns / NS_PER_MS;
  const rest = ns % NS_PER_MS;
  return Number(whole) + Number(rest) / 1e6;
}
