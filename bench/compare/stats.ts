/** Small numeric helpers for the comparison's figures. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** a / b rounded, or null when b is 0 (a ratio to nothing says nothing). */
export function ratio(a: number, b: number, digits = 2): number | null {
  return b === 0 ? null : round(a / b, digits);
}
