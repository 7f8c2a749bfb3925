import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { walChecksum } from './wal-checksum.js';
import { readAt } from './wal-file.js';

/*
 * The header of the WAL index (`<db>-shm`), which SQLite keeps in shared
 * memory, twice, in the host's byte order:
 *
 *   0 iVersion   4 unused   8 iChange (commits since the index was built)
 *   12 isInit (u8)  13 bigEndCksum (u8)  14 szPage (u16)
 *   16 mxFrame (last committed frame)  20 nPage (database size in pages)
 *   24 aFrameCksum[2]  32 aSalt[2]  40 aCksum[2] (over bytes 0..39)
 *
 * A writer updates the second copy, then the first; a reader that finds
 * the two equal and the checksum right has a consistent header. SQLite's
 * own readers do exactly this before every read transaction.
 */

const HEADER_BYTES = 48;
/** Both header copies and the checkpoint information: where the first index block's page numbers start. */
const INDEX_HEADER_BYTES = 136;
/** Every index block is 32 KiB: page numbers (u32, one per frame), then a hash table of 8192 u16 slots. */
const BLOCK_BYTES = 32 * 1024;
/** Frames the first block indexes (the header takes the room of the rest). */
const FIRST_BLOCK_FRAMES = 4062;
const BLOCK_FRAMES = 4096;
const CHECKSUMMED_BYTES = 40;
/** Both copies and the checkpoint information after them (nBackfill first), read in one call. */
const BOTH_COPIES = 2 * HEADER_BYTES + 4;
const NBACKFILL_OFFSET = 2 * HEADER_BYTES;
/** A writer between its two copies is done within microseconds; this many rereads cover it many times over. */
const READ_ATTEMPTS = 100;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export interface WalIndexHeader {
  /** Commits since the WAL index was (re)built; wraps at 2^32. */
  readonly iChange: number;
  /** Index of the last committed frame of the current generation (0: none). */
  readonly mxFrame: number;
  /** Database size in pages after the last commit. */
  readonly nPage: number;
  /** The current generation's salts, as the WAL header stores them (big-endian words read as numbers). */
  readonly salt1: number;
  readonly salt2: number;
  /** Frames of the current generation already copied into the database file by checkpoints. */
  readonly nBackfill: number;
}

/**
 * Reads the WAL index header through one descriptor held for as long as
 * the replicator runs. As with the database file (see DatabaseFile), the
 * descriptor must stay open until the process's SQLite connections are
 * closed: closing any descriptor of the `-shm` file would drop the POSIX
 * locks SQLite holds on it, read marks included.
 */
export class WalIndexHeaderReader {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  /** Opens `<db>-shm`; null when there is none (a WAL index kept in heap memory, e.g. locking_mode=EXCLUSIVE). */
  static async open(shmPath: string): Promise<WalIndexHeaderReader | null> {
    try {
      return new WalIndexHeaderReader(shmPath, await open(shmPath, 'r'));
    } catch {
      return null;
    }
  }

  /** The current header, or null when no consistent one could be read (not built yet, being rebuilt). */
  async read(): Promise<WalIndexHeader | null> {
    const buf = new Uint8Array(BOTH_COPIES);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const n = await readAt(this.fh, buf, 0, BOTH_COPIES, 0);
      if (n < BOTH_COPIES) return null;
      const header = parseHeader(buf);
      if (header !== undefined) return header;
    }
    return null;
  }

  /** The same as read(), without leaving the thread: for a wait of a few milliseconds that must not let other work in. */
  readSync(): WalIndexHeader | null {
    const buf = new Uint8Array(BOTH_COPIES);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      if (readSync(this.fh.fd, buf, 0, BOTH_COPIES, 0) < BOTH_COPIES) return null;
      const header = parseHeader(buf);
      if (header !== undefined) return header;
    }
    return null;
  }

  /**
   * The page number of each frame `first`..`last` (1-based) of the current
   * generation, as the index maps them. Only frames up to the header's
   * mxFrame, read while the database is pinned, are sure to be current.
   */
  async pageNumbers(first: number, last: number): Promise<Uint32Array> {
    const out = new Uint32Array(Math.max(0, last - first + 1));
    let frame = first;
    while (frame <= last) {
      const { block, index, frames } = locate(frame);
      const n = Math.min(frames - index, last - frame + 1);
      const bytes = new Uint8Array(n * 4);
      const at = (block === 0 ? INDEX_HEADER_BYTES : block * BLOCK_BYTES) + index * 4;
      if ((await readAt(this.fh, bytes, 0, bytes.length, at)) < bytes.length) {
        throw new Error(`${this.path}: the WAL index ends before frame ${frame}`);
      }
      const v = new DataView(bytes.buffer);
      for (let i = 0; i < n; i++) out[frame - first + i] = v.getUint32(i * 4, HOST_LITTLE_ENDIAN);
      frame += n;
    }
    return out;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Where frame `frame` (1-based) sits in the index: its block, its slot there, and the block's capacity. */
function locate(frame: number): { block: number; index: number; frames: number } {
  if (frame <= FIRST_BLOCK_FRAMES) return { block: 0, index: frame - 1, frames: FIRST_BLOCK_FRAMES };
  const rest = frame - FIRST_BLOCK_FRAMES - 1;
  return { block: 1 + Math.floor(rest / BLOCK_FRAMES), index: rest % BLOCK_FRAMES, frames: BLOCK_FRAMES };
}

/** The header from both copies; undefined when they disagree or fail their checksum (a writer is between them). */
function parseHeader(buf: Uint8Array): WalIndexHeader | null | undefined {
  for (let i = 0; i < HEADER_BYTES; i++) if (buf[i] !== buf[HEADER_BYTES + i]) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset, HEADER_BYTES);
  const le = HOST_LITTLE_ENDIAN;
  if (v.getUint8(12) !== 1) return null;
  const sum = walChecksum(buf, !le, { s0: 0, s1: 0 }, 0, CHECKSUMMED_BYTES);
  if (sum.s0 !== v.getUint32(40, le) || sum.s1 !== v.getUint32(44, le)) return undefined;
  return {
    iChange: v.getUint32(8, le),
    mxFrame: v.getUint32(16, le),
    nPage: v.getUint32(20, le),
    // Salts are copied into the index as the bytes of the WAL header, which stores them big-endian.
    salt1: v.getUint32(32, false),
    salt2: v.getUint32(36, false),
    nBackfill: new DataView(buf.buffer, buf.byteOffset + NBACKFILL_OFFSET, 4).getUint32(0, le),
  };
}
