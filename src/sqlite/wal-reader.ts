import type { FileHandle } from 'node:fs/promises';
import { walChecksum, type WalChecksum } from './wal-checksum.js';
import { PrevFrameMismatchError, WalFormatError, WalOffsetError } from './wal-errors.js';
import { readAt, withWalHandle, type WalSource } from './wal-file.js';
import {
  formatSalts,
  parseWalHeader,
  sameSalts,
  walFrameSize,
  WAL_FRAME_CHECKSUM1_OFFSET,
  WAL_FRAME_CHECKSUM2_OFFSET,
  WAL_FRAME_CHECKSUMMED_HEADER_BYTES,
  WAL_FRAME_COMMIT_OFFSET,
  WAL_FRAME_HEADER_SIZE,
  WAL_FRAME_SALT1_OFFSET,
  WAL_FRAME_SALT2_OFFSET,
  WAL_HEADER_SIZE,
  type WalHeader,
  type WalSalts,
} from './wal-header.js';

/** Default bytes per read: large enough to amortise syscalls, small enough to keep memory flat. */
export const DEFAULT_WAL_CHUNK_BYTES = 2 * 1024 * 1024;

export interface WalReadOptions {
  /** Name used in error messages; defaults to the path when a path is given. */
  file?: string;
  signal?: AbortSignal;
}

export interface WalFrameReaderOptions extends WalReadOptions {
  /** Bytes per read, rounded down to whole frames (at least one). */
  chunkBytes?: number;
}

/**
 * Where a read of one WAL generation stands: the next frame's offset, the
 * generation's salts, and the running checksum of every frame before the offset.
 * Enough to resume reading without going back to the start.
 */
export interface WalPosition extends WalSalts {
  readonly offset: number;
  readonly checksum: WalChecksum;
}

/** Why the valid part of the WAL ended; anything but `end-of-file` means stale or torn bytes follow. */
export type WalEndReason =
  /** The last frame ended exactly at the end of the file. */
  | 'end-of-file'
  /** The file ends inside a frame: a torn write, or a truncation. */
  | 'partial-frame'
  /** The frame is from an earlier generation of the WAL, left where the restarted WAL has not yet reached (or its salts are corrupt). */
  | 'salt-mismatch'
  | 'zero-pgno'
  /** The running checksum breaks: a torn, corrupt or stale frame. */
  | 'checksum-mismatch';

export interface WalFrameInfo extends WalSalts {
  /** File offset of the frame header. */
  readonly offset: number;
  readonly pgno: number;
  /** Database size in pages after this transaction on a commit frame; 0 on every other frame. */
  readonly commit: number;
  /** The checksum stored in the frame header. */
  readonly checksum: WalChecksum;
  /** The page. */
  readonly data: Uint8Array;
}

/** Reads the 32-byte WAL header and validates it (typed WalFormatError on failure). */
export async function readWalHeader(source: WalSource, options: WalReadOptions = {}): Promise<WalHeader> {
  return withWalHandle(source, async (fh, path) => {
    const file = options.file ?? path;
    options.signal?.throwIfAborted();
    const bytes = new Uint8Array(WAL_HEADER_SIZE);
    const n = await readAt(fh, bytes, 0, WAL_HEADER_SIZE, 0);
    return parseWalHeader(bytes.subarray(0, n), { file });
  });
}

/** Throws WalOffsetError unless `offset` is the start of a frame for this page size. */
export function assertFrameOffset(offset: number, pageSize: number, file?: string): void {
  const frameSize = walFrameSize(pageSize);
  if (!Number.isSafeInteger(offset) || offset < WAL_HEADER_SIZE || (offset - WAL_HEADER_SIZE) % frameSize !== 0) {
    throw new WalOffsetError(`offset ${offset} is not a frame boundary for ${pageSize}-byte pages (frames of ${frameSize} bytes after the ${WAL_HEADER_SIZE}-byte header)`, {
      file,
      offset,
    });
  }
}

/** A frame's 24-byte header as it is on disk. */
export interface WalFrameHeader extends WalSalts {
  readonly pgno: number;
  readonly commit: number;
  /** The running checksum through this frame, as stored. */
  readonly checksum: WalChecksum;
}

