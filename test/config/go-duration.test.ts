import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatGoDuration,
  MAX_DURATION_NS,
  MIN_DURATION_NS,
  nsToMs,
  parseGoDuration,
} from '../../src/config/go-duration.js';
import { ValueSyntaxError } from '../../src/config/errors.js';

const NS = 1n;
const US = 1_000n;
const MS = 1_000_000n;
const S = 1_000_000_000n;
const M = 60n * S;
const H = 60n * M;

describe('parseGoDuration reads what Go time.ParseDuration reads', () => {
  const valid: Array<[string, bigint]> = [
    ['0', 0n],
    ['-0', 0n],
    ['+0', 0n],
    ['0s', 0n],
    ['5s', 5n * S],
    ['+5s', 5n * S],
    ['-5s', -5n * S],
    ['1478s', 1478n * S],
    ['5.0s', 5n * S],
    ['5.6s', 5n * S + 600n * MS],
    ['5.s', 5n * S],
    ['.5s', 500n * MS],
    ['1.004s', S + 4n * MS],
    ['100.00100s', 100n * S + MS],
    ['10ns', 10n * NS],
    ['11us', 11n * US],
    ['12\u00b5s', 12n * US],
    ['12\u03bcs', 12n * US],
    ['13ms', 13n * MS],
    ['500ms', 500n * MS],
    ['15m', 15n * M],
    ['16h', 16n * H],
    ['1h30m', H + 30n * M],
    ['10.5s4m', 4n * M + 10n * S + 500n * MS],
    ['-2m3.4s', -(2n * M + 3n * S + 400n * MS)],
    ['1h2m3s4ms5us6ns', H + 2n * M + 3n * S + 4n * MS + 5n * US + 6n * NS],
    ['39h9m14.425s', 39n * H + 9n * M + 14n * S + 425n * MS],
    ['0.3333333333333333333h', 20n * M],
    ['1.5h', H + 30n * M],
    ['9007199254740993ns', 9007199254740993n],
    ['9223372036854775807ns', MAX_DURATION_NS],
    ['9223372036854775.807us', MAX_DURATION_NS],
    ['9223372036s854ms775us807ns', MAX_DURATION_NS],
    ['-9223372036854775808ns', MIN_DURATION_NS],
    ['-2562047h47m16.854775808s', MIN_DURATION_NS],
    ['0.100000000000000000000h', 6n * M],
    ['0.830103483285477580700h', 49n * M + 48n * S + 372539827n],
  ];
  for (const [text, want] of valid) {
    it(`${JSON.stringify(text)} = ${want}ns`, () => assert.equal(parseGoDuration(text), want));
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /invalid duration/],
    ['3', /missing unit/],
    ['-', /invalid duration/],
    ['s', /invalid duration/],
    ['.', /invalid duration/],
    ['-.', /invalid duration/],
    ['.s', /invalid duration/],
    ['+.s', /invalid duration/],
    ['1d', /unknown unit "d"/],
    ['5x', /unknown unit "x"/],
    ['1 s', /unknown unit " s"/],
    ['1S', /unknown unit "S"/],
    ['9223372036854775808ns', /out of range/],
    ['9223372036854775.808us', /out of range/],
    ['9223372036854ms775us808ns', /out of range/],
    ['-9223372036854775809ns', /out of range/],
  ];
  for (const [text, why] of invalid) {
    it(`${JSON.stringify(text)} is rejected (${why.source})`, () => {
      assert.throws(() => parseGoDuration(text), (err: unknown) => err instanceof ValueSyntaxError && why.test(err.message));
    });
  }
});

describe('formatGoDuration writes what Go Duration.String writes', () => {
  const cases: Array<[bigint, string]> = [
    [0n, '0s'],
    [1n, '1ns'],
    [1100n, '1.1\u00b5s'],
    [2200n * US, '2.2ms'],
    [3300n * MS, '3.3s'],
    [4n * M + 5n * S, '4m5s'],
    [4n * M + 5001n * MS, '4m5.001s'],
    [5n * H + 6n * M + 7001n * MS, '5h6m7.001s'],
    [8n * M + 1n, '8m0.000000001s'],
    [H, '1h0m0s'],
    [-30n * S, '-30s'],
    [MAX_DURATION_NS, '2562047h47m16.854775807s'],
    [MIN_DURATION_NS, '-2562047h47m16.854775808s'],
  ];
  for (const [ns, want] of cases) {
    it(`${ns}ns = ${want}`, () => assert.equal(formatGoDuration(ns), want));
  }

  it('refuses values outside int64', () => {
    assert.throws(() => formatGoDuration(MAX_DURATION_NS + 1n), RangeError);
  });
});

describe('duration round trips', () => {
  const int64 = fc.bigInt({ min: MIN_DURATION_NS, max: MAX_DURATION_NS });
  // Bias towards round values, which is what configs hold.
  const round = fc
    .tuple(fc.bigInt({ min: -100_000n, max: 100_000n }), fc.constantFrom(NS, US, MS, S, M, H))
    .map(([n, unit]) => n * unit);

  it('parse(format(d)) === d for every int64 d', () => {
    fc.assert(
      fc.property(fc.oneof(int64, round), (d) => {
        assert.equal(parseGoDuration(formatGoDuration(d)), d);
      }),
      { numRuns: 2000 },
    );
  });

  it('format(parse(s)) === s for canonical strings', () => {
    fc.assert(
      fc.property(fc.oneof(int64, round), (d) => {
        const s = formatGoDuration(d);
        assert.equal(formatGoDuration(parseGoDuration(s)), s);
      }),
      { numRuns: 500 },
    );
  });

  it('sums of unit terms parse to the sum', () => {
    const term = fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom('ns', 'us', 'ms', 's', 'm', 'h'));
    const unitNs: Record<string, bigint> = { ns: NS, us: US, ms: MS, s: S, m: M, h: H };
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 6 }), fc.boolean(), (terms, negative) => {
        const text = (negative ? '-' : '') + terms.map(([n, u]) => `${n}${u}`).join('');
        const sum = terms.reduce((acc, [n, u]) => acc + BigInt(n) * unitNs[u]!, 0n);
        assert.equal(parseGoDuration(text), negative ? -sum : sum);
      }),
    );
  });
});

describe('nsToMs', () => {
  it('keeps whole milliseconds exact and sub-millisecond parts as a fraction', () => {
    assert.equal(nsToMs(1500n * MS), 1500);
    assert.equal(nsToMs(24n * H), 86_400_000);
    assert.equal(nsToMs(500n * US), 0.5);
    assert.equal(nsToMs(-2n * S), -2000);
  });
});
