import type { ByteSource } from './byte-source.js';
import type { ByteSink } from './byte-sink.js';
import { HEADER_FLAG_NO_CHECKSUM, lockPgno } from './constants.js';
import { LtxDecoder, type DecodedPage, type LtxDecoderOptions } from './decoder.js';
import { LtxCompactionError } from './errors.js';
import { LtxEncoder, type LtxEncodeResult, type LtxEncoderOptions } from './encoder.js';
import { hex64, type DecodedLtxHeader, type LtxHeader } from './header.js';

/** One input to a merge: a byte source and a name for error messages. */
export interface LtxInput {
  source: ByteSource;
  name?: string;
}

export interface MergeOptions {
  /** Accept inputs whose TXID ranges leave gaps (Go's AllowNonContiguousTXIDs). */
  allowNonContiguous?: boolean;
  /** Decoder options for every input (strict checks, layout). */
  decoder?: Omit<LtxDecoderOptions, 'file'>;
}

/**
 * A k-way merge of LTX files, oldest first. Exposes the merged header and then
 * the merged pages in ascending page order: for each page number the newest
 * input that holds it wins, and pages above the last input's commit are
 * dropped. Holds one page per input in memory. `finish` verifies every input's
 * checksums and returns the last input's post-apply checksum.
 */
export class LtxMerger {
  private readonly decoders: LtxDecoder[];
  /** Input names as used in error messages. */
  readonly names: string[];
  private headers: DecodedLtxHeader[] = [];
  private current: (DecodedPage | null)[] = [];

  constructor(
    inputs: readonly LtxInput[],
    private readonly opts: MergeOptions = {},
  ) {
    if (inputs.length === 0) throw new LtxCompactionError('at least one input file is required');
    this.names = inputs.map((inp, i) => inp.name ?? `input ${i}`);
    this.decoders = inputs.map((inp, i) => new LtxDecoder(inp.source, { ...opts.decoder, file: this.names[i]! }));
  }

  /** Reads every input header, checks they fit together, and returns the merged header. */
  async open(flags = HEADER_FLAG_NO_CHECKSUM): Promise<LtxHeader> {
    this.headers = [];
    for (const d of this.decoders) this.headers.push(await d.readHeader());
    const first = this.headers[0]!;
    const last = this.headers[this.headers.length - 1]!;
    for (let i = 1; i < this.headers.length; i++) {
      const prev = this.headers[i - 1]!;
      const h = this.headers[i]!;
      if (h.pageSize !== prev.pageSize) {
        throw new LtxCompactionError(`page size ${h.pageSize} differs from ${prev.pageSize} in ${this.names[i - 1]}`, {
          file: this.names[i]!,
        });
      }
      const contiguous = h.minTxid <= prev.maxTxid + 1n && h.maxTxid > prev.maxTxid;
      if (!this.opts.allowNonContiguous && !contiguous) {
        throw new LtxCompactionError(
          `non-contiguous TXIDs: ${hex64(h.minTxid)}-${hex64(h.maxTxid)} does not follow ${hex64(prev.minTxid)}-${hex64(prev.maxTxid)} (${this.names[i - 1]})`,
          { file: this.names[i]! },
        );
      }
    }
    this.current = [];
    for (const d of this.decoders) this.current.push(await d.readPage());
    return {
      flags,
      pageSize: first.pageSize,
      commit: last.commit,
      minTxid: first.minTxid,
      maxTxid: last.maxTxid,
      timestamp: last.timestamp,
      preApplyChecksum: first.preApplyChecksum,
      walOffset: 0,
      walSize: 0,
      walSalt1: 0,
      walSalt2: 0,
      nodeId: 0n,
    };
  }

  /** Merged pages in ascending order, newest version of each. */
  async *pages(): AsyncGenerator<DecodedPage> {
    const commit = this.headers[this.headers.length - 1]!.commit;
    const lock = lockPgno(this.headers[0]!.pageSize);
    const cur = this.current;
    for (;;) {
      let min = Infinity;
      for (const p of cur) if (p && p.pgno < min) min = p.pgno;
      if (min === Infinity) return;
      let winner: DecodedPage | null = null;
      for (let i = 0; i < cur.length; i++) {
        const p = cur[i];
        if (p && p.pgno === min) {
          winner = p;
          const next = await this.decoders[i]!.readPage();
          if (next && next.pgno <= p.pgno) {
            throw new LtxCompactionError(`pages out of order: page ${next.pgno} after page ${p.pgno}`, {
              file: this.names[i]!,
              offset: next.offset,
            });
          }
          cur[i] = next;
        }
      }
      // Pages above the final commit were truncated away; the lock page is never stored.
      if (min <= commit && min !== lock) yield winner!;
    }
  }

  /** Verifies every input to its end; returns the last input's post-apply checksum. */
  async finish(): Promise<bigint> {
    let post = 0n;
    for (const d of this.decoders) post = (await d.finish()).trailer.postApplyChecksum;
    return post;
  }
}

export interface CompactOptions extends MergeOptions, LtxEncoderOptions {
  /** Header flags of the output; Litestream compacts with NoChecksum (the default). */
  headerFlags?: number;
}

/**
 * Compacts LTX files (oldest first) into one, streaming to the sink. Follows
 * the Go compactor: header from the first and last inputs, newest page wins,
 * pages above the final commit dropped, inputs' checksums verified. If any step
 * fails, what reached the sink is not a valid file and must be discarded.
 */
export async function compactLtx(inputs: readonly LtxInput[], sink: ByteSink, opts: CompactOptions = {}): Promise<LtxEncodeResult> {
  const merger = new LtxMerger(inputs, opts);
  const header = await merger.open(opts.headerFlags ?? HEADER_FLAG_NO_CHECKSUM);
  const enc = new LtxEncoder(sink, header, opts);
  for await (const p of merger.pages()) await enc.writePage(p.pgno, p.data);
  const post = await merger.finish();
  if ((header.flags & HEADER_FLAG_NO_CHECKSUM) !== 0) {
    if (post !== 0n) {
      throw new LtxCompactionError('post-apply checksum not allowed: an input tracks checksums but the output does not', {
        file: merger.names[inputs.length - 1]!,
      });
    }
    return enc.finish();
  }
  return enc.finish({ postApplyChecksum: post });
}
