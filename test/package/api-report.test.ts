import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
// @ts-expect-error: a plain ESM script without type declarations
import { buildApiReport, ENTRY_POINTS, REPORT_PATH } from '../../scripts/api-report.mjs';
import { TidemarkError } from '../../src/errors.js';

/** Types from the language, its libraries and @types/node, which every user can name already. */
const PLATFORM_TYPES = new Set([
  'Promise', 'Date', 'Error', 'Uint8Array', 'ArrayBufferLike', 'AbortSignal', 'AsyncIterable', 'AsyncGenerator', 'Iterable',
  'Readonly', 'Record', 'Partial', 'Pick', 'Omit', 'Map', 'Set', 'ReadonlyMap', 'ReadonlySet', 'NodeJS', 'FileHandle', 'EventEmitter',
]);

describe('public API report', () => {
  it('docs/api-report.md matches the sources (run node scripts/api-report.mjs to review a change)', () => {
    const expected = readFileSync(REPORT_PATH as string, 'utf8').split('\n');
    const actual = (buildApiReport() as string).split('\n');
    const added = actual.filter((l) => !expected.includes(l));
    const removed = expected.filter((l) => !actual.includes(l));
    assert.deepEqual({ added, removed }, { added: [], removed: [] }, 'the public API changed without docs/api-report.md');
    assert.equal(actual.join('\n'), expected.join('\n'));
  });

  it('names no type a user cannot import: every type in a public signature is exported or the platform\'s', () => {
    const blocks = [...readFileSync(REPORT_PATH as string, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!.split('\n'));
    const lines = blocks.flat();
    const exported = new Set(lines.map((l) => /^(?:class|function|interface|type|const) (\w+)/.exec(l)?.[1]).filter((n) => n !== undefined));
    const unreachable = new Map<string, string>();
    for (const line of lines) {
      // `type A = B` where B is one name: A is the name users write, B need not be exported.
      if (/^type \w+ = \w+$/.test(line)) continue;
      for (const [name] of line.replace(/'[^']*'/g, '').matchAll(/\b[A-Z]\w+\b/g)) {
        if (!exported.has(name) && !PLATFORM_TYPES.has(name) && !unreachable.has(name)) unreachable.set(name, line.trim());
      }
    }
    assert.deepEqual([...unreachable].map(([n, l]) => `${n} in: ${l}`), []);
  });

  it('keeps the root entry deliberate: internals and test tooling are not exported', async () => {
    const root = (await import('../../src/index.js')) as Record<string, unknown>;
    const names = Object.keys(root);
    for (const internal of ['BufferedReader', 'IterableSource', 'PENDING_BYTE', 'FaultInjectingClient', 'seededRandom', 'WalFrameReader', 'fsyncDir', 'LtxEncoder']) {
      assert.ok(!names.includes(internal), `${internal} is exported from the root entry`);
    }
    assert.ok(names.length <= 45, `the root entry exports ${names.length} runtime names`);
  });

  it('every error class any entry exports has TidemarkError as its root', async () => {
    for (const [entry, src] of ENTRY_POINTS as [string, string][]) {
      const m = (await import(`../../${src.replace(/\.ts$/, '.js')}`)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(m)) {
        if (typeof value !== 'function' || !(value.prototype instanceof Error)) continue;
        assert.ok(value === TidemarkError || value.prototype instanceof TidemarkError, `${entry}: ${name} is not a TidemarkError`);
      }
    }
  });
});
