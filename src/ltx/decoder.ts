import { readU32be } from './bytes.js';
import { BufferedReader, MemorySource, type ByteSource } from './byte-source.js';
import { DatabaseChecksum, pageChecksum } from './checksum.js';
import {
  CHECKSUM_FLAG,
  HEADER_SIZE,
  INDEX_SIZE_FIELD,
  PAGE_FLAG_SIZE,
  PAGE_HEADER_SIZE,
  TRAILER_SIZE,
  lockPgno,
} from './constants.js';
import { Crc64 } from './crc64.js';
import {
  LtxChecksumError,
  LtxContentError,
  LtxError,
  LtxIndexError,
  LtxPageError,
  LtxTruncatedError,
  type LtxErrorContext,
} from './errors.js';
import { parseFilename } from './file-name.js';
import {
  decodeHeader,
  hasNoChecksum,
  hex64,
  isSnapshot,
  validateHeader,
  type DecodedLtxHeader,
} from './header.js';
import { readPagePayload } from './page-payload.js';
import type { PageIndexEntry } from './page-index.js';
import { MAX_VARINT_BYTES, readUvarint } from './varint.js';

/** The legacy v2 layout's page header: a bare u32 page number. */
const LEGACY_PAGE_HEADER_SIZE = 4;
const LZ4_MAGIC_BYTES = [0x04, 0x22, 0x4d, 0x18];
const LZ4_SKIPPABLE_PREFIX = [0x2a, 0x4d, 0x18];

export type LtxLayout = 'v3' | 'legacy-v2';

export interface LtxDecoderOptions {
  /** Name used in error messages; its base name is also checked against the TXIDs with `strict`. */
  file?: string;
  /**
   * Enforce the checks Go's decoder leaves out but every well-formed file meets:
   * page order, pages within commit, no lock page, complete snapshots, an index
   * that matches the pages exactly, a file name that matches the header.
   */
  strict?: boolean;
  /** Compute each page's checksum (ChecksumPage) into DecodedPage.checksum. */
  pageChecksums?: boolean;
  /** Accept the legacy v2 layout ('auto', default) or insist on one layout. */
  layout?: LtxLayout | 'auto';
  /**
   * Decode every page into one buffer owned by the decoder, valid until the
   * next readPage. Saves an allocation per page for callers that only look.
   */
  reusePageBuffer?: boolean;
}

export interface DecodedPage {
  pgno: number;
  /** Page header flags as stored (0 = frame, 1 = block; always 0 for legacy v2). */
  flags: number;
  data: Uint8Array;
  /** File offset of the page header. */
  offset: number;
  /** Bytes from the page header to the end of the payload. */
  size: number;
  /** ChecksumPage(pgno, data) when `pageChecksums` was asked for. */
  checksum?: bigint;
}

export interface LtxTrailer {
  postApplyChecksum: bigint;
  fileChecksum: bigint;
}

export interface LtxDecodeSummary {
  header: DecodedLtxHeader;
  layout: LtxLayout;
  trailer: LtxTrailer;
  /** The page index as stored (empty for legacy v2 files, which have none). */
  index: PageIndexEntry[];
  /** The u64 index size field as stored (0 for legacy v2). */
  indexSizeField: bigint;
  pageCount: number;
  /** File size in bytes. */
  size: number;
  /** Findings that do not make the file invalid (non-zero reserved bytes, no LZ4 content checksum). */
  warnings: string[];
}

/**
 * Streaming LTX reader: `readHeader`, then `readPage` until it returns null,
 * then `finish` to read the index and trailer and verify the file checksum.
 * Holds one page, the read buffer and the index in memory. Any malformed input
 * ends in an LtxError that names the file and the byte offset.
 */
