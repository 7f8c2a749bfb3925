// Golden bytes for every on-disk structure, pinned against
// docs/eventlog-format.md, plus decode round trips and rejections.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  BATCH_HEADER_SIZE,
  CHECKPOINT_SIZE,
  RECORD_SIZE,
  SEGMENT_HEADER_SIZE,
  encodeBatch,
  encodeCheckpoint,
  encodeSegmentHeader,
  parseBatchHeader,
  parseCheckpoint,
  parseSegmentHeader,
  readRecord,
  writeRecord,
} from '../../src/eventlog/format.js';
import { parseSegmentFileName, segmentFileName } from '../../src/eventlog/segment.js';

const GOLDEN_EVENTS = [
  { entityId: 0x0102030405060708n, signalType: 0xab, weight: 1.5, timestampNanos: 0x1112131415161718n },
  { entityId: 42n, signalType: 0, weight: -0.25, timestampNanos: 1_700_000_000_000_000_000n },
];

// prettier-ignore
const GOLDEN_BATCH = [
  '544d4c42', // magic "TMLB"
  '01', // format version
  '01', // record type: signal event
  '0000', // flags
  '0100', // shard 1
  '0200', // region 2
  '02000000', // event count 2
  '0500000000000000', // first seq 5
  'c0d47e3dfe9c9717', // batch timestamp 1 700 000 000 123 000 000 ns
  '03000000', // write index 3
  '2a000000', // payload length 42
  '618fb308', // payload CRC-32C 0x08b38f61
  '2bf006a4', // header CRC-32C 0xa406f02b over bytes 0..44
  '0807060504030201', 'ab', '0000c03f', '1817161514131211', // record 1
  '2a00000000000000', '00', '000080be', '00002a36fe9c9717', // record 2
].join('');

// prettier-ignore
const GOLDEN_SEGMENT_HEADER = [
  '544d4c53', // magic "TMLS"
  '01', // format version
  '01', // flags: discontinuity
  '0700', // shard 7
  'e803000000000000', // first seq 1000
  '00002a36fe9c9717', // created at 1 700 000 000 000 000 000 ns
  '0900', // region 9
  '0000', // reserved
  'e6fcd3d8', // CRC-32C over bytes 0..28
].join('');

// prettier-ignore
const GOLDEN_CHECKPOINT = [
  '544d4c43', // magic "TMLC"
  '01', // format version
  '00', // reserved
  '0700', // shard 7
  '8403000000000000', // checkpoint seq 900
  'e803000000000000', // high-water seq 1000
  '00002a36fe9c9717', // written at
  '00000000', // reserved
  '1d22f9ac', // CRC-32C over bytes 0..36
].join('');

test('a 21-byte record is entityId u64 | signalType u8 | weight f32 | timestamp u64, little-endian', () => {
  const buf = Buffer.alloc(RECORD_SIZE);
  writeRecord(new DataView(buf.buffer, buf.byteOffset, buf.length), 0, GOLDEN_EVENTS[0]!);
  assert.equal(buf.toString('hex'), '0807060504030201ab0000c03f1817161514131211');
});

test('batch golden bytes', () => {
  const batch = encodeBatch(GOLDEN_EVENTS, 5n, 1_700_000_000_123_000_000n, { shard: 1, region: 2, writeIndex: 3 });
  assert.equal(batch.length, BATCH_HEADER_SIZE + 2 * RECORD_SIZE);
  assert.equal(batch.toString('hex'), GOLDEN_BATCH);
  const h = parseBatchHeader(batch, 0);
  assert.ok(typeof h !== 'string');
  assert.deepEqual(h, {
    recordType: 1,
    shard: 1,
    region: 2,
    count: 2,
    firstSeq: 5n,
    timestampNanos: 1_700_000_000_123_000_000n,
    writeIndex: 3,
    payloadLength: 42,
    payloadCrc: 0x08b38f61,
  });
});

