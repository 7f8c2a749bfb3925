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
import { adjustShare, codecWorker } from './codec-pool.js';
import type { CompressResult } from './codec-worker.js';
import { encodePagePayload, maxPageFrameBytes, maxPagePayloadSize } from './page-payload-encode.js';
import { encodePageIndex, type PageIndexEntry } from './page-index.js';

/** Output is handed to the sink in chunks of about this size. */
export const ENCODER_FLUSH_SIZE = 256 * 1024;
/** Page data compressed per round trip to the worker in parallel mode. */
export const PARALLEL_BATCH_BYTES = 256 * 1024;
const MIN_BATCH_PAGES = 4;
/** The worker starts with a bit more than half: the main thread also checksums and assembles. */
const INITIAL_WORKER_SHARE = 0.6;

export interface LtxEncoderOptions {
  /** 'frame' (default) is what every Litestream v0.5 reads; 'block' is the v0.5.2+ encoding. */
  encoding?: PageEncoding;
  /** Name used in error messages. */
  file?: string;
  /**
   * Compress on a worker thread as well as this one: about twice the
   * throughput on two cores, and less time on the event loop. Worth it for
   * large files (snapshots, compactions); pages are then written in batches.
   */
  parallel?: boolean;
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
  private readonly maxFrame: number;
  /** Pages waiting to be compressed together (parallel mode only). */
  private readonly batch: Uint8Array | null = null;
  private readonly batchPgnos: number[] = [];
  private batchCount = 0;
  private mainPayloads: Uint8Array | null = null;
  /** Fraction of each batch sent to the worker. */
  private workerShare = INITIAL_WORKER_SHARE;

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
    this.maxFrame = maxPageFrameBytes(header.pageSize);
    this.out = new Uint8Array(Math.max(ENCODER_FLUSH_SIZE, 2 * this.maxFrame));
    if (opts.parallel) {
      this.batch = new Uint8Array(Math.max(MIN_BATCH_PAGES, Math.floor(PARALLEL_BATCH_BYTES / header.pageSize)) * header.pageSize);
    }
    encodeHeader(this.header, this.out, 0);
    this.crc.update(this.out, 0, HEADER_SIZE);
    this.used = HEADER_SIZE;
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

    this.rolling?.toggle(pgno, data);
    this.prevPgno = pgno;
    if (this.batch) {
      this.batch.set(data, this.batchCount * h.pageSize);
      this.batchPgnos[this.batchCount++] = pgno;
      if (this.batchCount * h.pageSize === this.batch.length) await this.flushBatch();
      return;
    }
    if (this.out.length - this.used < this.maxFrame) await this.flush();
    const start = this.used;
    this.writePageHeader(pgno);
    const n = encodePagePayload(data, 0, h.pageSize, this.encoding, this.out, start + PAGE_HEADER_SIZE);
    this.appendChecksummed(pgno, start, n, data, 0);
  }

  private writePageHeader(pgno: number): void {
    const out = this.out;
    const p = this.used;
    out[p] = pgno >>> 24;
    out[p + 1] = pgno >>> 16;
    out[p + 2] = pgno >>> 8;
    out[p + 3] = pgno;
    const flags = this.encoding === 'frame' ? 0 : PAGE_FLAG_SIZE;
    out[p + 4] = flags >>> 8;
    out[p + 5] = flags & 0xff;
  }

  /**
   * Accounts for a page whose header is at out[start] and whose payload of n
   * bytes follows it: file checksum (page header, the block encoding's size
   * prefix, the uncompressed page), index entry, buffer position.
   */
  private appendChecksummed(pgno: number, start: number, n: number, data: Uint8Array, dataAt: number): void {
    const prefix = this.encoding === 'frame' ? PAGE_HEADER_SIZE : PAGE_HEADER_SIZE + BLOCK_SIZE_PREFIX;
    this.crc.update(this.out, start, start + prefix);
    this.crc.update(data, dataAt, dataAt + this.header.pageSize);
    const size = PAGE_HEADER_SIZE + n;
    this.index.push({ pgno, offset: this.written + start, size });
    this.used = start + size;
  }

  /**
   * Compresses the buffered pages: a share goes to the worker thread while the
   * main thread compresses the rest, then both are assembled in page order.
   * The share adapts so that neither side waits long for the other.
   */
  private async flushBatch(): Promise<void> {
    const batch = this.batch!;
    const count = this.batchCount;
    this.batchCount = 0;
    if (count === 0) return;
    const ps = this.header.pageSize;
    const k = count < 2 || this.workerShare === 0 ? 0 : Math.min(count - 1, Math.max(1, Math.round(count * this.workerShare)));
    let job: Promise<CompressResult> | null = null;
    if (k > 0) {
      job = codecWorker().compress({ pages: batch.slice(0, k * ps), pageSize: ps, count: k, encoding: this.encoding });
      // Rejections are handled where the job is awaited.
      job.catch(() => undefined);
    }
    const scratch = (this.mainPayloads ??= new Uint8Array((batch.length / ps) * maxPagePayloadSize(ps)));
    const mainAt = new Int32Array(count + 1);
    const mainStart = performance.now();
    for (let i = k; i < count; i++) {
      mainAt[i + 1] = mainAt[i]! + encodePagePayload(batch, i * ps, ps, this.encoding, scratch, mainAt[i]!);
    }
    let result: CompressResult | null = null;
    if (job) {
      const mainTime = performance.now() - mainStart;
      const waitStart = performance.now();
      try {
        result = await job;
        this.workerShare = adjustShare(this.workerShare, performance.now() - waitStart, mainTime);
      } catch {
        // Without a worker the batch is still encoded, on this thread, and so are the next ones.
        this.workerShare = 0;
      }
    }
    let workerAt = 0;
    for (let i = 0; i < count; i++) {
      if (this.out.length - this.used < this.maxFrame) await this.flush();
      const start = this.used;
      this.writePageHeader(this.batchPgnos[i]!);
      const payloadAt = start + PAGE_HEADER_SIZE;
      let n: number;
      if (i < k && result) {
        n = result.lengths[i]!;
        this.out.set(result.payloads.subarray(workerAt, workerAt + n), payloadAt);
        workerAt += n;
      } else if (i < k) {
        n = encodePagePayload(batch, i * ps, ps, this.encoding, this.out, payloadAt);
      } else {
        n = mainAt[i + 1]! - mainAt[i]!;
        this.out.set(scratch.subarray(mainAt[i]!, mainAt[i + 1]!), payloadAt);
      }
      this.appendChecksummed(this.batchPgnos[i]!, start, n, batch, i * ps);
    }
  }

  /**
   * Writes the end marker, index and trailer, and flushes. For checksum-tracking
   * files that are not snapshots, the caller supplies the post-apply checksum
   * (see DatabaseChecksum); snapshots compute their own.
   */
  async finish(opts: { postApplyChecksum?: bigint } = {}): Promise<LtxEncodeResult> {
    if (this.state !== 'open') this.fail(`cannot finish: encoder is ${this.state}`);
    const h = this.header;
    if (this.batch) await this.flushBatch();
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
