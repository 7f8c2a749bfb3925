import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseByteSize } from '../../../src/config/byte-size.js';
import { parseS3LtxKey, s3LevelPrefix, s3LtxKey, s3RootPrefix, s3SeekStartAfter } from '../../../src/storage/s3/s3-key-layout.js';
import { formatRfc3339Nano, parseRfc3339 } from '../../../src/storage/s3/s3-timestamp.js';

const MAX_TXID = (1n << 64n) - 1n;
/** Go's RFC3339Nano in UTC: no trailing zeros in the fraction, no fraction when it is zero. */
const GO_RFC3339NANO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$/;

describe('litestream-timestamp metadata', () => {
  it('formats as Go RFC3339Nano does: trailing zeros trimmed', () => {
    const at = (ms: number): string => formatRfc3339Nano(Date.UTC(2024, 0, 2, 3, 4, 5, ms));
    assert.equal(at(123), '2024-01-02T03:04:05.123Z');
    assert.equal(at(120), '2024-01-02T03:04:05.12Z');
    assert.equal(at(100), '2024-01-02T03:04:05.1Z');
    assert.equal(at(0), '2024-01-02T03:04:05Z');
    assert.equal(at(5), '2024-01-02T03:04:05.005Z');
    assert.equal(formatRfc3339Nano(1700000000000), '2023-11-14T22:13:20Z');
    assert.equal(formatRfc3339Nano(0), '1970-01-01T00:00:00Z');
    assert.throws(() => formatRfc3339Nano(Date.UTC(10000, 0, 1)), RangeError);
  });

  it('parses what Go writes, any offset and up to nine fractional digits, to the millisecond', () => {
    const base = Date.UTC(2024, 0, 2, 3, 4, 5);
    assert.equal(parseRfc3339('2024-01-02T03:04:05Z'), base);
    assert.equal(parseRfc3339('2024-01-02T03:04:05.123456789Z'), base + 123);
    assert.equal(parseRfc3339('2024-01-02T03:04:05.1Z'), base + 100);
    assert.equal(parseRfc3339('2024-01-02T05:04:05.5+02:00'), base + 500);
    assert.equal(parseRfc3339('2024-01-01T22:34:05-04:30'), base);
    assert.equal(parseRfc3339('2024-01-02t03:04:05z'), base);
    for (const bad of ['', 'x', '2024-01-02', '2024-01-02 03:04:05Z', '2024-13-02T03:04:05Z', '2024-02-30T03:04:05Z', '2024-01-02T24:00:00Z', '2024-01-02T03:04:05.Z', '2024-01-02T03:04:05.1234567890Z', '2024-01-02T03:04:05+0200']) {
      assert.equal(parseRfc3339(bad), null, bad);
    }
  });

  it('round-trips every millisecond timestamp, in Go layout', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(0, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (ms) => {
        const s = formatRfc3339Nano(ms);
        assert.match(s, GO_RFC3339NANO_UTC);
        assert.equal(parseRfc3339(s), ms);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('S3 key layout', () => {
  it('is <path>/<level %04x>/<min>-<max>.ltx, with a leading / for an empty path, as Litestream writes', () => {
    assert.equal(s3LtxKey('db', 0, 1n, 2n), 'db/0000/0000000000000001-0000000000000002.ltx');
    assert.equal(s3LtxKey('a/b', 9, 1n, 0xabcn), 'a/b/0009/0000000000000001-0000000000000abc.ltx');
    assert.equal(s3LtxKey('db', 10, 5n, 5n), 'db/000a/0000000000000005-0000000000000005.ltx');
    assert.equal(s3LtxKey('', 0, 1n, 1n), '/0000/0000000000000001-0000000000000001.ltx');
    assert.equal(s3RootPrefix(''), '/');
    assert.equal(s3LevelPrefix('x', 255), 'x/00ff/');
  });

  it('parses only LTX names directly under the level prefix', () => {
    const p = s3LevelPrefix('db', 0);
    assert.deepEqual(parseS3LtxKey(p, `${p}0000000000000001-0000000000000002.ltx`), { minTxid: 1n, maxTxid: 2n });
    for (const k of [`${p}x.ltx`, `${p}sub/0000000000000001-0000000000000002.ltx`, `${p}0000000000000001-0000000000000002.ltx.tmp`, 'other/0000/0000000000000001-0000000000000002.ltx', `${p}000000000000000A-000000000000000B.ltx`]) {
      assert.equal(parseS3LtxKey(p, k), null, k);
    }
  });

  it('StartAfter for a seek skips exactly the keys with a smaller MinTXID', () => {
    const p = s3LevelPrefix('db', 0);
    const txid = fc.bigInt({ min: 0n, max: MAX_TXID });
    fc.assert(
      fc.property(txid, txid, txid, (seek, min, max) => {
        const startAfter = s3SeekStartAfter(p, seek);
        const key = s3LtxKey('db', 0, min, max);
        const listed = startAfter === undefined || key > startAfter;
        assert.equal(listed, min >= seek);
      }),
      { numRuns: 2000 },
    );
    assert.equal(s3SeekStartAfter(p, 0n), undefined);
  });
});

describe('byte sizes', () => {
  it('reads numbers and SI or IEC units as go-humanize does', () => {
    const cases: [string, number | null][] = [
      ['5242880', 5242880],
      ['5MiB', 5 * 1024 * 1024],
      ['5 mib', 5 * 1024 * 1024],
      ['8MB', 8_000_000],
      ['1.5GB', 1_500_000_000],
      ['64KiB', 65536],
      ['100B', 100],
      ['2k', 2000],
      ['', null],
      ['MB', null],
      ['5 parsecs', null],
      ['-5MB', null],
    ];
    for (const [s, want] of cases) {
      if (want === null) assert.throws(() => parseByteSize(s), s);
      else assert.equal(parseByteSize(s), want, s);
    }
  });
});