test('segment header and checkpoint golden bytes', () => {
  const seg = encodeSegmentHeader({ flags: 1, shard: 7, region: 9, firstSeq: 1000n, createdNanos: 1_700_000_000_000_000_000n });
  assert.equal(seg.length, SEGMENT_HEADER_SIZE);
  assert.equal(seg.toString('hex'), GOLDEN_SEGMENT_HEADER);
  assert.deepEqual(parseSegmentHeader(seg), { flags: 1, shard: 7, region: 9, firstSeq: 1000n, createdNanos: 1_700_000_000_000_000_000n });

  const cp = encodeCheckpoint({ shard: 7, checkpointSeq: 900n, highWaterSeq: 1000n, writtenAtNanos: 1_700_000_000_000_000_000n });
  assert.equal(cp.length, CHECKPOINT_SIZE);
  assert.equal(cp.toString('hex'), GOLDEN_CHECKPOINT);
  assert.deepEqual(parseCheckpoint(cp), { shard: 7, checkpointSeq: 900n, highWaterSeq: 1000n, writtenAtNanos: 1_700_000_000_000_000_000n });
});

test('segment file names', () => {
  assert.equal(segmentFileName(0, 1n), 'wal-00000000000000000001.seg');
  assert.equal(segmentFileName(0, 0xffff_ffff_ffff_ffffn), 'wal-18446744073709551615.seg');
  assert.equal(segmentFileName(7, 42n), 'wal-s00007-00000000000000000042.seg');
  assert.deepEqual(parseSegmentFileName('wal-s00007-00000000000000000042.seg'), {
    name: 'wal-s00007-00000000000000000042.seg',
    shard: 7,
    firstSeq: 42n,
  });
  for (const bad of ['wal-1.seg', 'wal-s00000-00000000000000000001.seg', 'wal-99999999999999999999.seg', 'wal-00000000000000000001.seg.tmp']) {
    assert.equal(parseSegmentFileName(bad), null, bad);
  }
});

test('every single-bit flip in a batch header or segment header is rejected', () => {
  const batch = encodeBatch(GOLDEN_EVENTS, 5n, 1n);
  for (let bit = 0; bit < BATCH_HEADER_SIZE * 8; bit++) {
    const b = Buffer.from(batch);
    b[bit >> 3] = b[bit >> 3]! ^ (1 << (bit & 7));
    assert.equal(typeof parseBatchHeader(b, 0), 'string', `batch header bit ${bit}`);
  }
  const seg = encodeSegmentHeader({ flags: 0, shard: 0, region: 0, firstSeq: 1n, createdNanos: 1n });
  for (let bit = 0; bit < SEGMENT_HEADER_SIZE * 8; bit++) {
    const s = Buffer.from(seg);
    s[bit >> 3] = s[bit >> 3]! ^ (1 << (bit & 7));
    assert.equal(typeof parseSegmentHeader(s), 'string', `segment header bit ${bit}`);
  }
  const cp = encodeCheckpoint({ shard: 0, checkpointSeq: 1n, highWaterSeq: 2n, writtenAtNanos: 3n });
  for (let bit = 0; bit < CHECKPOINT_SIZE * 8; bit++) {
    const c = Buffer.from(cp);
    c[bit >> 3] = c[bit >> 3]! ^ (1 << (bit & 7));
    assert.equal(typeof parseCheckpoint(c), 'string', `checkpoint bit ${bit}`);
  }
  assert.equal(typeof parseCheckpoint(cp.subarray(0, 39)), 'string');
});

test('records round-trip exactly (weights as f32)', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      fc.integer({ min: 0, max: 255 }),
      fc.float({ noNaN: true, noDefaultInfinity: true }),
      fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      (entityId, signalType, weight, timestampNanos) => {
        const buf = Buffer.alloc(RECORD_SIZE + 3);
        const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
        writeRecord(view, 3, { entityId, signalType, weight, timestampNanos });
        const back = readRecord(view, 3, 9n);
        assert.deepEqual(back, { entityId, signalType, weight: Math.fround(weight), timestampNanos, seq: 9n });
      },
    ),
  );
});
