import { TidemarkError } from '../errors.js';

/** Why a WAL header was refused. */
export type WalFormatCode =
  /** Fewer than 32 bytes: the WAL is empty or its header write was cut short. */
  | 'short-header'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-page-size'
  /** The header checksum does not match: SQLite treats such a WAL as empty (a torn header write). */
  | 'header-checksum'
  /** A frame asked for by offset is not all there. */
  | 'short-frame';

export interface WalErrorContext {
  /** Path or other name of the WAL, when known. */
  file?: string;
  /** Byte offset in the WAL where the problem was found. */
  offset?: number;
  cause?: unknown;
}

function formatMessage(reason: string, ctx: WalErrorContext): string {
  const where: string[] = [];
  if (ctx.file !== undefined) where.push(ctx.file);
  if (ctx.offset !== undefined) where.push(`offset ${ctx.offset}`);
  return where.length > 0 ? `${where.join(' at ')}: ${reason}` : reason;
}

/** Base of the WAL errors: the message names the file and offset so one line says where to look. */
export abstract class WalError extends TidemarkError {
  readonly file: string | undefined;
  readonly offset: number | undefined;
  /** The reason alone, without file and offset. */
  readonly reason: string;

  constructor(reason: string, ctx: WalErrorContext = {}) {
    super(formatMessage(reason, ctx), ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.reason = reason;
    this.file = ctx.file;
    this.offset = ctx.offset;
  }
}

/** The WAL header is missing or malformed, or a frame read by offset is incomplete. */
export class WalFormatError extends WalError {
  override name = 'WalFormatError';
  readonly code: WalFormatCode;

  constructor(code: WalFormatCode, reason: string, ctx: WalErrorContext = {}) {
    super(reason, ctx);
    this.code = code;
  }
}

/** Why the frame before a resume offset could not seed the running checksum. */
export type PrevFrameMismatchCode =
  /** The WAL header carries other salts: the WAL was restarted since the offset was recorded. */
  | 'header-salts'
  /** The previous frame carries other salts: it was overwritten by a newer WAL generation. */
  | 'frame-salts'
  /** The previous frame is not all there: the WAL was truncated. */
  | 'short-frame';

/**
 * Resuming at an offset is impossible because the frame before it no longer
 * belongs to the WAL generation the offset was recorded in. The caller should
 * read again from the start of the WAL.
 */
export class PrevFrameMismatchError extends WalError {
  override name = 'PrevFrameMismatchError';
  readonly code: PrevFrameMismatchCode;

  constructor(code: PrevFrameMismatchCode, reason: string, ctx: WalErrorContext = {}) {
    super(reason, ctx);
    this.code = code;
  }
}

/** An offset passed in is not a frame boundary of this WAL (below the header, or misaligned for its page size). */
export class WalOffsetError extends WalError {
  override name = 'WalOffsetError';
}
