import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import {
  NATIVE_CRC32C_MIN_BYTES,
  NATIVE_CRC32C_PACKAGE,
  createCrc32c,
  crc32c,
  crc32cBackend,
  crc32cJs,
  loadNativeCrc32c,
  type NativeCrc32c,
} from '../../src/eventlog/crc32c.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crc32c-child.ts');

/** Bit-at-a-time reference, straight from the definition. */
function reference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** The native package as installed here, or null when this platform has no build of it (then those tests skip). */
function installedNative(): NativeCrc32c | null {
  const require = createRequire(import.meta.url);
  try {
    require.resolve(NATIVE_CRC32C_PACKAGE);
  } catch {
    return null;
  }
  const loaded = loadNativeCrc32c(() => require(NATIVE_CRC32C_PACKAGE));
  // Installed but refused is a failure, not a skip: the optional dependency is broken.
  assert.equal(loaded.reason, null);
  return loaded.fn;
}
const native = installedNative();
const noNative = native === null ? `${NATIVE_CRC32C_PACKAGE} is not installed for this platform` : false;

/** Data below, around and well above the native threshold, with a range inside it. */
const MAX_CASE_BYTES = 4 * NATIVE_CRC32C_MIN_BYTES + 3000;
const rangeCase = fc
  // fast-check keeps arrays to a few bytes unless asked for its whole size range.
  .oneof(fc.uint8Array({ maxLength: MAX_CASE_BYTES }), fc.uint8Array({ maxLength: MAX_CASE_BYTES, size: 'max' }))
  .chain((data) =>
    fc.record({
      data: fc.constant(data),
      start: fc.nat({ max: data.length }),
      len: fc.nat({ max: data.length }),
      cut: fc.nat({ max: data.length }),
      // Any number a caller may pass: both paths read it as its low 32 bits.
      crc: fc.oneof(fc.integer({ min: -(2 ** 32), max: 2 ** 33 }), fc.constantFrom(0, 0xffffffff, -1, 2 ** 31)),
    }),
  )
  .map((c) => ({ ...c, end: Math.min(c.data.length, c.start + c.len) }));