/** Reads the header of the frame at `offset`; null when the WAL ends before it. */
export async function readWalFrameHeader(fh: FileHandle, offset: number): Promise<WalFrameHeader | null> {
  const buf = new Uint8Array(WAL_FRAME_HEADER_SIZE);
  if ((await readAt(fh, buf, 0, WAL_FRAME_HEADER_SIZE, offset)) < WAL_FRAME_HEADER_SIZE) return null;
  const v = new DataView(buf.buffer);
  return {
    pgno: v.getUint32(0),
    commit: v.getUint32(WAL_FRAME_COMMIT_OFFSET),
    salt1: v.getUint32(WAL_FRAME_SALT1_OFFSET),
    salt2: v.getUint32(WAL_FRAME_SALT2_OFFSET),
    checksum: { s0: v.getUint32(WAL_FRAME_CHECKSUM1_OFFSET), s1: v.getUint32(WAL_FRAME_CHECKSUM2_OFFSET) },
  };
}

/**
 * Reads the frame at `offset` as it is on disk, without validating its salts or
 * checksum (they are returned for the caller to judge). For fetching pages named
 * by a page map, and for inspecting the frame before a resume offset.
 */
export async function readWalFrame(
  fh: FileHandle,
  offset: number,
  pageSize: number,
  options: { file?: string } = {},
): Promise<WalFrameInfo> {
  assertFrameOffset(offset, pageSize, options.file);
  const frameSize = walFrameSize(pageSize);
  const buf = new Uint8Array(frameSize);
  const n = await readAt(fh, buf, 0, frameSize, offset);
  if (n < frameSize) {
    throw new WalFormatError('short-frame', `frame is ${n} of ${frameSize} bytes: the WAL ends inside it`, { file: options.file, offset });
  }
  const view = new DataView(buf.buffer, 0, WAL_FRAME_HEADER_SIZE);
  return {
    offset,
    pgno: view.getUint32(0),
    commit: view.getUint32(WAL_FRAME_COMMIT_OFFSET),
    salt1: view.getUint32(WAL_FRAME_SALT1_OFFSET),
    salt2: view.getUint32(WAL_FRAME_SALT2_OFFSET),
    checksum: { s0: view.getUint32(WAL_FRAME_CHECKSUM1_OFFSET), s1: view.getUint32(WAL_FRAME_CHECKSUM2_OFFSET) },
    data: buf.subarray(WAL_FRAME_HEADER_SIZE),
  };
}

/**
 * Streams the valid frames of one WAL generation, validating as SQLite's
 * recovery does: a frame counts only if its salts are the header's, its pgno is
 * not 0 and the running checksum through it matches the one it stores. The first
 * frame that fails, or that the file cuts short, ends the WAL; nothing after it
 * is read. Transaction boundaries are not enforced: uncommitted frames are
 * returned too (see walPageMap).
 *
 * Reads go through one buffer of whole frames, so memory stays at `chunkBytes`
 * whatever the WAL's size. The `data` of a returned frame is a view into that
 * buffer and is valid only until the next call to `next()`.
 */
export class WalFrameReader {
  readonly header: WalHeader;
  readonly pageSize: number;
  readonly frameSize: number;
  readonly file: string | undefined;
  /** Offset the reader started at. */
  readonly startOffset: number;

  readonly #fh: FileHandle;
  readonly #signal: AbortSignal | undefined;
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #bufStart = 0;
  #bufLen = 0;
  #offset: number;
  #checksum: WalChecksum;
  #frames = 0;
  #end: WalEndReason | undefined;

