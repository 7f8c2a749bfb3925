import { open, type FileHandle } from 'node:fs/promises';
import { isErrno } from '../io/durable-fs.js';
import type { WalChecksum } from '../sqlite/wal-checksum.js';
import { WalFormatError } from '../sqlite/wal-errors.js';
import { sameSalts, WAL_HEADER_SIZE, type WalHeader, type WalSalts } from '../sqlite/wal-header.js';
import { walPageMap, type WalPageMap } from '../sqlite/wal-page-map.js';
import { readWalHeader, WalFrameReader } from '../sqlite/wal-reader.js';
import { WalChangedError } from './errors.js';

/**
 * How far the replicator has copied the WAL: the generation it read last
 * (its salts) and the end of the last commit frame copied, with the running
 * checksum there so the next read can validate frames without going back.
 */
export interface WalPosition {
  /** null before any frame of any generation was read (no WAL, or an empty one). */
  readonly salts: WalSalts | null;
  /** End of the last commit frame copied; WAL_HEADER_SIZE at the start of a generation. */
  readonly offset: number;
  readonly checksum: WalChecksum;
}

export const NO_WAL_POSITION: WalPosition = Object.freeze({ salts: null, offset: WAL_HEADER_SIZE, checksum: Object.freeze({ s0: 0, s1: 0 }) });

/** What the WAL holds beyond a position. */
export type WalRead =
  /** There is no WAL file: the database file holds every commit. */
  | { readonly kind: 'missing' }
  /** The WAL has no valid header (empty, truncated, or not written yet): no frames. */
  | { readonly kind: 'empty'; readonly size: number }
  /**
   * Committed frames after the position in the same generation, or from the
   * start of a new generation (`restarted`). `map` may hold no page when
   * nothing was committed since.
   */
  | { readonly kind: 'frames'; readonly restarted: boolean; readonly header: WalHeader; readonly map: WalPageMap; readonly size: number }
  /** The same generation, but shorter than what was already copied: something rewrote the WAL. */
  | { readonly kind: 'shrunk'; readonly size: number };

/**
 * Reads what the WAL holds after `pos`, without judging it: whether a
 * restart is safe to follow incrementally is the caller's to decide (it is
 * when the database was pinned all along; see docs/replication.md).
 * Frames are validated as SQLite's recovery validates them, so a frame being
 * written, a torn one, or a stale one from an older generation ends the read.
 */
export async function readWalAfter(walPath: string, pos: WalPosition): Promise<WalRead> {
  let fh: FileHandle;
  try {
    fh = await open(walPath, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { kind: 'missing' };
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    if (size < WAL_HEADER_SIZE) return { kind: 'empty', size };
    let header: WalHeader;
    try {
      header = await readWalHeader(fh, { file: walPath });
    } catch (err) {
      // SQLite treats a WAL without a valid header as holding no frames; so does this.
      if (err instanceof WalFormatError) return { kind: 'empty', size };
      throw err;
    }
    if (pos.salts !== null && sameSalts(header, pos.salts)) {
      if (size < pos.offset) return { kind: 'shrunk', size };
      const reader = await WalFrameReader.resume(fh, { offset: pos.offset, salt1: header.salt1, salt2: header.salt2, checksum: pos.checksum }, { file: walPath });
      return { kind: 'frames', restarted: false, header, map: await walPageMap(reader), size };
    }
    const reader = await WalFrameReader.open(fh, { file: walPath });
    return { kind: 'frames', restarted: true, header, map: await walPageMap(reader), size };
  } finally {
    await fh.close();
  }
}

/** The position after a read: the end of its last commit, or unchanged when nothing was committed. */
export function positionAfter(pos: WalPosition, read: WalRead): WalPosition {
  // No frames: an emptied WAL's next generation has new salts, so it still reads as a restart.
  if (read.kind !== 'frames') return pos;
  const m = read.map;
  if (m.maxOffset === m.offset && !read.restarted) return pos;
  return { salts: { salt1: m.salt1, salt2: m.salt2 }, offset: m.maxOffset, checksum: m.checksum };
}

/**
 * The committed stretch of one generation from its first frame to `end`, as
 * a page map, for reading the database as of that point. Throws
 * WalChangedError when the generation is no longer there.
 */
export async function generationMap(fh: FileHandle, walPath: string, salts: WalSalts, end: number): Promise<WalPageMap> {
  const reader = await WalFrameReader.open(fh, { file: walPath });
  if (!sameSalts(reader.header, salts)) {
    throw new WalChangedError(`${walPath}: the WAL restarted while the database was being read; it is read again at the next sync`);
  }
  const map = await walPageMap(reader, { until: end });
  if (map.maxOffset !== end) {
    throw new WalChangedError(`${walPath}: committed WAL ends at ${map.maxOffset}, expected ${end}; it is read again at the next sync`);
  }
  return map;
}