export class LtxDecoder {
  private readonly r: BufferedReader;
  private readonly ctx: LtxErrorContext;
  private readonly strict: boolean;
  private readonly wantPageChecksums: boolean;
  private readonly layoutOption: LtxLayout | 'auto';
  private readonly reuse: boolean;
  private pageBuffer: Uint8Array | null = null;
  private readonly crc = new Crc64();
  private readonly seen: PageIndexEntry[] = [];
  private readonly warnings: string[] = [];
  private header: DecodedLtxHeader | null = null;
  private layout: LtxLayout = 'v3';
  private rolling: DatabaseChecksum | null = null;
  private lock = 0;
  private prevPgno = 0;
  private pagesDone = false;
  private warnedNoContentChecksum = false;
  private finished = false;

  constructor(source: ByteSource, opts?: LtxDecoderOptions);
  /** @internal A reader already positioned inside a larger stream, whose buffer the decoder then shares. */
  constructor(source: ByteSource | BufferedReader, opts?: LtxDecoderOptions);
  constructor(source: ByteSource | BufferedReader, opts: LtxDecoderOptions = {}) {
    this.r = source instanceof BufferedReader ? source : new BufferedReader(source);
    this.ctx = opts.file === undefined ? {} : { file: opts.file };
    this.strict = opts.strict ?? false;
    this.wantPageChecksums = opts.pageChecksums ?? false;
    this.layoutOption = opts.layout ?? 'auto';
    this.reuse = opts.reusePageBuffer ?? false;
  }

  private at(offset: number): LtxErrorContext {
    return { ...this.ctx, offset };
  }

  async readHeader(): Promise<DecodedLtxHeader> {
    if (this.header) return this.header;
    const r = this.r;
    await r.fill(HEADER_SIZE);
    const h = decodeHeader(r.buf.subarray(r.pos, r.end), this.ctx);
    validateHeader(h, this.ctx);
    this.crc.update(r.buf, r.pos, r.pos + HEADER_SIZE);
    r.consume(HEADER_SIZE);
    if (h.reserved.some((b) => b !== 0)) this.warnings.push('reserved header bytes are not zero');
    if (this.strict && this.ctx.file !== undefined) {
      const base = this.ctx.file.split(/[\\/]/).pop() ?? '';
      const named = parseFilename(base);
      if (named && (named.minTxid !== h.minTxid || named.maxTxid !== h.maxTxid)) {
        throw new LtxContentError(
          `file name says TXIDs ${hex64(named.minTxid)}-${hex64(named.maxTxid)}, header says ${hex64(h.minTxid)}-${hex64(h.maxTxid)}`,
          this.at(16),
        );
      }
    }
    this.lock = lockPgno(h.pageSize);
    if (isSnapshot(h) && !hasNoChecksum(h)) this.rolling = new DatabaseChecksum(h.pageSize);
    this.layout = this.layoutOption === 'auto' ? await this.detectLayout() : this.layoutOption;
    this.header = h;
    return h;
  }

  /**
   * v2 and v3 files share the header. A v3 page header is followed by an LZ4
   * frame magic (flags 0) or carries flag 1; an all-zero v3 end marker is
   * also read as v3. Anything else after the header is a v2 page.
   */
  private async detectLayout(): Promise<LtxLayout> {
    const r = this.r;
    await r.fill(PAGE_HEADER_SIZE + 4);
    const b = r.buf;
    const p = r.pos;
    if (r.available < PAGE_HEADER_SIZE) return 'v3';
    const flags = (b[p + 4]! << 8) | b[p + 5]!;
    const pgnoZero = b[p] === 0 && b[p + 1] === 0 && b[p + 2] === 0 && b[p + 3] === 0;
    if (flags === PAGE_FLAG_SIZE) return 'v3';
    if (flags === 0 && pgnoZero) return 'v3';
    if (flags === 0 && r.available >= PAGE_HEADER_SIZE + 4) {
      const m = p + PAGE_HEADER_SIZE;
      const isFrame = LZ4_MAGIC_BYTES.every((v, i) => b[m + i] === v);
      const isSkippable = (b[m]! & 0xf0) === 0x50 && LZ4_SKIPPABLE_PREFIX.every((v, i) => b[m + 1 + i] === v);
      if (isFrame || isSkippable) return 'v3';
    }
    return pgnoZero ? 'v3' : 'legacy-v2';
  }

