import { TidemarkError } from '../errors.js';

export interface LtxErrorContext {
  /** File path or other name of the input, when known. */
  file?: string;
  /** Byte offset in the file where the problem was found, when known. */
  offset?: number;
  cause?: unknown;
}

/**
 * Base class for every problem found in LTX data. The message names the file and
 * the byte offset when they are known, so one line tells a user where to look.
 */
export class LtxError extends TidemarkError {
  override name = 'LtxError';
  readonly file: string | undefined;
  readonly offset: number | undefined;
  /** The reason alone, without file and offset. */
  readonly reason: string;

  constructor(reason: string, ctx: LtxErrorContext = {}) {
    super(formatMessage(reason, ctx), ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.reason = reason;
    this.file = ctx.file;
    this.offset = ctx.offset;
  }
}

function formatMessage(reason: string, ctx: LtxErrorContext): string {
  const where: string[] = [];
  if (ctx.file !== undefined) where.push(ctx.file);
  if (ctx.offset !== undefined) where.push(`offset ${ctx.offset}`);
  return where.length > 0 ? `${where.join(' at ')}: ${reason}` : reason;
}

/** The header is malformed or breaks a header rule. */
export class LtxHeaderError extends LtxError {
  override name = 'LtxHeaderError';
}

/** A page header or page payload is malformed (bad pgno, flags, LZ4 data, size). */
export class LtxPageError extends LtxError {
  override name = 'LtxPageError';
}

/** The page index is malformed or disagrees with the page block. */
export class LtxIndexError extends LtxError {
  override name = 'LtxIndexError';
}

/** The file or post-apply checksum does not match, or a trailer rule is broken. */
export class LtxChecksumError extends LtxError {
  override name = 'LtxChecksumError';
}

/** The data ended before the structure being read was complete. */
export class LtxTruncatedError extends LtxError {
  override name = 'LtxTruncatedError';
}

/** A well-formed file breaks an ordering or content rule (page order, lock page, pgno above commit). */
export class LtxContentError extends LtxError {
  override name = 'LtxContentError';
}

/** Inputs to a compaction do not fit together (page size, TXID continuity). */
export class LtxCompactionError extends LtxError {
  override name = 'LtxCompactionError';
}

/** A caller misused the encoder (pages out of order, lock page, writes after close). */
export class LtxEncodeError extends LtxError {
  override name = 'LtxEncodeError';
}