test('CRC-32C check values (RFC 3720 B.4 and the "123456789" check)', () => {
  for (const f of [crc32c, crc32cJs]) {
    assert.equal(f(Buffer.from('123456789')), 0xe3069283);
    assert.equal(f(Buffer.alloc(32, 0x00)), 0x8a9136aa);
    assert.equal(f(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(f(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(f(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
    assert.equal(f(Buffer.alloc(0)), 0);
    // Long enough for the native path: 1 MiB of zeros.
    assert.equal(f(Buffer.alloc(1 << 20)), reference(Buffer.alloc(1 << 20)));
  }
});

test('the JavaScript implementation matches the bitwise definition, for any range and when continued piecewise', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), fc.nat(), fc.nat(), (data, a, b) => {
      const full = reference(data);
      assert.equal(crc32cJs(data), full);
      const cut = data.length === 0 ? 0 : a % (data.length + 1);
      assert.equal(crc32cJs(data, crc32cJs(data, 0, 0, cut), cut, data.length), full);
      const start = data.length === 0 ? 0 : b % (data.length + 1);
      assert.equal(crc32cJs(data, 0, start, data.length), reference(data.subarray(start)));
    }),
    { numRuns: 500 },
  );
});

test('crc32c uses the native implementation when the optional package is installed', { skip: noNative }, () => {
  assert.deepEqual(crc32cBackend(), { implementation: 'native', reason: null });
});

test('the native implementation and the JavaScript one agree on any data, range and starting CRC', { skip: noNative }, () => {
  const n = native!;
  fc.assert(
    fc.property(rangeCase, ({ data, start, end, crc }) => {
      const expected = crc32cJs(data, crc, start, end);
      assert.equal(n(data.subarray(start, end), crc >>> 0), expected);
      assert.equal(crc32c(data, crc, start, end), expected);
    }),
    { numRuns: 1000 },
  );
});

test('crc32c chains across the native threshold exactly as the JavaScript implementation does', () => {
  fc.assert(
    fc.property(rangeCase, ({ data, start, end, cut }) => {
      const mid = start + (cut % (end - start + 1));
      const whole = crc32cJs(data, 0, start, end);
      // A short piece (table code) continued by a long one (native), and the reverse.
      assert.equal(crc32c(data, crc32c(data, 0, start, mid), mid, end), whole);
      assert.equal(crc32c(data, crc32cJs(data, 0, start, mid), mid, end), whole);
      assert.equal(crc32cJs(data, crc32c(data, 0, start, mid), mid, end), whole);
    }),
    { numRuns: 500 },
  );
});

test('crc32c keeps the table code for ranges it cannot hand to native code unchanged', () => {
  const data = Uint8Array.from({ length: 2 * NATIVE_CRC32C_MIN_BYTES }, (_, i) => i & 0xff);
  // Past the end, fractional, reversed: whatever the table code made of them before, crc32c still does.
  for (const [start, end] of [
    [0, data.length + 16],
    [0.5, data.length],
    [1, data.length - 0.5],
    [data.length, 0],
  ] as const) {
    assert.equal(crc32c(data, 7, start, end), crc32cJs(data, 7, start, end));
  }
  // A view into a larger buffer: only the view's bytes count.
  const backing = new Uint8Array(data.length + 100).fill(0xaa);
  backing.set(data, 50);
  const view = backing.subarray(50, 50 + data.length);
  assert.equal(crc32c(view), crc32cJs(data));
  assert.equal(crc32c(view, 0, 10, view.length - 3), crc32cJs(data, 0, 10, data.length - 3));
});

test('without the native package crc32c falls back to the JavaScript implementation', () => {
  let calls = 0;
  const missing = createCrc32c(() => {
    calls++;
    throw Object.assign(new Error(`Cannot find module '${NATIVE_CRC32C_PACKAGE}'`), { code: 'MODULE_NOT_FOUND' });
  });
  // Short inputs never need the native code, so they do not load it.
  missing.crc32c(Buffer.from('123456789'));
  assert.equal(calls, 0);
  fc.assert(
    fc.property(rangeCase, ({ data, start, end, crc }) => {
      assert.equal(missing.crc32c(data, crc, start, end), crc32cJs(data, crc, start, end));
    }),
    { numRuns: 200 },
  );
  assert.ok(calls <= 1, 'the loader is tried once, not on every call');
  const backend = missing.backend();
  assert.equal(backend.implementation, 'js');
  assert.match(backend.reason ?? '', /could not be loaded: Cannot find module/);
  assert.equal(calls, 1);
});

test('a native module that is broken or computes something else is not used', () => {
  const good = crc32cJs;
  const cases: [string, () => unknown, RegExp][] = [
    ['no crc32c export', () => ({ crc32: () => 0 }), /has no crc32c function/],
    ['null module', () => null, /has no crc32c function/],
    ['a plain CRC-32 instead of CRC-32C', () => ({ crc32c: (d: Uint8Array) => good(d) ^ 1 }), /wrong checksums/],
    ['chaining ignored', () => ({ crc32c: (d: Uint8Array) => good(d) }), /wrong checksums/],
    [
      'throws when called',
      () => ({
        crc32c: () => {
          throw new Error('illegal instruction');
        },
      }),
      /failed its self-test: illegal instruction/,
    ],
  ];
  const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
  for (const [label, loader, reason] of cases) {
    const made = createCrc32c(loader);
    assert.equal(made.crc32c(data, 3, 1, 4999), crc32cJs(data, 3, 1, 4999), label);
    assert.equal(made.backend().implementation, 'js', label);
    assert.match(made.backend().reason ?? '', reason, label);
  }
});

test('a process in which the native package cannot be resolved computes the same checksums with the table code', async () => {
  const lengths = [0, 1, 21, 44, NATIVE_CRC32C_MIN_BYTES, 2148, 1 << 20];
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CHILD, lengths.join(',')], {
    maxBuffer: 1 << 20,
  });
  const out = JSON.parse(stdout) as { backend: { implementation: string; reason: string }; results: number[] };
  assert.equal(out.backend.implementation, 'js');
  assert.match(out.backend.reason, /could not be loaded/);
  assert.deepEqual(
    out.results,
    lengths.map((n) => crc32cJs(Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff), 0x9e3779b9, 1, n)),
  );
});