  get fileLayout(): LtxLayout {
    return this.layout;
  }

  /** The next page, or null once the end-of-pages marker has been read. */
  async readPage(): Promise<DecodedPage | null> {
    const h = this.header ?? (await this.readHeader());
    if (this.pagesDone) return null;
    const r = this.r;
    const headerSize = this.layout === 'v3' ? PAGE_HEADER_SIZE : LEGACY_PAGE_HEADER_SIZE;
    const offset = r.offset;
    if (r.end - r.pos < headerSize && !(await r.fill(headerSize))) {
      throw new LtxTruncatedError('page: unexpected end of data in page header', this.at(offset));
    }
    const b = r.buf;
    const p = r.pos;
    const pgno = readU32be(b, p);
    const flags = this.layout === 'v3' ? (b[p + 4]! << 8) | b[p + 5]! : 0;
    this.crc.update(b, p, p + headerSize);
    r.consume(headerSize);
    if (pgno === 0 && flags === 0) {
      this.pagesDone = true;
      return null;
    }
    if (pgno === 0) throw new LtxPageError('page: page number required', this.at(offset));
    if (flags !== 0 && flags !== PAGE_FLAG_SIZE) {
      throw new LtxPageError(`page: invalid page header flags: 0x${flags.toString(16).padStart(4, '0')}`, this.at(offset + 4));
    }
    if (this.strict) this.checkOrder(h, pgno, offset);

    const data = this.reuse ? (this.pageBuffer ??= new Uint8Array(h.pageSize)) : new Uint8Array(h.pageSize);
    if (this.layout === 'legacy-v2') {
      if (r.end - r.pos < h.pageSize && !(await r.fill(h.pageSize))) {
        throw new LtxTruncatedError(`page ${pgno}: unexpected end of data in page`, this.at(r.offset));
      }
      data.set(r.buf.subarray(r.pos, r.pos + h.pageSize));
      this.crc.update(r.buf, r.pos, r.pos + h.pageSize);
      r.consume(h.pageSize);
    } else {
      const res = readPagePayload(r, flags, pgno, data, this.ctx, this.crc);
      const contentChecksum = typeof res === 'boolean' ? res : await res;
      if (!contentChecksum && !this.warnedNoContentChecksum) {
        this.warnedNoContentChecksum = true;
        this.warnings.push(`page ${pgno}: LZ4 frame has no content checksum (readers on newer LZ4 libraries refuse such frames)`);
      }
    }
    const size = r.offset - offset;
    const page: DecodedPage = { pgno, flags, data, offset, size };
    if (this.wantPageChecksums || this.rolling) {
      const ck = pageChecksum(pgno, data);
      if (this.wantPageChecksums) page.checksum = ck;
      this.rolling?.toggleChecksum(pgno, ck);
    }
    this.seen.push({ pgno, offset, size });
    this.prevPgno = pgno;
    return page;
  }

  private checkOrder(h: DecodedLtxHeader, pgno: number, offset: number): void {
    if (pgno === this.lock) throw new LtxContentError(`page ${pgno} is the lock page, which is never stored`, this.at(offset));
    if (pgno > h.commit) {
      throw new LtxContentError(`page ${pgno} is above the commit size of ${h.commit} pages`, this.at(offset));
    }
    if (isSnapshot(h)) {
      const want = this.prevPgno === this.lock - 1 ? this.prevPgno + 2 : this.prevPgno + 1;
      if (pgno !== want) {
        throw new LtxContentError(`snapshot pages out of sequence: expected page ${want}, got ${pgno}`, this.at(offset));
      }
    } else if (pgno <= this.prevPgno) {
      throw new LtxContentError(`pages out of order: page ${pgno} after page ${this.prevPgno}`, this.at(offset));
    }
  }

