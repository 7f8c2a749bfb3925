import type { ByteSink } from './byte-sink.js';
import { DatabaseChecksum } from './checksum.js';
import {
  BLOCK_SIZE_PREFIX,
  CHECKSUM_FLAG,
  HEADER_SIZE,
  PAGE_FLAG_SIZE,
  PAGE_HEADER_SIZE,
  lockPgno,
  type PageEncoding,
} from './constants.js';
import { Crc64 } from './crc64.js';
import { LtxEncodeError, type LtxErrorContext } from './errors.js';
import { encodeHeader, hasNoChecksum, isSnapshot, validateHeader, type LtxHeader } from './header.js';
import { lz4BlockBound, lz4CompressBlock, lz4LiteralBlock } from './lz4-block.js';
import { maxPageFrameSize, writePageFrame } from './lz4-frame.js';
import { encodePageIndex, type PageIndexEntry } from './page-index.js';

/** Output is handed to the sink in chunks of about this size. */
export const ENCODER_FLUSH_SIZE = 256 * 1024;

export interface LtxEncoderOptions {
  /** 'frame' (default) is what every Litestream v0.5 reads; 'block' is the v0.5.2+ encoding. */
  encoding?: PageEncoding;
  /** Name used in error messages. */
  file?: string;
}

export interface LtxEncodeResult {
  header: LtxHeader;
  postApplyChecksum: bigint;
  fileChecksum: bigint;
  /** Total bytes written. */
  size: number;
  pageCount: number;
}

/**
 * Streams one LTX file to a sink: header, then pages in order, then `finish`.
 * Memory is one page frame plus the index and an output buffer, whatever the
 * file size. Every rule a valid file obeys is checked as pages arrive, so the
 * encoder never produces a file the decoder would refuse.
 */
export class LtxEncoder {
  readonly header: LtxHeader;
  private readonly encoding: PageEncoding;
  private readonly ctx: LtxErrorContext;
  private readonly crc = new Crc64();
  private readonly index: PageIndexEntry[] = [];
  private readonly lock: number;
  private readonly rolling: DatabaseChecksum | null;
  private out: Uint8Array;
  private used = 0;
  private written = 0;
  private prevPgno = 0;
  private state: 'open' | 'finished' | 'failed' = 'open';

  constructor(
    private readonly sink: ByteSink,
    header: LtxHeader,
    opts: LtxEncoderOptions = {},
  ) {
    this.ctx = opts.file === undefined ? {} : { file: opts.file };
    validateHeader(header, this.ctx);
    this.header = { ...header };
    this.encoding = opts.encoding ?? 'frame';
    this.lock = lockPgno(header.pageSize);
    // Snapshots that track checksums get their post-apply checksum from their own pages.
    this.rolling = isSnapshot(header) && !hasNoChecksum(header) ? new DatabaseChecksum(header.pageSize) : null;
    this.out = new Uint8Array(Math.max(ENCODER_FLUSH_SIZE, 2 * this.maxPageBytes()));
    encodeHeader(this.header, this.out, 0);
    this.crc.update(this.out, 0, HEADER_SIZE);
    this.used = HEADER_SIZE;
  }

  private maxPageBytes(): number {
    const n = this.header.pageSize;
    return PAGE_HEADER_SIZE + BLOCK_SIZE_PREFIX + Math.max(maxPageFrameSize(n), lz4BlockBound(n));
  }

  private fail(reason: string): never {
    this.state = 'failed';
    throw new LtxEncodeError(reason, this.ctx);
  }

