/**
 * Streaming decoder for whole files in the LZ4 frame format, as Litestream
 * v0.3 stores snapshots and WAL segments: Go's pierrec/lz4 writes FLG 0x64
 * BD 0x70 (4 MiB independent blocks, content checksum), the `lz4` command
 * line tool FLG 0x64 BD 0x40. Anything the frame format allows is read:
 * block sizes 64 KiB to 4 MiB, stored blocks, block checksums, a content
 * size, linked blocks, skippable frames and several frames in a row.
 *
 * The page decoder in src/ltx/lz4-frame.ts knows the output size in advance
 * (one page) and stops there; a snapshot is a whole database of unknown
 * size, so this one yields each block as it is decoded and keeps nothing but
 * the block in hand (and, for linked blocks, the last 64 KiB of output).
 */
import type { ByteSource } from '../../ltx/byte-source.js';
import { BufferedReader } from '../../ltx/byte-source.js';
import { Lz4FormatError, lz4DecompressBlock } from '../../ltx/lz4-block.js';
import { xxh32 } from '../../ltx/xxh32.js';
import { V03CorruptObjectError } from './errors.js';
import { Xxh32Stream } from '../../ltx/xxh32.js';

export const LZ4_FRAME_MAGIC = 0x184d2204;
/** The pre-frame "legacy" format (`lz4 -l`), which Litestream never wrote. */
const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Skippable frames have magics 0x184D2A50..0x184D2A5F. */
const SKIPPABLE_MAGIC = 0x184d2a50;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;

const FLG_VERSION_MASK = 0xc0;
const FLG_VERSION_01 = 0x40;
const FLG_BLOCK_INDEPENDENCE = 0x20;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_RESERVED = 0x02;
const FLG_DICT_ID = 0x01;
const BD_RESERVED = 0x8f;
const BLOCK_UNCOMPRESSED = 0x80000000;
const END_MARK = 0;

/** Maximum block size for BD block-size ids 4..7; ids 0..3 are reserved. */
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
/** How far back a match in a linked block may reach. */
const LINKED_WINDOW = 64 * 1024;

/** Magic plus FLG, BD and HC, without the optional content size. */
const MIN_FRAME_HEADER = 7;
const CONTENT_SIZE_BYTES = 8;
const U32_BYTES = 4;
/** Skippable frames are passed over in steps of this size, so a huge declared length cannot inflate the buffer. */
const SKIP_STEP = 64 * 1024;
/** The read buffer starts this small (most WAL segments are a few KiB) and grows to the largest block met. */
const INITIAL_READ_BUFFER = 64 * 1024;

/**
 * Output space for independent blocks, shared by every stream: a block is
 * decoded into it and copied out synchronously, so streams never see each
 * other's bytes, and a restore of many small segments does not allocate
 * 4 MiB per segment.
 */
let sharedScratch = new Uint8Array(0);

function scratchOf(size: number): Uint8Array {
  if (sharedScratch.length < size) sharedScratch = new Uint8Array(size);
  return sharedScratch;
}

/**
 * Decodes the LZ4 frames in `source` and yields the decompressed bytes, in
 * fresh chunks of at most one block each. `object` names the input in errors:
 * V03CorruptObjectError with the byte offset in the compressed input for a
 * truncated, malformed or checksum-failing frame, and for an empty input.
 * Errors of the source itself pass through. The source is closed when the
 * decoder finishes, fails or is abandoned.
 */
export async function* decodeLz4Frames(source: AsyncIterable<Uint8Array>, object: string, signal?: AbortSignal): AsyncGenerator<Uint8Array, void, undefined> {
  const input = new IteratorSource(source);
  const r = new BufferedReader(input, INITIAL_READ_BUFFER);
  const fail = (reason: string, offset: number): never => {
    throw new V03CorruptObjectError(object, reason, offset);
  };
  try {
    let frames = 0;
    for (;;) {
      signal?.throwIfAborted();
      if (!(await r.fill(U32_BYTES))) {
        if (r.available === 0 && frames > 0) return;
        if (r.available === 0) fail('empty file: expected an LZ4 frame', 0);
        fail(`truncated: ${r.available} stray byte(s) after the last LZ4 frame`, r.offset);
      }
      const magic = readU32(r.buf, r.pos);
      if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
        await skipFrame(r, fail);
        continue;
      }
      if (magic !== LZ4_FRAME_MAGIC) {
        if (magic === LZ4_LEGACY_MAGIC) fail('the legacy LZ4 format is not supported (expected LZ4 frames)', r.offset);
        fail(`not an LZ4 frame: magic 0x${hex(magic, 8)}${frames > 0 ? ' after the last frame' : ''}`, r.offset);
      }
      yield* decodeFrame(r, fail, signal);
      frames++;
    }
  } finally {
    await input.close();
  }
}

