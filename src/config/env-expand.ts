/**
 * `$VAR` and `${VAR}` expansion over the whole configuration text, with the
 * rules of Go's os.Expand that Litestream applies before YAML parsing:
 * undefined variables become '', `${}` and an unterminated `${` are dropped,
 * a `$` not followed by a name stays, and the one-character shell specials
 * (`$1`, `$$`, `$*`, ...) are names too. Expansion keeps a map back to the
 * original text so errors can still point at the line the user wrote.
 */

export interface ExpandedText {
  readonly text: string;
  /** The offset in the original text that an offset in the expanded text came from. */
  toSourceOffset(offset: number): number;
}

interface Segment {
  /** Start in the expanded text. */
  readonly out: number;
  /** Start in the original text. */
  readonly src: number;
  /** A copied run (offsets map one to one) rather than a substituted value. */
  readonly copied: boolean;
}

const SHELL_SPECIALS = new Set(['*', '#', '$', '@', '!', '?', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
const isNameChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);

/** The name after a `$` and how many characters it spans; name '' with width > 0 is bad syntax to drop. */
function readName(s: string, at: number): { name: string; width: number } {
  const c = s[at];
  if (c === '{') {
    if (at + 2 < s.length && SHELL_SPECIALS.has(s[at + 1]!) && s[at + 2] === '}') {
      return { name: s[at + 1]!, width: 3 };
    }
    const close = s.indexOf('}', at + 1);
    if (close === at + 1) return { name: '', width: 2 };
    if (close < 0) return { name: '', width: 1 };
    return { name: s.slice(at + 1, close), width: close - at + 1 };
  }
  if (c !== undefined && SHELL_SPECIALS.has(c)) return { name: c, width: 1 };
  let end = at;
  while (isNameChar(s[end])) end++;
  return { name: s.slice(at, end), width: end - at };
}

export function expandEnvLikeGo(source: string, lookup: (name: string) => string): ExpandedText {
  const segments: Segment[] = [];
  let out = '';
  let copiedFrom = 0;
  const copyUpTo = (end: number): void => {
    if (end > copiedFrom) {
      segments.push({ out: out.length, src: copiedFrom, copied: true });
      out += source.slice(copiedFrom, end);
    }
  };
  for (let j = 0; j < source.length; j++) {
    if (source[j] !== '$' || j + 1 >= source.length) continue;
    copyUpTo(j);
    const { name, width } = readName(source, j + 1);
    if (name === '' && width === 0) {
      // Not followed by a name: the dollar stays.
      segments.push({ out: out.length, src: j, copied: true });
      out += '$';
    } else if (name !== '') {
      segments.push({ out: out.length, src: j, copied: false });
      out += lookup(name);
    }
    j += width;
    copiedFrom = j + 1;
  }
  copyUpTo(source.length);

  return {
    text: out,
    toSourceOffset(offset: number): number {
      if (offset >= out.length) return source.length;
      let lo = 0;
      let hi = segments.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (segments[mid]!.out <= offset) lo = mid;
        else hi = mid - 1;
      }
      const seg = segments[lo];
      if (seg === undefined) return offset;
      return seg.copied ? seg.src + (offset - seg.out) : seg.src;
    },
  };
}