  /** Appends one page. `data` must be exactly one page; it is not retained. */
  async writePage(pgno: number, data: Uint8Array): Promise<void> {
    if (this.state !== 'open') this.fail(`cannot write page ${pgno}: encoder is ${this.state}`);
    const h = this.header;
    if (!Number.isInteger(pgno) || pgno < 1) this.fail(`invalid page number ${pgno}`);
    if (data.length !== h.pageSize) this.fail(`page ${pgno} is ${data.length} bytes, page size is ${h.pageSize}`);
    if (pgno === this.lock) this.fail(`cannot encode lock page ${pgno}`);
    if (pgno > h.commit) this.fail(`page ${pgno} is above the commit size of ${h.commit} pages`);
    if (isSnapshot(h)) {
      const want = this.prevPgno === this.lock - 1 ? this.prevPgno + 2 : this.prevPgno + 1;
      if (pgno !== want) this.fail(`snapshot pages must be sequential: expected page ${want}, got ${pgno}`);
    } else if (pgno <= this.prevPgno) {
      this.fail(`pages must be in ascending order: page ${pgno} after page ${this.prevPgno}`);
    }

    if (this.out.length - this.used < this.maxPageBytes()) await this.flush();
    const out = this.out;
    const start = this.used;
    let p = start;
    out[p] = pgno >>> 24;
    out[p + 1] = pgno >>> 16;
    out[p + 2] = pgno >>> 8;
    out[p + 3] = pgno;
    if (this.encoding === 'frame') {
      out[p + 4] = 0;
      out[p + 5] = 0;
      this.crc.update(out, p, p + PAGE_HEADER_SIZE);
      p += PAGE_HEADER_SIZE;
      p += writePageFrame(data, 0, data.length, out, p);
    } else {
      out[p + 4] = PAGE_FLAG_SIZE >>> 8;
      out[p + 5] = PAGE_FLAG_SIZE & 0xff;
      const blockAt = p + PAGE_HEADER_SIZE + BLOCK_SIZE_PREFIX;
      let n = lz4CompressBlock(data, out, blockAt);
      // There is no stored escape in the block encoding: incompressible data
      // becomes a literal-only block, exactly as the Go writer emits it.
      if (n === 0) n = lz4LiteralBlock(data, out, blockAt);
      const sizeAt = p + PAGE_HEADER_SIZE;
      out[sizeAt] = n >>> 24;
      out[sizeAt + 1] = n >>> 16;
      out[sizeAt + 2] = n >>> 8;
      out[sizeAt + 3] = n;
      this.crc.update(out, p, blockAt);
      p = blockAt + n;
    }
    this.crc.update(data);
    this.rolling?.toggle(pgno, data);
    this.index.push({ pgno, offset: this.written + start, size: p - start });
    this.used = p;
    this.prevPgno = pgno;
  }

  /**
   * Writes the end marker, index and trailer, and flushes. For checksum-tracking
   * files that are not snapshots, the caller supplies the post-apply checksum
   * (see DatabaseChecksum); snapshots compute their own.
   */
  async finish(opts: { postApplyChecksum?: bigint } = {}): Promise<LtxEncodeResult> {
    if (this.state !== 'open') this.fail(`cannot finish: encoder is ${this.state}`);
    const h = this.header;
    if (isSnapshot(h) && h.commit > 0) {
      const last = h.commit === this.lock ? h.commit - 1 : h.commit;
      if (this.prevPgno !== last) this.fail(`snapshot incomplete: has pages 1..${this.prevPgno}, commit is ${h.commit}`);
    }
    let post: bigint;
    if (hasNoChecksum(h)) {
      if (h.commit === 0) this.fail('a commit-0 file needs checksum tracking (its post-apply checksum is fixed)');
      if (opts.postApplyChecksum !== undefined && opts.postApplyChecksum !== 0n) {
        this.fail('post-apply checksum not allowed with the no-checksum flag');
      }
      post = 0n;
    } else if (h.commit === 0) {
      post = CHECKSUM_FLAG;
      if (opts.postApplyChecksum !== undefined && opts.postApplyChecksum !== post) {
        this.fail('a commit-0 file must have post-apply checksum 0x8000000000000000');
      }
    } else if (this.rolling !== null) {
      post = this.rolling.digest();
      if (opts.postApplyChecksum !== undefined && opts.postApplyChecksum !== post) {
        this.fail(`post-apply checksum ${opts.postApplyChecksum.toString(16)} does not match the snapshot's pages (${post.toString(16)})`);
      }
    } else {
      if (opts.postApplyChecksum === undefined) this.fail('post-apply checksum required for a checksum-tracking incremental file');
      post = opts.postApplyChecksum;
      if ((post & CHECKSUM_FLAG) === 0n) this.fail('invalid post-apply checksum format (top bit clear)');
    }

    const index = encodePageIndex(this.index);
    const tail = new Uint8Array(PAGE_HEADER_SIZE + index.length + 16);
    tail.set(index, PAGE_HEADER_SIZE);
    const dv = new DataView(tail.buffer);
    const postAt = PAGE_HEADER_SIZE + index.length;
    dv.setBigUint64(postAt, post);
    this.crc.update(tail, 0, postAt + 8);
    const fileChecksum = CHECKSUM_FLAG | this.crc.digest();
    dv.setBigUint64(postAt + 8, fileChecksum);
    if (this.out.length - this.used >= tail.length) {
      this.out.set(tail, this.used);
      this.used += tail.length;
      await this.flush();
    } else {
      // A large index goes to the sink as its own chunk rather than through the buffer.
      await this.flush();
      this.written += tail.length;
      await this.sink.write(tail);
    }
    this.state = 'finished';
    return { header: { ...h }, postApplyChecksum: post, fileChecksum, size: this.written, pageCount: this.index.length };
  }

  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const chunk = this.out.subarray(0, this.used);
    this.written += this.used;
    this.out = new Uint8Array(this.out.length);
    this.used = 0;
    await this.sink.write(chunk);
  }
}
