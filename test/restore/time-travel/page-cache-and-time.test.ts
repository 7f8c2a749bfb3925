// The time-travel page cache against a model, and the times litestream_set_time takes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PageCache } from '../../../src/restore/time-travel/page-cache.js';
import { parseTimeValue } from '../../../src/restore/time-travel/time-value.js';

describe('PageCache', () => {
  it('holds what an LRU list model holds, never more bytes than its limit', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 20 }), size: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 120 }), fc.array(op, { maxLength: 200 }), (limit, ops) => {
        const cache = new PageCache<number>(limit);
        // Model: most recently used last.
        let model: { key: number; page: Uint8Array }[] = [];
        for (const o of ops) {
          if (o.kind === 'get') {
            const i = model.findIndex((e) => e.key === o.key);
            const got = cache.get(o.key);
            if (i < 0) assert.equal(got, undefined);
            else {
              assert.equal(got, model[i]!.page);
              model.push(...model.splice(i, 1));
            }
          } else {
            const page = new Uint8Array(o.size);
            cache.set(o.key, page);
            model = model.filter((e) => e.key !== o.key);
            if (o.size <= limit) model.push({ key: o.key, page });
            let bytes = model.reduce((n, e) => n + e.page.length, 0);
            while (bytes > limit) bytes -= model.shift()!.page.length;
          }
          assert.equal(cache.size, model.length);
          assert.equal(cache.bytes, model.reduce((n, e) => n + e.page.length, 0));
          assert.ok(cache.bytes <= limit);
        }
      }),
    );
  });
});

describe('parseTimeValue', () => {
  const now = Date.UTC(2026, 5, 15, 12, 0, 0);

  it('reads LATEST, RFC 3339 with any offset and up to nine fractional digits, and relative times', () => {
    assert.equal(parseTimeValue('LATEST', now), 'latest');
    assert.equal(parseTimeValue(' latest ', now), 'latest');
    assert.deepEqual(parseTimeValue('2024-01-15T10:30:00Z', now), { timestamp: new Date('2024-01-15T10:30:00Z') });
    assert.deepEqual(parseTimeValue('2024-01-15T10:30:00.123456789Z', now), { timestamp: new Date('2024-01-15T10:30:00.123Z') });
    assert.deepEqual(parseTimeValue('2024-01-15T12:30:00+02:00', now), { timestamp: new Date('2024-01-15T10:30:00Z') });
    assert.deepEqual(parseTimeValue('now', now), { timestamp: new Date(now) });
    assert.deepEqual(parseTimeValue('yesterday', now), { timestamp: new Date(now - 86_400_000) });
    assert.deepEqual(parseTimeValue('5 minutes ago', now), { timestamp: new Date(now - 300_000) });
    assert.deepEqual(parseTimeValue('an hour ago', now), { timestamp: new Date(now - 3_600_000) });
    assert.deepEqual(parseTimeValue('1.5 days ago', now), { timestamp: new Date(now - 129_600_000) });
    assert.deepEqual(parseTimeValue('30s ago', now), { timestamp: new Date(now - 30_000) });
    assert.deepEqual(parseTimeValue('2 Weeks  Ago', now), { timestamp: new Date(now - 2 * 604_800_000) });
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'soon', '5 minutes', 'minutes ago', '5 fortnights ago', '2024-01-15', '2024-01-15T10:30:00', '2024-02-30T00:00:00Z', 'in 5 minutes']) {
      assert.equal(parseTimeValue(bad, now), null, bad);
    }
  });

  it('puts N units ago exactly N units before now, for any N and unit', () => {
    const units = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 } as const;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])), fc.boolean(), (n, unit, plural) => {
        const got = parseTimeValue(`${n} ${unit}${plural ? 's' : ''} ago`, now);
        assert.deepEqual(got, { timestamp: new Date(now - n * units[unit]) });
      }),
    );
  });
});
