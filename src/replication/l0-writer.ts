import { open, stat, type FileHandle } from 'node:fs/promises';
import { readAt } from '../sqlite/wal-file.js';
import { LtxEncoder } from '../ltx/encoder.js';
import { makeHeader, type LtxHeader } from '../ltx/header.js';
import { HEADER_FLAG_NO_CHECKSUM, lockPgno } from '../ltx/constants.js';
import { PrevFrameMismatchError } from '../sqlite/wal-errors.js';
import { sameSalts, WAL_HEADER_SIZE } from '../sqlite/wal-header.js';
import { walPageMap, type WalPageMap } from '../sqlite/wal-page-map.js';
import { readWalFrame, WalFrameReader } from '../sqlite/wal-reader.js';
import { WalChangedError } from './errors.js';
import type { LocalMeta } from './local-meta.js';
import type { SyncDecision } from './sync-decision.js';

/** Bytes read per call when copying database pages into a full image. */
export const DB_READ_CHUNK_BYTES = 1024 * 1024;

export interface WriteL0Input {
  readonly meta: LocalMeta;
  readonly dbPath: string;
  readonly walPath: string;
  readonly pageSize: number;
  readonly txid: bigint;
  readonly decision: SyncDecision;
  readonly now?: () => number;
}

export interface WrittenL0 {
  readonly header: LtxHeader;
  /** End of the WAL range the file covers (walOffset + walSize). */
  readonly walEnd: number;
  /** WAL file size when the file was written. */
  readonly walFileSize: number;
  /** True when the WAL range could not be resumed and was read from its start as a full image instead. */
  readonly fellBack: boolean;
}

/**
 * Writes L0 file `txid` from the WAL: the committed pages after the decision's
 * offset, or (for a full image) every page of the database, each from the WAL
 * when it has one there and from the database file otherwise. Returns null
 * when an incremental sync finds no new committed frames.
 */
export async function writeL0(input: WriteL0Input): Promise<WrittenL0 | null> {
  const { decision, pageSize } = input;
  const wal = await open(input.walPath, 'r');
  try {
    let snapshot = decision.snapshot;
    let fellBack = false;
    let reader: WalFrameReader;
    if (decision.offset === WAL_HEADER_SIZE) {
      reader = await WalFrameReader.open(wal, { file: input.walPath });
      // The WAL restarted between the decision and this read: only a full image is safe.
      if (!snapshot && !sameSalts(reader.header, decision)) {
        snapshot = true;
        fellBack = true;
      }
    } else {
      try {
        reader = await WalFrameReader.withOffset(wal, decision.offset, decision.salt1, decision.salt2, { file: input.walPath });
      } catch (err) {
        if (!(err instanceof PrevFrameMismatchError)) throw err;
        reader = await WalFrameReader.open(wal, { file: input.walPath });
        snapshot = true;
        fellBack = true;
      }
    }
    if (reader.pageSize !== pageSize) {
      throw new WalChangedError(`${input.walPath}: WAL page size ${reader.pageSize} differs from the database page size ${pageSize}`);
    }
    const map = await walPageMap(reader);
    const size = map.maxOffset - map.offset;
    if (!snapshot && size === 0) return null;

    let commit = map.commit;
    if (commit === 0) commit = Math.floor((await stat(input.dbPath)).size / pageSize);
    const header = makeHeader({
      flags: HEADER_FLAG_NO_CHECKSUM,
      pageSize,
      commit,
      minTxid: input.txid,
      maxTxid: input.txid,
      timestamp: (input.now ?? Date.now)(),
      walOffset: map.offset,
      walSize: size,
      walSalt1: map.salt1,
      walSalt2: map.salt2,
    });
    const path = input.meta.pathOf(input.txid);
    await input.meta.write(input.txid, async (sink) => {
      const enc = new LtxEncoder(sink, header, { file: path, parallel: snapshot && commit * pageSize > DB_READ_CHUNK_BYTES });
      if (snapshot) await writeFullImage(enc, wal, input, map, commit);
      else await writeWalPages(enc, wal, input.walPath, map);
      await enc.finish();
    });
    const walFileSize = (await wal.stat()).size;
    return { header, walEnd: map.offset + size, walFileSize, fellBack };
  } finally {
    await wal.close();
  }
}

async function walPage(wal: FileHandle, walPath: string, map: WalPageMap, pgno: number, offset: number): Promise<Uint8Array> {
  const frame = await readWalFrame(wal, offset, map.pageSize, { file: walPath });
  // Frames are immutable within a generation; other salts mean the WAL restarted and was overwritten under us.
  if (frame.pgno !== pgno || !sameSalts(frame, map)) {
    throw new WalChangedError(`${walPath}: frame at offset ${offset} changed while it was being copied (WAL restarted)`);
  }
  return frame.data;
}

async function writeWalPages(enc: LtxEncoder, wal: FileHandle, walPath: string, map: WalPageMap): Promise<void> {
  const pgnos = [...map.pages.keys()].sort((a, b) => a - b);
  for (const pgno of pgnos) await enc.writePage(pgno, await walPage(wal, walPath, map, pgno, map.pages.get(pgno)!));
}

/**
 * Every page 1..commit but the lock page: from the WAL where the map has a
 * frame for it, else from the database file (zeros past its end).
 */
export async function writeFullImage(
  enc: LtxEncoder,
  wal: FileHandle | undefined,
  input: Pick<WriteL0Input, 'dbPath' | 'walPath' | 'pageSize'>,
  map: WalPageMap,
  commit: number,
): Promise<void> {
  const { pageSize } = input;
  const lock = lockPgno(pageSize);
  const db = await open(input.dbPath, 'r');
  try {
    const pagesPerChunk = Math.max(1, Math.floor(DB_READ_CHUNK_BYTES / pageSize));
    const chunk = new Uint8Array(pagesPerChunk * pageSize);
    let chunkFirst = 1;
    let chunkPages = 0;
    for (let pgno = 1; pgno <= commit; pgno++) {
      if (pgno === lock) continue;
      const offset = map.pages.get(pgno);
      if (offset !== undefined) {
        if (wal === undefined) throw new WalChangedError(`${input.walPath}: the WAL is gone while page ${pgno} was to be read from it`);
        await enc.writePage(pgno, await walPage(wal, input.walPath, map, pgno, offset));
        continue;
      }
      if (pgno < chunkFirst || pgno >= chunkFirst + chunkPages) {
        chunkFirst = pgno;
        const want = Math.min(pagesPerChunk, commit - pgno + 1) * pageSize;
        const got = await readAt(db, chunk, 0, want, (pgno - 1) * pageSize);
        chunkPages = Math.floor(got / pageSize);
      }
      const at = (pgno - chunkFirst) * pageSize;
      // A page past the end of the database file that the WAL does not hold either has never been written: zeros.
      const page = pgno < chunkFirst + chunkPages ? chunk.subarray(at, at + pageSize) : new Uint8Array(pageSize);
      await enc.writePage(pgno, page);
    }
  } finally {
    await db.close();
  }
}
