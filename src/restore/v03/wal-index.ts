/**
 * One WAL index of a v0.3 backup: its segments are decompressed into a
 * staging file (the index's WAL, as the database's `-wal` was), then its
 * committed frames are written into the database file the way SQLite's
 * checkpoint writes them: the last committed version of each page, pages
 * beyond the final database size skipped, the file cut or grown to that size.
 *
 * Doing the checkpoint here rather than through SQLite lets every problem be
 * reported against the segment that holds it: SQLite reads a WAL whose
 * checksum chain breaks as ending there and would quietly restore an older
 * state. Frames after the last commit (a transaction in progress when the
 * segment was taken) are ignored, as SQLite ignores them.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { isErrno } from '../../io/durable-fs.js';
import { WalError } from '../../sqlite/wal-errors.js';
import { walFrameSize, WAL_FRAME_HEADER_SIZE } from '../../sqlite/wal-header.js';
import { walPageMap, type WalPageMap } from '../../sqlite/wal-page-map.js';
import { WalFrameReader, type WalEndReason } from '../../sqlite/wal-reader.js';
import type { V03WalSegmentInfo } from '../../storage/v03-replica-client.js';
import { V03CorruptObjectError, V03RestoreError, V03SegmentGapError } from './errors.js';
import { decodeLz4Frames } from './lz4-frame-stream.js';

/** Pages are copied into the database in runs of consecutive page numbers up to this many bytes. */
export const V03_APPLY_WRITE_BYTES = 1024 * 1024;

/** Where one segment's bytes sit in its index's WAL. */
export interface StagedSegment {
  /** Name used in errors: replica and key. */
  object: string;
  offset: number;
  end: number;
}

export interface StagedWal {
  path: string;
  index: number;
  /** Bytes of the index's WAL. */
  size: number;
  segments: StagedSegment[];
}

/**
 * Streams the segments of one index (opened through `openSegment`),
 * decompressed and in offset order, into `path`. Each segment must start where the previous one ended (the first at
 * 0), or V03SegmentGapError names the missing range.
 */
export async function stageWalIndex(
  openSegment: (s: V03WalSegmentInfo) => Promise<AsyncIterable<Uint8Array>>,
  generation: string,
  index: number,
  segments: readonly V03WalSegmentInfo[],
  path: string,
  name: (s: V03WalSegmentInfo) => string,
  signal: AbortSignal | undefined,
): Promise<StagedWal> {
  const fh = await open(path, 'w');
  const staged: StagedSegment[] = [];
  let size = 0;
  try {
    for (const s of segments) {
      signal?.throwIfAborted();
      if (s.offset !== size) {
        const prev = staged.at(-1);
        throw new V03SegmentGapError(
          s.offset > size
            ? `${name(s)} starts at offset ${s.offset} of WAL index ${hex8(index)}, but ${prev?.object ?? 'the index'} ends at ${size}: the segment for bytes ${size}-${s.offset - 1} is missing`
            : `${name(s)} starts at offset ${s.offset} of WAL index ${hex8(index)}, inside ${prev?.object ?? 'the index'}, which ends at ${size}`,
          `offset ${size} of WAL index ${hex8(index)} in generation ${generation}`,
        );
      }
      const object = name(s);
      const stream = await openSegment(s);
      for await (const chunk of decodeLz4Frames(stream, object, signal)) {
        await writeFully(fh, chunk, size);
        size += chunk.length;
      }
      staged.push({ object, offset: s.offset, end: size });
    }
  } finally {
    await fh.close();
  }
  return { path, index, size, segments: staged };
}

export interface AppliedWal {
  pageSize: number;
  /** Database size in pages after the index's last transaction; 0 when it holds none. */
  commit: number;
  /** Committed frames in the index. */
  frames: number;
  /** Distinct pages written. */
  pages: number;
}

/**
 * Checkpoints a staged WAL into the database open as `db`, whose current page
 * size is `dbPageSize` (undefined while the database file is still empty).
 */
