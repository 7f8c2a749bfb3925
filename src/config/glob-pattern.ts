import { ValueSyntaxError } from './errors.js';

/**
 * Shell patterns with the syntax and meaning of Go's filepath.Match on Unix,
 * which Litestream applies to the base name of each file under a `dir:`:
 *   `*` any run of characters except `/`;  `?` one character except `/`;
 *   `[abc]`, `[a-z]`, `[^a-z]` a character class;  `\c` the character c.
 * A malformed pattern is an error whether or not it would match.
 */

type Token =
  | { readonly kind: 'char'; readonly ch: string }
  | { readonly kind: 'any' }
  | { readonly kind: 'star' }
  | { readonly kind: 'class'; readonly negated: boolean; readonly ranges: ReadonlyArray<readonly [number, number]> };

const SEPARATOR = '/';

export class GlobPattern {
  readonly #tokens: readonly Token[];

  private constructor(readonly source: string, tokens: readonly Token[]) {
    this.#tokens = tokens;
  }

  /** Compiles a pattern; throws ValueSyntaxError when it is malformed. */
  static compile(pattern: string): GlobPattern {
    return new GlobPattern(pattern, tokenize(pattern));
  }

  matches(name: string): boolean {
    const chars = Array.from(name);
    const tokens = this.#tokens;
    // memo[t * (n+1) + c]: 1 = no match from here, so the star backtracking stays linear in practice.
    const failed = new Uint8Array((tokens.length + 1) * (chars.length + 1));
    const from = (t: number, c: number): boolean => {
      for (;;) {
        const key = t * (chars.length + 1) + c;
        if (failed[key] === 1) return false;
        const tok = tokens[t];
        if (tok === undefined) return c === chars.length;
        if (tok.kind === 'star') {
          for (let k = c; ; k++) {
            if (from(t + 1, k)) return true;
            if (k >= chars.length || chars[k] === SEPARATOR) break;
          }
          failed[key] = 1;
          return false;
        }
        const ch = chars[c];
        if (ch === undefined || !matchesOne(tok, ch)) {
          failed[key] = 1;
          return false;
        }
        t++;
        c++;
      }
    };
    return from(0, 0);
  }
}

function matchesOne(tok: Exclude<Token, { kind: 'star' }>, ch: string): boolean {
  switch (tok.kind) {
    case 'char':
      return tok.ch === ch;
    case 'any':
      return ch !== SEPARATOR;
    case 'class': {
      const cp = ch.codePointAt(0)!;
      const inside = tok.ranges.some(([lo, hi]) => lo <= cp && cp <= hi);
      return inside !== tok.negated;
    }
  }
}

function tokenize(pattern: string): Token[] {
  const p = Array.from(pattern);
  const tokens: Token[] = [];
  let i = 0;
  const bad = (why: string): never => {
    throw new ValueSyntaxError(`malformed pattern ${JSON.stringify(pattern)}: ${why}`);
  };
  while (i < p.length) {
    const c = p[i]!;
    if (c === '*') {
      // Consecutive stars mean the same as one.
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
      i++;
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
      i++;
    } else if (c === '\\') {
      if (i + 1 >= p.length) bad('trailing backslash');
      tokens.push({ kind: 'char', ch: p[i + 1]! });
      i += 2;
    } else if (c === '[') {
      i++;
      let negated = false;
      if (p[i] === '^') {
        negated = true;
        i++;
      }
      const ranges: Array<readonly [number, number]> = [];
      // One class element: a character, possibly escaped; '-' and ']' must be escaped here.
      const element = (): number => {
        const e = p[i];
        if (e === undefined) bad("unterminated '['");
        if (e === '-' || e === ']') bad(`unescaped '${e}' in a character class`);
        if (e === '\\') {
          i++;
          if (p[i] === undefined) bad("unterminated '['");
        }
        return p[i++]!.codePointAt(0)!;
      };
      for (;;) {
        if (p[i] === ']' && ranges.length > 0) {
          i++;
          break;
        }
        const lo = element();
        let hi = lo;
        if (p[i] === '-') {
          i++;
          hi = element();
        }
        ranges.push([lo, hi]);
      }
      tokens.push({ kind: 'class', negated, ranges });
    } else {
      tokens.push({ kind: 'char', ch: c });
      i++;
    }
  }
  return tokens;
}
