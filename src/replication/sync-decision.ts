import { open, stat } from 'node:fs/promises';
import { LocalRandomAccessFile } from '../io/file-source.js';
import type { LtxHeader } from '../ltx/header.js';
import { fetchPage, readPageMap } from '../ltx/random-access.js';
import { detectMissedCheckpoint } from '../sqlite/wal-missed-checkpoint.js';
import {
  sameSalts,
  walFrameSize,
  WAL_FRAME_CHECKSUMMED_HEADER_BYTES,
  WAL_FRAME_COMMIT_OFFSET,
  WAL_HEADER_SIZE,
  type WalSalts,
} from '../sqlite/wal-header.js';
import { walChecksum } from '../sqlite/wal-checksum.js';
import { readWalFrame, readWalHeader, type WalFrameInfo } from '../sqlite/wal-reader.js';
import { LocalStateError } from './errors.js';

/** What the next sync does: copy the WAL from `offset` on, or write a full image of the database. */
export interface SyncDecision extends WalSalts {
  /** True when continuity with the last L0 file cannot be proven: write every page. */
  readonly snapshot: boolean;
  /** WAL offset to read from. */
  readonly offset: number;
  /** Why a full image is needed; empty for an incremental sync. */
  readonly reason: string;
  /** True when the WAL was found truncated right after a sync that reached its end (the expected checkpoint case). */
  readonly expectedTruncation: boolean;
}

/** The newest local L0 file, whose header says where in the WAL the last sync stopped. */
export interface LastL0 {
  readonly header: LtxHeader;
  readonly path: string;
}

export interface DecideSyncInput {
  readonly walPath: string;
  readonly pageSize: number;
  /** null when there is no usable local L0 file: the first sync, or local state lost. */
  readonly last: LastL0 | null;
  /** Why `last` is null, for the decision's reason. */
  readonly noStateReason?: string;
  /** The last sync ended exactly at the end of the WAL file. */
  readonly syncedToWalEnd: boolean;
  /**
   * False when frames may have been checkpointed before they were copied
   * (another connection committed during our TRUNCATE checkpoint): a restarted
   * or truncated WAL then proves nothing and needs a full image.
   */
  readonly trustRestart: boolean;
}

function full(offset: number, salts: WalSalts, reason: string): SyncDecision {
  return { snapshot: true, offset, salt1: salts.salt1, salt2: salts.salt2, reason, expectedTruncation: false };
}

function incremental(offset: number, salts: WalSalts, expectedTruncation = false): SyncDecision {
  return { snapshot: false, offset, salt1: salts.salt1, salt2: salts.salt2, reason: '', expectedTruncation };
}

/**
 * Decides between an incremental L0 file and a full image, as Litestream's
 * verify() does: continuity is proven only when the WAL still holds, at the
 * offset where the last L0 file stopped, the frame that file ended with.
 */
