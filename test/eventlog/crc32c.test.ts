import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { crc32c } from '../../src/eventlog/crc32c.js';

/** Bit-at-a-time reference, straight from the definition. */
function reference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('CRC-32C check values (RFC 3720 B.4 and the "123456789" check)', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
});

test('matches the bitwise definition, for any range and when continued piecewise', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, a, b) => {
      const full = reference(data);
      assert.equal(crc32c(data), full);
      const cut = data.length === 0 ? 0 : a % (data.length + 1);
      assert.equal(crc32c(data, crc32c(data, 0, 0, cut), cut, data.length), full);
      const start = data.length === 0 ? 0 : b % (data.length + 1);
      assert.equal(crc32c(data, 0, start, data.length), reference(data.subarray(start)));
    }),
    { numRuns: 500 },
  );
});
