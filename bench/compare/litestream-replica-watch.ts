/**
 * Tells when a Litestream v0.3 file replica holds a given WAL position, by
 * reading the replica the way its format defines it rather than by asking
 * Litestream.
 *
 * Layout: generations/<gen>/wal/<index>_<offset>.wal.lz4, where <index>
 * counts WAL restarts within the generation and <offset> is the byte offset
 * of the segment in that WAL (the shadow WAL Litestream copies mirrors the
 * real one byte for byte, header included), both 8 hex digits. The segment at
 * offset 0 of an index starts with the WAL header, whose salts identify the
 * WAL generation. Segments are written to a temporary name and renamed, so a
 * `.wal.lz4` file never changes once it is visible; each is read once.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { WalEnd } from '../replicate/wal-end.js';
import { lz4FrameLength, lz4FramePrefix } from './lz4-frame-scan.js';

const SEGMENT_NAME = /^([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4$/;
const WAL_HEADER_SIZE = 32;
const SALT1_OFFSET = 16;
const SALT2_OFFSET = 20;

interface Segment {
  index: number;
  offset: number;
  /** Decompressed bytes. */
  length: number;
  /** Salts from the WAL header, for segments at offset 0. */
  salts?: { salt1: number; salt2: number };
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (isEnoent(err)) return [];
    throw err;
  }
}

export class LitestreamReplicaWatch {
  readonly #root: string;
  /** Segments already read, by path. */
  readonly #segments = new Map<string, Segment>();

  constructor(replicaDir: string) {
    this.#root = join(replicaDir, 'generations');
  }

  #segment(path: string, index: number, offset: number): Segment | null {
    let seg = this.#segments.get(path);
    if (seg !== undefined) return seg;
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      // Retention may remove a segment between listing and reading.
      if (isEnoent(err)) return null;
      throw err;
    }
    seg = { index, offset, length: lz4FrameLength(buf) };
    if (offset === 0) {
      const header = Buffer.from(lz4FramePrefix(buf, WAL_HEADER_SIZE));
      if (header.length === WAL_HEADER_SIZE) seg.salts = { salt1: header.readUInt32BE(SALT1_OFFSET), salt2: header.readUInt32BE(SALT2_OFFSET) };
    }
    this.#segments.set(path, seg);
    return seg;
  }

  /** Segments of every generation, by generation, in (index, offset) order. */
  segmentsByGeneration(): Map<string, Segment[]> {
    const out = new Map<string, Segment[]>();
    for (const gen of listDir(this.#root)) {
      const walDir = join(this.#root, gen, 'wal');
      const segs: Segment[] = [];
      for (const name of listDir(walDir)) {
        const m = SEGMENT_NAME.exec(name);
        if (m === null) continue;
        const seg = this.#segment(join(walDir, name), parseInt(m[1]!, 16), parseInt(m[2]!, 16));
        if (seg !== null) segs.push(seg);
      }
      segs.sort((a, b) => a.index - b.index || a.offset - b.offset);
      out.set(gen, segs);
    }
    return out;
  }

  /**
   * True once some generation holds everything committed up to `end`: the
   * index whose header carries end's salts reaches end.commitEnd, or a later
   * index follows it (Litestream copies a WAL to its end before it starts the
   * next index, and uploads in order).
   */
  covers(end: WalEnd): boolean {
    for (const segs of this.segmentsByGeneration().values()) {
      let matching: number | undefined;
      let reach = 0;
      for (const s of segs) {
        if (s.salts !== undefined && s.salts.salt1 === end.salt1 && s.salts.salt2 === end.salt2) matching = s.index;
        if (matching === undefined) continue;
        if (s.index > matching) return true;
        if (s.index === matching) reach = Math.max(reach, s.offset + s.length);
      }
      if (matching !== undefined && reach >= end.commitEnd) return true;
    }
    return false;
  }
}
