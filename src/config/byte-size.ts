import { ValueSyntaxError } from './errors.js';

/**
 * Sizes as litestream.yml's `part-size` takes them (go-humanize ParseBytes,
 * then an int64 bound): a number, optionally with a decimal part and commas,
 * then an optional unit, case-insensitive. SI units are powers of 1000
 * (`5MB`, `5M`), IEC units powers of 1024 (`5MiB`, `5Mi`); no unit means bytes.
 */

const KB = 1000;
const KIB = 1024;

const BYTES_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['b', 1],
  ['k', KB],
  ['kb', KB],
  ['ki', KIB],
  ['kib', KIB],
  ['m', KB ** 2],
  ['mb', KB ** 2],
  ['mi', KIB ** 2],
  ['mib', KIB ** 2],
  ['g', KB ** 3],
  ['gb', KB ** 3],
  ['gi', KIB ** 3],
  ['gib', KIB ** 3],
  ['t', KB ** 4],
  ['tb', KB ** 4],
  ['ti', KIB ** 4],
  ['tib', KIB ** 4],
  ['p', KB ** 5],
  ['pb', KB ** 5],
  ['pi', KIB ** 5],
  ['pib', KIB ** 5],
  ['e', KB ** 6],
  ['eb', KB ** 6],
  ['ei', KIB ** 6],
  ['eib', KIB ** 6],
]);

/** Examples named in error messages. */
export const SIZE_EXAMPLES = '5MB, 5MiB, 5242880';

const TWO_POW_63 = 2 ** 63;
const NUMBER_RE = /^(?:\d+\.?\d*|\.\d+)$/;

/** Parses a size into bytes; throws ValueSyntaxError with the reason. */
export function parseByteSize(input: string): number {
  const s = input.trim();
  if (s === '') throw new ValueSyntaxError('empty size');
  let end = 0;
  while (end < s.length && /[0-9.,]/.test(s[end]!)) end++;
  const num = s.slice(0, end).replaceAll(',', '');
  if (!NUMBER_RE.test(num)) throw new ValueSyntaxError('no number');
  const unitName = s.slice(end).trim().toLowerCase();
  const unit = BYTES_PER_UNIT.get(unitName);
  if (unit === undefined) throw new ValueSyntaxError(`unknown unit ${JSON.stringify(s.slice(end).trim())}`);
  const bytes = Number(num) * unit;
  if (bytes >= TWO_POW_63) throw new ValueSyntaxError('larger than the int64 maximum');
  return Math.trunc(bytes);
}
