import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { maxPageFrameSize, NEED_MORE, NOT_SIMPLE, scanPageFrame, writePageFrame } from '../../src/ltx/lz4-frame.js';

/** A frame header (magic, FLG version 01 with independent blocks, BD 64 KiB, HC byte) and raw block fields. */
function frameWithBlocks(blocks: number, blockLen: number): Uint8Array {
  const out = new Uint8Array(7 + blocks * (4 + blockLen) + 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x184d2204, true);
  out[4] = 0x60;
  out[5] = 0x40;
  out[6] = 0;
  let p = 7;
  for (let i = 0; i < blocks; i++) {
    dv.setUint32(p, blockLen, true);
    p += 4 + blockLen;
  }
  dv.setUint32(p, 0, true);
  return out;
}

describe('scanPageFrame', () => {
  it('gives a frame with more blocks than the page can hold to the full parser instead of throwing', () => {
    for (const size of [512, 4096]) {
      const frame = frameWithBlocks(size + 2, 1);
      assert.equal(scanPageFrame(frame, 0, frame.length, size), NOT_SIMPLE);
    }
  });

  it('never throws on arbitrary bytes, and finds the end of every frame it writes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.integer({ min: 0, max: 4 }), (bytes, cut) => {
        const r = scanPageFrame(bytes, 0, bytes.length, 512);
        assert.ok(r === NOT_SIMPLE || r === NEED_MORE || (r > 0 && r <= bytes.length));
        const page = bytes.length >= 512 ? bytes.subarray(0, 512) : new Uint8Array(512);
        const out = new Uint8Array(maxPageFrameSize(512));
        const frame = out.subarray(0, writePageFrame(page, 0, 512, out, 0));
        assert.equal(scanPageFrame(frame, 0, frame.length, 512), frame.length);
        assert.equal(scanPageFrame(frame, 0, Math.max(0, frame.length - 1 - cut), 512), NEED_MORE);
      }),
      { numRuns: 300 },
    );
  });
});
