import { BLOCK_SIZE_PREFIX, PAGE_HEADER_SIZE, type PageEncoding } from './constants.js';
import { lz4BlockBound, lz4CompressBlock, lz4LiteralBlock } from './lz4-block.js';
import { maxPageFrameSize, writePageFrame } from './lz4-frame.js';

/** The most bytes encodePagePayload can write for one page of this size. */
export function maxPagePayloadSize(pageSize: number): number {
  return Math.max(maxPageFrameSize(pageSize), BLOCK_SIZE_PREFIX + lz4BlockBound(pageSize));
}

/** The most bytes one page frame (header and payload) can take in a file. */
export function maxPageFrameBytes(pageSize: number): number {
  return PAGE_HEADER_SIZE + maxPagePayloadSize(pageSize);
}

/**
 * Writes what follows a page header: one LZ4 frame (frame encoding), or a u32
 * big-endian size and one LZ4 block (block encoding). Returns bytes written.
 * Pure and allocation-free, so it runs the same on the main thread and in the
 * compression worker.
 */
export function encodePagePayload(
  src: Uint8Array,
  srcStart: number,
  pageSize: number,
  encoding: PageEncoding,
  out: Uint8Array,
  at: number,
): number {
  if (encoding === 'frame') return writePageFrame(src, srcStart, pageSize, out, at);
  const blockAt = at + BLOCK_SIZE_PREFIX;
  let n = lz4CompressBlock(src, out, blockAt, srcStart, srcStart + pageSize);
  // There is no stored escape in the block encoding: incompressible data
  // becomes a literal-only block, exactly as the Go writer emits it.
  if (n === 0) n = lz4LiteralBlock(src, out, blockAt, srcStart, srcStart + pageSize);
  out[at] = n >>> 24;
  out[at + 1] = n >>> 16;
  out[at + 2] = n >>> 8;
  out[at + 3] = n;
  return BLOCK_SIZE_PREFIX + n;
}