export async function applyStagedWal(db: FileHandle, wal: StagedWal, dbPageSize: number | undefined, signal: AbortSignal | undefined): Promise<AppliedWal> {
  const fh = await open(wal.path, 'r');
  try {
    let map: WalPageMap;
    let reader: WalFrameReader;
    try {
      reader = await WalFrameReader.open(fh, { signal });
      map = await walPageMap(reader);
    } catch (err) {
      if (err instanceof WalError) throw corruptAt(wal, err.offset ?? 0, `bad WAL: ${err.reason}`, err);
      throw err;
    }
    if (map.endReason !== 'end-of-file') {
      throw corruptAt(wal, reader.offset, END_REASONS[map.endReason]);
    }
    const pageSize = map.pageSize;
    if (dbPageSize !== undefined && dbPageSize !== pageSize) {
      throw corruptAt(wal, 0, `the WAL has ${pageSize}-byte pages but the database being restored has ${dbPageSize}-byte pages`);
    }
    if (map.commit === 0) return { pageSize, commit: 0, frames: 0, pages: 0 };
    await copyPages(fh, db, map, signal);
    // A checkpoint leaves the database exactly as large as the last transaction made it.
    await db.truncate(map.commit * pageSize);
    return { pageSize, commit: map.commit, frames: map.frames, pages: map.pages.size };
  } finally {
    await fh.close();
  }
}

/** Removes a staging file; one that is already gone is fine. */
export async function removeStagedWal(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

const END_REASONS: Record<Exclude<WalEndReason, 'end-of-file'>, string> = {
  'partial-frame': 'the WAL ends inside a frame: the segment was cut short',
  'salt-mismatch': 'WAL frame carries salts other than the WAL header: the segment does not belong to this WAL',
  'zero-pgno': 'WAL frame has page number 0',
  'checksum-mismatch': 'WAL frame checksum mismatch: the segment is corrupt',
};

/** A V03CorruptObjectError against the segment holding byte `at` of the index's WAL, with the offset inside that segment. */
function corruptAt(wal: StagedWal, at: number, reason: string, cause?: unknown): V03CorruptObjectError {
  const seg = wal.segments.find((s) => at >= s.offset && at < s.end) ?? wal.segments.at(-1)!;
  return new V03CorruptObjectError(
    seg.object,
    `${reason} (byte ${at} of WAL index ${hex8(wal.index)}, decompressed)`,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}

/** Writes each mapped page into the database, in page order, coalescing runs of consecutive pages. */
async function copyPages(wal: FileHandle, db: FileHandle, map: WalPageMap, signal: AbortSignal | undefined): Promise<void> {
  const pageSize = map.pageSize;
  const frameSize = walFrameSize(pageSize);
  const pagesPerRun = Math.max(1, Math.floor(V03_APPLY_WRITE_BYTES / pageSize));
  const buf = new Uint8Array(pagesPerRun * pageSize);
  const pgnos = [...map.pages.keys()].sort((a, b) => a - b);
  let runStart = 0;
  let runLen = 0;
  const flush = async (): Promise<void> => {
    if (runLen === 0) return;
    await writeFully(db, buf.subarray(0, runLen * pageSize), (runStart - 1) * pageSize);
    runLen = 0;
  };
  for (const pgno of pgnos) {
    if (runLen > 0 && (pgno !== runStart + runLen || runLen === pagesPerRun)) {
      signal?.throwIfAborted();
      await flush();
    }
    if (runLen === 0) runStart = pgno;
    const frameAt = map.pages.get(pgno)!;
    // The frame was validated while the map was built; only its page is needed now.
    const at = runLen * pageSize;
    const got = await readFully(wal, buf, at, pageSize, frameAt + WAL_FRAME_HEADER_SIZE);
    if (got !== pageSize) throw new V03RestoreError(`the staged WAL changed while it was applied: the frame at ${frameAt} (${frameSize} bytes) is cut short`);
    runLen++;
  }
  await flush();
}

async function readFully(fh: FileHandle, buf: Uint8Array, at: number, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, at + got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
