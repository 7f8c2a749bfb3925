/**
 * Byte sizes as Litestream's configuration reads them (go-humanize
 * ParseBytes): a number, optionally fractional, then an optional unit, where
 * kB/MB/GB/TB are powers of 1000 and KiB/MiB/GiB/TiB powers of 1024. Case and
 * a space before the unit do not matter.
 */
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 1024,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

const SIZE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i;

/** Bytes, or null when `s` is not a size. A fraction of a byte is dropped, as go-humanize does. */
export function parseByteSize(s: string): number | null {
  const m = SIZE_RE.exec(s.trim());
  if (m === null) return null;
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : null;
}