  private constructor(fh: FileHandle, header: WalHeader, start: WalPosition, options: WalFrameReaderOptions) {
    this.#fh = fh;
    this.header = header;
    this.pageSize = header.pageSize;
    this.frameSize = walFrameSize(header.pageSize);
    this.file = options.file;
    this.#signal = options.signal;
    this.startOffset = start.offset;
    this.#offset = start.offset;
    this.#checksum = start.checksum;
    const chunkBytes = options.chunkBytes ?? DEFAULT_WAL_CHUNK_BYTES;
    const framesPerChunk = Math.max(1, Math.floor(chunkBytes / this.frameSize));
    // A buffer of its own (byteOffset 0) that always starts on a frame keeps every page 8-byte aligned for the checksum.
    this.#buf = new Uint8Array(framesPerChunk * this.frameSize);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** A reader of the whole WAL: from the first frame, seeded with the header checksum. */
  static async open(fh: FileHandle, options: WalFrameReaderOptions = {}): Promise<WalFrameReader> {
    const header = await readWalHeader(fh, options);
    return new WalFrameReader(fh, header, { offset: WAL_HEADER_SIZE, salt1: header.salt1, salt2: header.salt2, checksum: header.checksum }, options);
  }

  /**
   * A reader that continues from a position saved earlier (say, a page map's
   * end). The seed checksum is trusted; the salts must still be the header's,
   * or PrevFrameMismatchError (`header-salts`) says the WAL has restarted.
   */
  static async resume(fh: FileHandle, position: WalPosition, options: WalFrameReaderOptions = {}): Promise<WalFrameReader> {
    const header = await readWalHeader(fh, options);
    assertFrameOffset(position.offset, header.pageSize, options.file);
    assertHeaderSalts(header, position, position.offset, options.file);
    // At the first frame the seed can only be the header checksum, and the header is the authority on it.
    const checksum = position.offset === WAL_HEADER_SIZE ? header.checksum : position.checksum;
    return new WalFrameReader(fh, header, { offset: position.offset, salt1: header.salt1, salt2: header.salt2, checksum }, options);
  }

  /**
   * A reader that continues at `offset` in the generation tagged `salt1`/`salt2`,
   * seeding the running checksum from the frame just before it (the way
   * Litestream's NewWALReaderWithOffset does). Throws PrevFrameMismatchError when
   * that generation is gone: the header has other salts, or the previous frame
   * has other salts or is cut short. At offset 32 the header checksum is the seed.
   *
   * Unlike Litestream, frames must carry the header's salts, not just the ones
   * passed in: stale frames of an earlier generation are never read as live.
   */
  static async withOffset(fh: FileHandle, offset: number, salt1: number, salt2: number, options: WalFrameReaderOptions = {}): Promise<WalFrameReader> {
    const header = await readWalHeader(fh, options);
    assertFrameOffset(offset, header.pageSize, options.file);
    const salts = { salt1, salt2 };
    assertHeaderSalts(header, salts, offset, options.file);
    if (offset === WAL_HEADER_SIZE) return new WalFrameReader(fh, header, { offset, salt1, salt2, checksum: header.checksum }, options);

    const prevOffset = offset - walFrameSize(header.pageSize);
    let prev: WalFrameInfo;
    try {
      prev = await readWalFrame(fh, prevOffset, header.pageSize, options);
    } catch (err) {
      if (err instanceof WalFormatError && err.code === 'short-frame') {
        throw new PrevFrameMismatchError('short-frame', `the frame before offset ${offset} is cut short: the WAL was truncated`, {
          file: options.file,
          offset: prevOffset,
          cause: err,
        });
      }
      throw err;
    }
    if (!sameSalts(prev, salts)) {
      throw new PrevFrameMismatchError(
        'frame-salts',
        `the frame before offset ${offset} has salts ${formatSalts(prev)}, not ${formatSalts(salts)}: it was overwritten by a newer WAL generation`,
        { file: options.file, offset: prevOffset },
      );
    }
    return new WalFrameReader(fh, header, { offset, salt1, salt2, checksum: prev.checksum }, options);
  }

  /**
   * A reader that goes on with the generation `position` names from where it
   * stands, whatever generation the WAL header names now: for reading what an
   * older generation still holds past a restart (frames must carry its salts
   * and continue its checksum, so anything overwritten ends the read). The
   * header only supplies the page size and byte order, which every generation
   * of one WAL shares.
   */
  static async continueGeneration(fh: FileHandle, position: WalPosition, options: WalFrameReaderOptions = {}): Promise<WalFrameReader> {
    const current = await readWalHeader(fh, options);
    assertFrameOffset(position.offset, current.pageSize, options.file);
    const header: WalHeader = { ...current, salt1: position.salt1, salt2: position.salt2 };
    return new WalFrameReader(fh, header, position, options);
  }

  get salt1(): number {
    return this.header.salt1;
  }

  get salt2(): number {
    return this.header.salt2;
  }

  /** Offset of the next frame: the end of the last valid frame returned. */
  get offset(): number {
    return this.#offset;
  }

  /** The running checksum through the last valid frame returned. */
  get checksum(): WalChecksum {
    return this.#checksum;
  }

  /** The current position, for resuming later with `resume`. */
  get position(): WalPosition {
    return { offset: this.#offset, salt1: this.header.salt1, salt2: this.header.salt2, checksum: this.#checksum };
  }

  /** Valid frames returned so far. */
  get frames(): number {
    return this.#frames;
  }

  /** Why reading stopped, once `next()` has returned null. */
  get endReason(): WalEndReason | undefined {
    return this.#end;
  }

  /** The next valid frame, or null at the end of the valid WAL (see `endReason`). */
  async next(): Promise<WalFrameInfo | null> {
    if (this.#end !== undefined) return null;
    const frameSize = this.frameSize;
    let rel = this.#offset - this.#bufStart;
    if (rel + frameSize > this.#bufLen) {
      await this.#fill();
      rel = 0;
      if (this.#bufLen < frameSize) {
        this.#end = this.#bufLen === 0 ? 'end-of-file' : 'partial-frame';
        return null;
      }
    }
    const view = this.#view;
    const salt1 = view.getUint32(rel + WAL_FRAME_SALT1_OFFSET);
    const salt2 = view.getUint32(rel + WAL_FRAME_SALT2_OFFSET);
    if (salt1 !== this.header.salt1 || salt2 !== this.header.salt2) {
      this.#end = 'salt-mismatch';
      return null;
    }
    const pgno = view.getUint32(rel);
    if (pgno === 0) {
      this.#end = 'zero-pgno';
      return null;
    }
    const bigEndian = this.header.bigEndianChecksum;
    let sum = walChecksum(this.#buf, bigEndian, this.#checksum, rel, rel + WAL_FRAME_CHECKSUMMED_HEADER_BYTES);
    sum = walChecksum(this.#buf, bigEndian, sum, rel + WAL_FRAME_HEADER_SIZE, rel + frameSize);
    const stored = { s0: view.getUint32(rel + WAL_FRAME_CHECKSUM1_OFFSET), s1: view.getUint32(rel + WAL_FRAME_CHECKSUM2_OFFSET) };
    if (sum.s0 !== stored.s0 || sum.s1 !== stored.s1) {
      this.#end = 'checksum-mismatch';
      return null;
    }
    const offset = this.#offset;
    this.#checksum = sum;
    this.#offset = offset + frameSize;
    this.#frames++;
    return {
      offset,
      pgno,
      commit: view.getUint32(rel + WAL_FRAME_COMMIT_OFFSET),
      salt1,
      salt2,
      checksum: stored,
      data: this.#buf.subarray(rel + WAL_FRAME_HEADER_SIZE, rel + frameSize),
    };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WalFrameInfo, void, undefined> {
    for (let frame = await this.next(); frame !== null; frame = await this.next()) yield frame;
  }

  async #fill(): Promise<void> {
    this.#signal?.throwIfAborted();
    this.#bufStart = this.#offset;
    // Should the read fail, the buffer must not still pass for the bytes at this offset.
    this.#bufLen = 0;
    this.#bufLen = await readAt(this.#fh, this.#buf, 0, this.#buf.length, this.#offset);
  }
}

function assertHeaderSalts(header: WalHeader, salts: WalSalts, offset: number, file: string | undefined): void {
  if (!sameSalts(header, salts)) {
    throw new PrevFrameMismatchError(
      'header-salts',
      `the WAL header has salts ${formatSalts(header)}, not ${formatSalts(salts)}: the WAL was restarted`,
      { file, offset },
    );
  }
}
