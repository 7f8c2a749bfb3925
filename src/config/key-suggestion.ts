import { KEY_ALIASES } from './schema.js';

/** Other places a key would be valid, to tell the user where it belongs. */
export interface KeyElsewhere {
  readonly keys: readonly string[];
  /** Phrase completing "it belongs ...", e.g. "in a replica section". */
  readonly where: string;
}

/** The hint appended to an unknown-key error, or '' when nothing is close. */
export function suggestKey(key: string, known: readonly string[], elsewhere: readonly KeyElsewhere[] = []): string {
  const alias = KEY_ALIASES[key];
  if (alias !== undefined && !known.includes(key)) return ` (did you mean ${quoteSuggestion(alias)}?)`;

  const kebab = toKebab(key);
  if (kebab !== key && known.includes(kebab)) return ` (did you mean "${kebab}"?)`;

  for (const other of elsewhere) {
    if (other.keys.includes(key) || other.keys.includes(kebab)) return ` (it belongs ${other.where})`;
  }

  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(kebab, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= maxTypoDistance(kebab) ? ` (did you mean "${best}"?)` : '';
}

function quoteSuggestion(s: string): string {
  return /^[a-z0-9-]+$/.test(s) ? `"${s}"` : s;
}

/** `forcePathStyle`, `force_path_style`, `Force-Path-Style` → `force-path-style`. */
function toKebab(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}

/** More edits are forgiven in longer names, never more than three. */
function maxTypoDistance(key: string): number {
  if (key.length <= 4) return 1;
  return key.length <= 10 ? 2 : 3;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      }
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}
