import { readAt, withWalHandle, type WalSource } from './wal-file.js';
import {
  sameSalts,
  walFrameSize,
  WAL_FRAME_HEADER_SIZE,
  WAL_FRAME_SALT1_OFFSET,
  WAL_FRAME_SALT2_OFFSET,
  WAL_HEADER_SIZE,
  type WalSalts,
} from './wal-header.js';
import { DEFAULT_WAL_CHUNK_BYTES, readWalHeader, type WalFrameReaderOptions } from './wal-reader.js';

export interface MissedCheckpointScan {
  /** True when some frame carries salts that are neither the header's nor the previous generation's. */
  readonly detected: boolean;
  /** The unknown salt pairs, in the order first seen. */
  readonly unknownSalts: WalSalts[];
  /** Frame headers looked at. */
  readonly framesScanned: number;
}

/**
 * After a WAL restart, tells whether more than one restart happened since the
 * generation tagged `previous` was last read: the check Litestream's verify()
 * makes with detectFullCheckpoint before it replicates a restarted WAL
 * incrementally. A FULL or RESTART checkpoint run by another process in the
 * meantime moved frames that were never replicated into the database, and the
 * only trace it leaves is stale frames tagged with a third salt pair (none, if
 * the newer generations have already overwritten them all).
 *
 * Frame headers are scanned from the start of the WAL without checksum
 * validation (stale frames are exactly what is being looked for), stopping at
 * the first frame of the `previous` generation or at the end of the file. Salts
 * equal to the current header's or to `previous` are known; any other pair is
 * reported.
 */
export async function detectMissedCheckpoint(
  source: WalSource,
  previous: WalSalts,
  options: WalFrameReaderOptions = {},
): Promise<MissedCheckpointScan> {
  return withWalHandle(source, async (fh, path) => {
    const file = options.file ?? path;
    const header = await readWalHeader(fh, { file, signal: options.signal });
    const frameSize = walFrameSize(header.pageSize);
    const framesPerChunk = Math.max(1, Math.floor((options.chunkBytes ?? DEFAULT_WAL_CHUNK_BYTES) / frameSize));
    const buf = new Uint8Array(framesPerChunk * frameSize);
    const view = new DataView(buf.buffer);

    const unknown = new Map<string, WalSalts>();
    let scanned = 0;
    for (let pos = WAL_HEADER_SIZE; ; pos += buf.length) {
      options.signal?.throwIfAborted();
      const got = await readAt(fh, buf, 0, buf.length, pos);
      // A torn last frame still has a readable header when at least its first 24 bytes are there.
      for (let rel = 0; rel + WAL_FRAME_HEADER_SIZE <= got; rel += frameSize) {
        scanned++;
        const salts = { salt1: view.getUint32(rel + WAL_FRAME_SALT1_OFFSET), salt2: view.getUint32(rel + WAL_FRAME_SALT2_OFFSET) };
        if (sameSalts(salts, previous)) return result(unknown, scanned);
        if (!sameSalts(salts, header)) unknown.set(`${salts.salt1}:${salts.salt2}`, salts);
      }
      if (got < buf.length) return result(unknown, scanned);
    }
  });
}

function result(unknown: Map<string, WalSalts>, framesScanned: number): MissedCheckpointScan {
  const unknownSalts = [...unknown.values()];
  return { detected: unknownSalts.length > 0, unknownSalts, framesScanned };
}
