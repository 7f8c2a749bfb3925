import { open, type FileHandle } from 'node:fs/promises';
import { isErrno } from '../io/durable-fs.js';
import type { WalChecksum } from '../sqlite/wal-checksum.js';
import { WalFormatError } from '../sqlite/wal-errors.js';
import { sameSalts, walFrameSize, WAL_HEADER_SIZE, type WalHeader, type WalSalts } from '../sqlite/wal-header.js';
import type { WalIndexHeader } from '../sqlite/wal-index-header.js';
import { walPageMap, type WalPageMap } from '../sqlite/wal-page-map.js';
import { readWalHeader, WalFrameReader } from '../sqlite/wal-reader.js';

/**
 * How far the replicator has read the WAL: the generation it read last
 * (its salts) and the end of the last commit frame read, with the running
 * checksum there so the next read can validate frames without going back.
 */
export interface WalPosition {
  /** null before any frame of any generation was read (no WAL, or an empty one). */
  readonly salts: WalSalts | null;
  /** End of the last commit frame read; WAL_HEADER_SIZE at the start of a generation. */
  readonly offset: number;
  readonly checksum: WalChecksum;
}

export const NO_WAL_POSITION: WalPosition = Object.freeze({ salts: null, offset: WAL_HEADER_SIZE, checksum: Object.freeze({ s0: 0, s1: 0 }) });

/** What was committed to the WAL after a position. */
export interface WalChanges {
  /** The WAL generation changed since the position (restarted, emptied, deleted or created). */
  readonly restarted: boolean;
  /** There is no WAL file. */
  readonly deleted: boolean;
  /** Commits the old generation still shows after the position, when it restarted (null: none readable). */
  readonly tail: WalPageMap | null;
  /**
   * Commits of the current generation after the position (from its first
   * frame after a restart); pages beyond the final size are kept (SQLite
   * reads them from their frames should the database grow again).
   */
  readonly current: WalPageMap | null;
  /** Transactions read: tail plus current. */
  readonly commits: number;
  /** Where reading stands now. */
  readonly next: WalPosition;
}

export type WalRead =
  | { readonly ok: true; readonly changes: WalChanges }
  /** Commits may have gone unread (the reason says why); only a comparison of the whole database can tell what changed. */
  | { readonly ok: false; readonly reason: string };

/**
 * Reads what the WAL holds after `pos`, up to the last commit the WAL index
 * (`index`, read after the database was pinned) knows of, and checks that
 * nothing was missed: the index counts every commit (iChange), so the
 * transactions read must be exactly the ones counted since `lastIChange`.
 * That holds across any number of restarts, truncations and deletions of
 * the WAL, and is what lets the replicator leave the WAL unpinned between
 * reads. Without an index (`index` null) nothing is counted: the caller must
 * know otherwise that no frame was overwritten (it held a pin all along).
 *
 * Frames are validated as SQLite's recovery validates them, so a frame being
 * written, a torn one, or a stale one from an older generation ends a read.
 */