async function need(r: BufferedReader, n: number, what: string, fail: (reason: string, offset: number) => never): Promise<void> {
  if (!(await r.fill(n))) fail(`truncated: the file ends inside the LZ4 ${what}`, r.offset + r.available);
}

async function skipFrame(r: BufferedReader, fail: (reason: string, offset: number) => never): Promise<void> {
  await need(r, 2 * U32_BYTES, 'skippable frame header', fail);
  let left = readU32(r.buf, r.pos + U32_BYTES);
  r.consume(2 * U32_BYTES);
  while (left > 0) {
    const step = Math.min(left, SKIP_STEP);
    await need(r, step, 'skippable frame', fail);
    r.consume(step);
    left -= step;
  }
}

async function* decodeFrame(r: BufferedReader, fail: (reason: string, offset: number) => never, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array, void, undefined> {
  const frameAt = r.offset;
  await need(r, MIN_FRAME_HEADER, 'frame header', fail);
  const flg = r.buf[r.pos + 4]!;
  const bd = r.buf[r.pos + 5]!;
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_01) fail(`unsupported LZ4 frame version in FLG 0x${hex(flg, 2)}`, frameAt + 4);
  if ((flg & FLG_RESERVED) !== 0) fail(`reserved bit set in LZ4 FLG 0x${hex(flg, 2)}`, frameAt + 4);
  if ((flg & FLG_DICT_ID) !== 0) fail('LZ4 frames with a dictionary ID are not supported', frameAt + 4);
  if ((bd & BD_RESERVED) !== 0) fail(`reserved bits set in LZ4 BD 0x${hex(bd, 2)}`, frameAt + 5);
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 7]!;
  if (blockMax === 0) fail(`invalid LZ4 block size id ${(bd >> 4) & 7} in BD 0x${hex(bd, 2)}`, frameAt + 5);
  const hasContentSize = (flg & FLG_CONTENT_SIZE) !== 0;
  const descLen = 2 + (hasContentSize ? CONTENT_SIZE_BYTES : 0);
  await need(r, U32_BYTES + descLen + 1, 'frame header', fail);
  const descAt = r.pos + U32_BYTES;
  const hc = r.buf[descAt + descLen]!;
  const expectHc = (xxh32(r.buf, 0, descAt, descAt + descLen) >>> 8) & 0xff;
  if (hc !== expectHc) fail(`LZ4 frame header checksum mismatch: 0x${hex(hc, 2)}, expected 0x${hex(expectHc, 2)}`, frameAt + U32_BYTES + descLen);
  let contentSize: number | undefined;
  if (hasContentSize) {
    const size = readU64(r.buf, descAt + 2);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) fail(`LZ4 content size ${size} is too large`, frameAt + 6);
    contentSize = Number(size);
  }
  r.consume(U32_BYTES + descLen + 1);

  const linked = (flg & FLG_BLOCK_INDEPENDENCE) === 0;
  const blockChecksum = (flg & FLG_BLOCK_CHECKSUM) !== 0;
  const trailer = blockChecksum ? U32_BYTES : 0;
  const hasher = (flg & FLG_CONTENT_CHECKSUM) !== 0 ? new Xxh32Stream() : undefined;
  // Linked blocks: [up to 64 KiB of earlier output][this block's output], the
  // history kept right-aligned against LINKED_WINDOW.
  const work = linked ? new Uint8Array(LINKED_WINDOW + blockMax) : undefined;
  let history = 0;
  let total = 0;

  for (;;) {
    signal?.throwIfAborted();
    await need(r, U32_BYTES, 'block size', fail);
    const blockAt = r.offset;
    const field = readU32(r.buf, r.pos);
    r.consume(U32_BYTES);
    if (field === END_MARK) break;
    const stored = (field & BLOCK_UNCOMPRESSED) !== 0;
    const len = (field & ~BLOCK_UNCOMPRESSED) >>> 0;
    if (len === 0) fail('empty LZ4 block', blockAt);
    if (len > blockMax) fail(`LZ4 block of ${len} bytes exceeds the frame's ${blockMax}-byte maximum`, blockAt);
    await need(r, len + trailer, 'block', fail);
    const dataAt = r.pos;
    const buf = r.buf;

    let out: Uint8Array;
    try {
      if (work !== undefined) {
        let n: number;
        if (stored) {
          work.set(buf.subarray(dataAt, dataAt + len), LINKED_WINDOW);
          n = len;
        } else {
          n = lz4DecompressBlock(buf, work, dataAt, dataAt + len, LINKED_WINDOW, blockMax, LINKED_WINDOW - history);
        }
        out = work.slice(LINKED_WINDOW, LINKED_WINDOW + n);
        const keep = Math.min(LINKED_WINDOW, history + n);
        work.copyWithin(LINKED_WINDOW - keep, LINKED_WINDOW + n - keep, LINKED_WINDOW + n);
        history = keep;
      } else if (stored) {
        out = buf.slice(dataAt, dataAt + len);
      } else {
        const scratch = scratchOf(blockMax);
        const n = lz4DecompressBlock(buf, scratch, dataAt, dataAt + len, 0, blockMax);
        out = scratch.slice(0, n);
      }
    } catch (err) {
      if (err instanceof Lz4FormatError) fail(`bad LZ4 block: ${err.reason}`, blockAt + U32_BYTES + err.offset);
      throw err;
    }
    if (blockChecksum) {
      // The frame format checksums the block as stored; some writers checksum
      // the decoded bytes instead. Either proves the block intact.
      const sum = readU32(buf, dataAt + len);
      if (sum !== xxh32(buf, 0, dataAt, dataAt + len) && sum !== xxh32(out)) fail('LZ4 block checksum mismatch', blockAt);
    }
    r.consume(len + trailer);
    total += out.length;
    if (contentSize !== undefined && total > contentSize) {
      fail(`LZ4 frame holds more than the ${contentSize} bytes its header declares`, blockAt);
    }
    hasher?.update(out);
    if (out.length > 0) yield out;
  }

  if (contentSize !== undefined && total !== contentSize) {
    fail(`LZ4 frame holds ${total} bytes, its header declares ${contentSize}`, r.offset - U32_BYTES);
  }
  if (hasher !== undefined) {
    await need(r, U32_BYTES, 'content checksum', fail);
    const stored = readU32(r.buf, r.pos);
    const computed = hasher.digest();
    if (stored !== computed) fail(`LZ4 content checksum mismatch: stored 0x${hex(stored, 8)}, computed 0x${hex(computed, 8)}`, r.offset);
    r.consume(U32_BYTES);
  }
}

/** A ByteSource over an async iterable of chunks that can be closed early, releasing what the iterable holds (a file descriptor, a connection). */
class IteratorSource implements ByteSource {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private done = false;

  constructor(iterable: AsyncIterable<Uint8Array>) {
    this.it = iterable[Symbol.asyncIterator]();
  }

  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    while (this.pos >= this.chunk.length) {
      if (this.done) return 0;
      const r = await this.it.next();
      if (r.done === true) {
        this.done = true;
        return 0;
      }
      this.chunk = r.value;
      this.pos = 0;
    }
    const n = Math.min(length, this.chunk.length - this.pos);
    buf.set(this.chunk.subarray(this.pos, this.pos + n), offset);
    this.pos += n;
    return n;
  }

  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.it.return?.();
  }
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function readU64(b: Uint8Array, at: number): bigint {
  return BigInt(readU32(b, at)) | (BigInt(readU32(b, at + 4)) << 32n);
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}
