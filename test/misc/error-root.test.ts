import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('error classes', () => {
  it('only TidemarkError extends a built-in error directly, exported or not', () => {
    const offenders: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/class (\w+) extends (Error|TypeError|RangeError|SyntaxError|AggregateError)\b/g)) {
        if (m[1] !== 'TidemarkError') offenders.push(`${relative(SRC, file)}: ${m[1]} extends ${m[2]}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