export async function readWalChanges(walPath: string, pageSize: number, pos: WalPosition, index: WalIndexHeader | null, lastIChange: number | undefined): Promise<WalRead> {
  const counted = index !== null && lastIChange !== undefined;
  const expected = counted ? (index.iChange - lastIChange) >>> 0 : undefined;
  let fh: FileHandle;
  try {
    fh = await open(walPath, 'r');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    return verdict({ restarted: pos.salts !== null, deleted: true, tail: null, current: null, commits: 0, next: NO_WAL_POSITION }, expected, 'the WAL was deleted');
  }
  try {
    const size = (await fh.stat()).size;
    let header: WalHeader | null = null;
    if (size >= WAL_HEADER_SIZE) {
      try {
        header = await readWalHeader(fh, { file: walPath });
      } catch (err) {
        // SQLite treats a WAL without a valid header as holding no frames; so does this.
        if (!(err instanceof WalFormatError)) throw err;
      }
    }
    const limit = index === null ? undefined : WAL_HEADER_SIZE + index.mxFrame * walFrameSize(pageSize);
    const sameGeneration = pos.salts !== null && header !== null && sameSalts(header, pos.salts) && (index === null || sameSalts(index, pos.salts));
    if (sameGeneration) {
      if (size < pos.offset || (limit !== undefined && limit < pos.offset)) {
        return { ok: false, reason: `the WAL holds less than the ${pos.offset} bytes already read from it` };
      }
      const reader = await WalFrameReader.resume(fh, { offset: pos.offset, salt1: pos.salts!.salt1, salt2: pos.salts!.salt2, checksum: pos.checksum }, { file: walPath });
      const current = await walPageMap(reader, { keepBeyondCommit: true, ...(limit === undefined ? {} : { until: limit }) });
      if (limit !== undefined && current.maxOffset !== limit) {
        return { ok: false, reason: `the WAL's committed frames end at ${current.maxOffset}, the WAL index says ${limit}` };
      }
      return verdict({ restarted: false, deleted: false, tail: null, current, commits: current.commits, next: after(current, pos) }, expected, 'the WAL changed');
    }

    // A new generation: what the old one committed after the position is still there unless overwritten.
    let tail: WalPageMap | null = null;
    if (pos.salts !== null && header !== null && size > pos.offset) {
      const reader = await WalFrameReader.continueGeneration(fh, { offset: pos.offset, salt1: pos.salts.salt1, salt2: pos.salts.salt2, checksum: pos.checksum }, { file: walPath });
      tail = await walPageMap(reader, { keepBeyondCommit: true });
    }
    let current: WalPageMap | null = null;
    const headerIsCurrent = header !== null && (index === null || sameSalts(header, index));
    if (headerIsCurrent && (index === null || index.mxFrame > 0)) {
      const reader = await WalFrameReader.open(fh, { file: walPath });
      current = await walPageMap(reader, { keepBeyondCommit: true, ...(limit === undefined ? {} : { until: limit }) });
      if (limit !== undefined && current.maxOffset !== limit) {
        return { ok: false, reason: `the WAL's committed frames end at ${current.maxOffset}, the WAL index says ${limit}` };
      }
    } else if (index !== null && index.mxFrame > 0) {
      return { ok: false, reason: 'the WAL header and the WAL index name different generations' };
    }
    const next = current !== null ? after(current, NO_WAL_POSITION) : header !== null && headerIsCurrent ? startOf(header) : NO_WAL_POSITION;
    const commits = (tail?.commits ?? 0) + (current?.commits ?? 0);
    return verdict({ restarted: pos.salts !== null, deleted: false, tail, current, commits, next }, expected, 'the WAL restarted');
  } finally {
    await fh.close();
  }
}

/** OK when the commits read are the ones the WAL index counted (or when nothing was counted). */
function verdict(changes: WalChanges, expected: number | undefined, what: string): WalRead {
  if (expected === undefined || changes.commits === expected) return { ok: true, changes };
  return { ok: false, reason: `${what}: ${expected} transaction(s) were committed since the last read, ${changes.commits} could be read` };
}

/** The position after a map: the end of its last commit, or `pos` when it read none. */
function after(map: WalPageMap, pos: WalPosition): WalPosition {
  if (map.commits === 0) return map.offset === WAL_HEADER_SIZE && pos.salts === null ? { salts: { salt1: map.salt1, salt2: map.salt2 }, offset: map.offset, checksum: map.checksum } : pos;
  return { salts: { salt1: map.salt1, salt2: map.salt2 }, offset: map.maxOffset, checksum: map.checksum };
}

function startOf(header: WalHeader): WalPosition {
  return { salts: { salt1: header.salt1, salt2: header.salt2 }, offset: WAL_HEADER_SIZE, checksum: header.checksum };
}