export async function decideSync(input: DecideSyncInput): Promise<SyncDecision> {
  const { walPath, pageSize, last } = input;
  const zero = { salt1: 0, salt2: 0 };
  if (last === null) return full(WAL_HEADER_SIZE, zero, input.noStateReason ?? 'first sync');

  const h = last.header;
  const lastSalts = { salt1: h.walSalt1, salt2: h.walSalt2 };
  let offset = h.walOffset + h.walSize;
  if (h.walOffset < WAL_HEADER_SIZE || h.pageSize !== pageSize) {
    return full(WAL_HEADER_SIZE, zero, `last L0 file ${last.path} does not describe this WAL (offset ${h.walOffset}, page size ${h.pageSize})`);
  }

  const walSize = (await stat(walPath)).size;
  if (offset > walSize) {
    // A checkpoint right after a sync that reached the end of the WAL truncates it: nothing was missed (#927).
    if (input.syncedToWalEnd && input.trustRestart) {
      const hdr = await readWalHeader(walPath);
      return incremental(WAL_HEADER_SIZE, hdr, true);
    }
    return full(WAL_HEADER_SIZE, zero, 'wal truncated by another process');
  }

  const hdr = await readWalHeader(walPath);
  const saltMatch = sameSalts(hdr, lastSalts);
  // At the header there is no previous frame to check (#900); only the salts tell.
  const prevOffset = offset - walFrameSize(pageSize);
  if (offset === WAL_HEADER_SIZE || prevOffset === WAL_HEADER_SIZE) {
    if (saltMatch) return incremental(offset, lastSalts);
    return full(WAL_HEADER_SIZE, hdr, 'wal header salt reset');
  }
  if (prevOffset < WAL_HEADER_SIZE) {
    throw new LocalStateError(`last L0 file ${last.path}: WAL offset ${offset} leaves no whole frame before it`);
  }

  const prev = await lastPageMatches(walPath, last, prevOffset, pageSize, lastSalts);
  if (prev === null) {
    return full(WAL_HEADER_SIZE, hdr, 'last page does not exist in last ltx file, wal overwritten by another process');
  }
  if (saltMatch) return incremental(offset, lastSalts);

  // The WAL restarted after the last sync. That is continuous only if exactly one restart happened,
  // right where the last sync stopped.
  const resumeAt = offset;
  offset = WAL_HEADER_SIZE;
  if (!input.trustRestart) return full(offset, hdr, 'wal restarted after frames may have been checkpointed unseen');
  if (await generationContinued(walPath, resumeAt, prev, pageSize, hdr.bigEndianChecksum)) {
    return full(offset, hdr, 'wal had committed frames after the last sync before it restarted');
  }
  const scan = await detectMissedCheckpoint(walPath, lastSalts);
  if (scan.detected) return full(offset, hdr, 'full or restart checkpoint detected');
  return incremental(offset, hdr);
}

/**
 * After a restart, the old generation's frames past the last synced one may
 * still be on disk. If they chain on from that frame and reach a commit, the
 * old generation went on after the last sync and a checkpoint moved those
 * commits into the database unseen (Litestream's salt scan misses this: it
 * only looks for a third generation).
 */
async function generationContinued(walPath: string, offset: number, prev: WalFrameInfo, pageSize: number, bigEndian: boolean): Promise<boolean> {
  const fh = await open(walPath, 'r');
  try {
    let sum = prev.checksum;
    const head = new Uint8Array(WAL_FRAME_CHECKSUMMED_HEADER_BYTES);
    const view = new DataView(head.buffer);
    for (let at = offset; ; at += walFrameSize(pageSize)) {
      let f: WalFrameInfo;
      try {
        f = await readWalFrame(fh, at, pageSize, { file: walPath });
      } catch {
        return false;
      }
      if (f.pgno === 0 || !sameSalts(f, prev)) return false;
      view.setUint32(0, f.pgno);
      view.setUint32(WAL_FRAME_COMMIT_OFFSET, f.commit);
      let next = walChecksum(head, bigEndian, sum, 0, head.length);
      next = walChecksum(f.data, bigEndian, next, 0, f.data.length);
      if (next.s0 !== f.checksum.s0 || next.s1 !== f.checksum.s1) return false;
      if (f.commit !== 0) return true;
      sum = next;
    }
  } finally {
    await fh.close();
  }
}

/**
 * The WAL frame before `offset` still carries the last L0 file's salts, and its
 * page is in that file, byte for byte. Returns that frame, or null.
 */
async function lastPageMatches(walPath: string, last: LastL0, prevOffset: number, pageSize: number, salts: WalSalts): Promise<WalFrameInfo | null> {
  const fh = await open(walPath, 'r');
  let frame;
  try {
    frame = await readWalFrame(fh, prevOffset, pageSize, { file: walPath });
  } catch {
    return null;
  } finally {
    await fh.close();
  }
  if (!sameSalts(frame, salts)) return null;

  let ltx: LocalRandomAccessFile;
  try {
    ltx = await LocalRandomAccessFile.open(last.path);
  } catch (err) {
    throw new LocalStateError(`cannot open last L0 file ${last.path}`, { cause: err });
  }
  try {
    const map = await readPageMap(ltx, { file: last.path });
    const page = await fetchPage(ltx, map, frame.pgno, { file: last.path });
    return page !== null && Buffer.compare(page, frame.data) === 0 ? frame : null;
  } catch (err) {
    throw new LocalStateError(`last L0 file ${last.path} is unreadable: ${(err as Error).message}`, { cause: err });
  } finally {
    await ltx.close();
  }
}
