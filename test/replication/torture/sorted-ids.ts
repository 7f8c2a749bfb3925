/** Range lookups in an ascending id array (the model's and the op generator's view of a table). */

/** [from, to) indexes of the ids within [lo, hi]. */
export function idRange(ids: readonly number[], lo: number, hi: number): [number, number] {
  return [lowerBound(ids, lo), lowerBound(ids, hi + 1)];
}

function lowerBound(ids: readonly number[], x: number): number {
  let a = 0;
  let b = ids.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (ids[m]! < x) a = m + 1;
    else b = m;
  }
  return a;
}
