/**
 * Where the committed part of a SQLite WAL ends, read straight from the file
 * rather than through tidemark's own WAL reader, so the catch-up check does
 * not trust the code it measures.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const WAL_HEADER_SIZE = 32;
const WAL_FRAME_HEADER_SIZE = 24;
/** Frame headers are read this many frames at a time: few system calls, bounded memory. */
const FRAMES_PER_READ = 2048;

export interface WalEnd {
  salt1: number;
  salt2: number;
  /** Byte offset just past the last commit frame of the current generation. */
  commitEnd: number;
}

/**
 * Frames of the current generation carry the header's salts; frames left over
 * from earlier generations (after a checkpoint restarted the WAL) do not, so
 * the first frame with other salts ends the scan.
 */
export function walEnd(walPath: string): WalEnd {
  const fd = openSync(walPath, 'r');
  try {
    const header = Buffer.alloc(WAL_HEADER_SIZE);
    if (readSync(fd, header, 0, WAL_HEADER_SIZE, 0) < WAL_HEADER_SIZE) throw new Error(`${walPath}: no WAL header`);
    const pageSize = header.readUInt32BE(8);
    const salt1 = header.readUInt32BE(16);
    const salt2 = header.readUInt32BE(20);
    const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
    const fileSize = fstatSync(fd).size;
    const chunk = Buffer.alloc(frameSize * FRAMES_PER_READ);
    let commitEnd = WAL_HEADER_SIZE;
    for (let base = WAL_HEADER_SIZE; base + frameSize <= fileSize; base += chunk.length) {
      const n = readSync(fd, chunk, 0, chunk.length, base);
      for (let at = 0; at + frameSize <= n; at += frameSize) {
        if (chunk.readUInt32BE(at + 8) !== salt1 || chunk.readUInt32BE(at + 12) !== salt2) return { salt1, salt2, commitEnd };
        // A non-zero "database size after commit" marks the last frame of a transaction.
        if (chunk.readUInt32BE(at + 4) !== 0) commitEnd = base + at + frameSize;
      }
    }
    return { salt1, salt2, commitEnd };
  } finally {
    closeSync(fd);
  }
}