  /** Every remaining page, in file order. */
  async *pages(): AsyncGenerator<DecodedPage> {
    for (;;) {
      const p = await this.readPage();
      if (!p) return;
      yield p;
    }
  }

  /**
   * Skips any pages not yet read, then reads the page index and trailer and
   * verifies the file checksum (and, for checksum-tracking snapshots, the
   * post-apply checksum). Throws if the file is invalid.
   */
  async finish(): Promise<LtxDecodeSummary> {
    if (this.finished) throw new LtxError('decoder already finished', this.ctx);
    const h = this.header ?? (await this.readHeader());
    while (!this.pagesDone) await this.readPage();
    const r = this.r;

    if (this.strict && isSnapshot(h) && h.commit > 0) {
      const last = h.commit === this.lock ? h.commit - 1 : h.commit;
      if (this.prevPgno !== last) {
        throw new LtxContentError(`snapshot incomplete: has pages up to ${this.prevPgno}, commit is ${h.commit}`, this.at(r.offset));
      }
    }

    let index: PageIndexEntry[] = [];
    let indexSizeField = 0n;
    if (this.layout === 'v3') {
      const parsed = await this.readIndex();
      index = parsed.entries;
      indexSizeField = parsed.sizeField;
      if (this.strict) this.checkIndex(parsed.entries, parsed.extra, parsed.length, parsed.sizeField, parsed.start);
    }

    const trailerAt = r.offset;
    if (r.end - r.pos < TRAILER_SIZE && !(await r.fill(TRAILER_SIZE))) {
      throw new LtxTruncatedError(`trailer: expected ${TRAILER_SIZE} bytes, found ${r.available}`, this.at(trailerAt));
    }
    const dv = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, TRAILER_SIZE);
    const trailer: LtxTrailer = { postApplyChecksum: dv.getBigUint64(0), fileChecksum: dv.getBigUint64(8) };
    this.crc.update(r.buf, r.pos, r.pos + 8);
    r.consume(TRAILER_SIZE);
    const size = r.offset;
    if (!(await r.atEnd())) {
      throw new LtxChecksumError('file checksum mismatch: unexpected bytes after the trailer', this.at(size));
    }
    const expect = CHECKSUM_FLAG | this.crc.digest();
    if (trailer.fileChecksum !== expect) {
      throw new LtxChecksumError(
        `file checksum mismatch: stored ${hex64(trailer.fileChecksum)}, computed ${hex64(expect)}`,
        this.at(trailerAt + 8),
      );
    }
    if (this.rolling && h.commit > 0 && trailer.postApplyChecksum !== this.rolling.digest()) {
      throw new LtxChecksumError(
        `post-apply checksum mismatch: stored ${hex64(trailer.postApplyChecksum)}, pages give ${hex64(this.rolling.digest())}`,
        this.at(trailerAt),
      );
    }
    if (this.strict) this.checkTrailer(h, trailer, trailerAt);
    this.finished = true;
    return {
      header: h,
      layout: this.layout,
      trailer,
      index,
      indexSizeField,
      pageCount: this.seen.length,
      size,
      warnings: this.warnings,
    };
  }

  private async readIndex(): Promise<{
    entries: PageIndexEntry[];
    extra: number;
    length: number;
    sizeField: bigint;
    start: number;
  }> {
    const r = this.r;
    const start = r.offset;
    const entries: PageIndexEntry[] = [];
    // Keep at most one entry per page read (plus one to detect excess) so a corrupt
    // index cannot make memory grow past what the pages already justify.
    const keep = this.seen.length + 1;
    let extra = 0;
    const next = async (what: string): Promise<number> => {
      if (r.end - r.pos < MAX_VARINT_BYTES) await r.fill(MAX_VARINT_BYTES);
      let v;
      try {
        v = readUvarint(r.buf, r.pos, r.end);
      } catch (err) {
        throw new LtxIndexError(`page index: malformed ${what} varint`, { ...this.at(r.offset), cause: err });
      }
      if (v === null) throw new LtxTruncatedError(`page index: unexpected end of data in ${what}`, this.at(r.offset));
      this.crc.update(r.buf, r.pos, v.next);
      r.pos = v.next;
      return v.value;
    };
    for (;;) {
      const pgno = await next('page number');
      if (pgno === 0) break;
      const offset = await next('offset');
      const size = await next('size');
      if (entries.length < keep) entries.push({ pgno, offset, size });
      else extra++;
    }
    const length = r.offset - start;
    const fieldAt = r.offset;
    if (r.end - r.pos < INDEX_SIZE_FIELD && !(await r.fill(INDEX_SIZE_FIELD))) {
      throw new LtxTruncatedError('page index: unexpected end of data in index size', this.at(fieldAt));
    }
    const sizeField = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8).getBigUint64(0);
    this.crc.update(r.buf, r.pos, r.pos + INDEX_SIZE_FIELD);
    r.consume(INDEX_SIZE_FIELD);
    return { entries, extra, length, sizeField, start };
  }

  private checkIndex(entries: PageIndexEntry[], extra: number, length: number, sizeField: bigint, start: number): void {
    if (sizeField !== BigInt(length)) {
      throw new LtxIndexError(`page index size field says ${sizeField} bytes, index is ${length} bytes`, this.at(start + length));
    }
    const pages = [...this.seen].sort((a, b) => a.pgno - b.pgno);
    if (extra > 0 || entries.length !== pages.length) {
      throw new LtxIndexError(`page index lists ${entries.length + extra} pages, file has ${pages.length}`, this.at(start));
    }
    for (let i = 0; i < pages.length; i++) {
      const e = entries[i]!;
      const p = pages[i]!;
      if (e.pgno !== p.pgno || e.offset !== p.offset || e.size !== p.size) {
        throw new LtxIndexError(
          `page index entry ${i} (page ${e.pgno} at ${e.offset}, ${e.size} bytes) does not match page ${p.pgno} at ${p.offset}, ${p.size} bytes`,
          this.at(start),
        );
      }
    }
  }

  private checkTrailer(h: DecodedLtxHeader, t: LtxTrailer, at: number): void {
    if (this.layout !== 'v3') return;
    if (hasNoChecksum(h)) {
      if (t.postApplyChecksum !== 0n) throw new LtxChecksumError('post-apply checksum must be zero with the no-checksum flag', this.at(at));
    } else if ((t.postApplyChecksum & CHECKSUM_FLAG) === 0n) {
      throw new LtxChecksumError('invalid post-apply checksum format (top bit clear)', this.at(at));
    }
    if (h.commit === 0 && t.postApplyChecksum !== CHECKSUM_FLAG) {
      throw new LtxChecksumError('a commit-0 file must have post-apply checksum 0x8000000000000000', this.at(at));
    }
  }
}

export interface DecodedLtxFile extends LtxDecodeSummary {
  pages: DecodedPage[];
}

/** Decodes a whole file held in memory (tests, small files, `inspect`). */
export async function decodeLtx(data: Uint8Array, opts: LtxDecoderOptions = {}): Promise<DecodedLtxFile> {
  const dec = new LtxDecoder(new MemorySource(data), opts);
  await dec.readHeader();
  const pages: DecodedPage[] = [];
  for await (const p of dec.pages()) pages.push(p);
  return { ...(await dec.finish()), pages };
}

/**
 * Reads and verifies a file without keeping page data; `onPage` sees each page
 * as it goes by. This is what `tidemark inspect` runs.
 */
export async function verifyLtx(
  source: ByteSource,
  opts: LtxDecoderOptions & { onPage?: (page: DecodedPage) => void } = {},
): Promise<LtxDecodeSummary> {
  const dec = new LtxDecoder(source, { reusePageBuffer: true, ...opts });
  await dec.readHeader();
  for await (const p of dec.pages()) opts.onPage?.(p);
  return dec.finish();
}
