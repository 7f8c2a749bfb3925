import { mkdtemp, open, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { walChecksum, WAL_CHECKSUM_SEED, type WalChecksum } from '../../src/sqlite/wal-checksum.js';
import {
  walFrameSize,
  WAL_FORMAT_VERSION,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  WAL_MAGIC_BIG_ENDIAN,
  WAL_MAGIC_LITTLE_ENDIAN,
} from '../../src/sqlite/wal-header.js';
import { readWalFrame, WalFrameReader } from '../../src/sqlite/wal-reader.js';
import { walPageMap, type WalPageMap } from '../../src/sqlite/wal-page-map.js';

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-wal-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A WAL-mode database whose WAL is never checkpointed behind the test's back:
 * auto-checkpoint is off, and the connection must stay open (closing the last
 * connection checkpoints and deletes the WAL).
 */
export function openWalDb(path: string, pageSize = 4096): Database.Database {
  const db = new Database(path);
  db.pragma(`page_size = ${pageSize}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}`);
  db.pragma('wal_autocheckpoint = 0');
  return db;
}

export interface DbFiles {
  db: Buffer;
  wal: Buffer;
}

/** The main database file and its WAL as they are now (the connection must be idle). */
export async function snapshotFiles(dbPath: string): Promise<DbFiles> {
  const [db, wal] = await Promise.all([readFile(dbPath), readFile(`${dbPath}-wal`)]);
  return { db, wal };
}

let oracleSeq = 0;

/**
 * What SQLite makes of these bytes: the pair is written as a fresh database
 * and WAL, opened (so SQLite's own WAL recovery decides which frames count) and
 * checkpointed with TRUNCATE. Returns the resulting database file.
 */
export async function sqliteCheckpoint(dir: string, files: DbFiles): Promise<Buffer> {
  const sub = join(dir, `oracle-${oracleSeq++}`);
  await mkdir(sub);
  const path = join(sub, 'copy.db');
  await writeFile(path, files.db);
  await writeFile(`${path}-wal`, files.wal);
  const db = new Database(path);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  const out = await readFile(path);
  await rm(sub, { recursive: true, force: true });
  return out;
}

/** The page map of a WAL held in memory, read through a temporary file. */
export async function pageMapOf(dir: string, wal: Uint8Array, chunkBytes?: number): Promise<WalPageMap> {
  const path = join(dir, `wal-${oracleSeq++}`);
  await writeFile(path, wal);
  const fh = await open(path, 'r');
  try {
    return await walPageMap(await WalFrameReader.open(fh, { chunkBytes }));
  } finally {
    await fh.close();
    await rm(path, { force: true });
  }
}

/**
 * Applies page maps in order to a copy of a database file, reading each page
 * from its WAL frame, and sizes the result to the last commit: what a replica
 * built from these maps would hold.
 */
export async function applyPageMaps(dir: string, dbFile: Uint8Array, steps: { wal: Uint8Array; map: WalPageMap }[]): Promise<Buffer> {
  let out = Buffer.from(dbFile);
  for (const { wal, map } of steps) {
    if (map.commit === 0) continue;
    const path = join(dir, `apply-${oracleSeq++}`);
    await writeFile(path, wal);
    const fh = await open(path, 'r');
    try {
      const size = map.commit * map.pageSize;
      const next = Buffer.alloc(size);
      out.copy(next, 0, 0, Math.min(size, out.length));
      for (const [pgno, offset] of map.pages) {
        const frame = await readWalFrame(fh, offset, map.pageSize);
        if (frame.pgno !== pgno) throw new Error(`frame at ${offset} holds page ${frame.pgno}, map says ${pgno}`);
        next.set(frame.data, (pgno - 1) * map.pageSize);
      }
      out = next;
    } finally {
      await fh.close();
      await rm(path, { force: true });
    }
  }
  return out;
}

export interface FrameSpec {
  pgno: number;
  commit?: number;
  data: Uint8Array;
  /** Salts to write instead of the header's (to fake a stale frame). */
  salts?: [number, number];
  /** Checksum to write instead of the computed one. */
  checksum?: WalChecksum;
}

export interface WalSpec {
  pageSize: number;
  bigEndian?: boolean;
  checkpointSeq?: number;
  salt1: number;
  salt2: number;
  frames: FrameSpec[];
}

/** A WAL built by hand: the header and frames with checksums computed by the code under test. */
export function buildWal(spec: WalSpec): Uint8Array {
  const { pageSize, bigEndian = false } = spec;
  const frameSize = walFrameSize(pageSize);
  const out = new Uint8Array(WAL_HEADER_SIZE + spec.frames.length * frameSize);
  const view = new DataView(out.buffer);
  view.setUint32(0, bigEndian ? WAL_MAGIC_BIG_ENDIAN : WAL_MAGIC_LITTLE_ENDIAN);
  view.setUint32(4, WAL_FORMAT_VERSION);
  view.setUint32(8, pageSize);
  view.setUint32(12, spec.checkpointSeq ?? 0);
  view.setUint32(16, spec.salt1);
  view.setUint32(20, spec.salt2);
  let sum = walChecksum(out, bigEndian, WAL_CHECKSUM_SEED, 0, 24);
  view.setUint32(24, sum.s0);
  view.setUint32(28, sum.s1);
  spec.frames.forEach((f, i) => {
    const at = WAL_HEADER_SIZE + i * frameSize;
    view.setUint32(at, f.pgno);
    view.setUint32(at + 4, f.commit ?? 0);
    view.setUint32(at + 8, f.salts?.[0] ?? spec.salt1);
    view.setUint32(at + 12, f.salts?.[1] ?? spec.salt2);
    out.set(f.data.subarray(0, pageSize), at + WAL_FRAME_HEADER_SIZE);
    sum = walChecksum(out, bigEndian, sum, at, at + 8);
    sum = walChecksum(out, bigEndian, sum, at + WAL_FRAME_HEADER_SIZE, at + frameSize);
    const stored = f.checksum ?? sum;
    view.setUint32(at + 16, stored.s0);
    view.setUint32(at + 20, stored.s1);
  });
  return out;
}

/**
 * The same WAL with its checksums recomputed in the other word order (and the
 * magic flipped to match), through the end of its valid frames; anything after
 * them is dropped. SQLite reads both orders on any host.
 */
export async function flipChecksumOrder(dir: string, wal: Uint8Array): Promise<Uint8Array> {
  const path = join(dir, `flip-${oracleSeq++}`);
  await writeFile(path, wal);
  const fh = await open(path, 'r');
  try {
    const reader = await WalFrameReader.open(fh);
    const frames: FrameSpec[] = [];
    for await (const f of reader) frames.push({ pgno: f.pgno, commit: f.commit, data: Uint8Array.from(f.data) });
    const h = reader.header;
    return buildWal({
      pageSize: h.pageSize,
      bigEndian: !h.bigEndianChecksum,
      checkpointSeq: h.checkpointSeq,
      salt1: h.salt1,
      salt2: h.salt2,
      frames,
    });
  } finally {
    await fh.close();
    await rm(path, { force: true });
  }
}

/** Deterministic filler for blobs: different per (seed, i). */
export function blob(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Offsets of every whole frame in a WAL file, valid or not. */
export function frameOffsets(walLength: number, pageSize: number): number[] {
  const out: number[] = [];
  for (let at = WAL_HEADER_SIZE; at + walFrameSize(pageSize) <= walLength; at += walFrameSize(pageSize)) out.push(at);
  return out;
}

export interface FrameSummary {
  offset: number;
  pgno: number;
  commit: number;
}

/** The valid frames of a WAL held in memory. */
export async function framesOf(dir: string, wal: Uint8Array): Promise<FrameSummary[]> {
  const path = join(dir, `frames-${oracleSeq++}`);
  await writeFile(path, wal);
  const fh = await open(path, 'r');
  try {
    const out: FrameSummary[] = [];
    for await (const f of await WalFrameReader.open(fh)) out.push({ offset: f.offset, pgno: f.pgno, commit: f.commit });
    return out;
  } finally {
    await fh.close();
    await rm(path, { force: true });
  }
}

/** Asserts that replaying the page map onto the database file gives what SQLite's checkpoint gives. */
export async function assertReplayMatchesSqlite(dir: string, files: DbFiles, map: WalPageMap, label = ''): Promise<void> {
  const mine = await applyPageMaps(dir, files.db, [{ wal: files.wal, map }]);
  const oracle = await sqliteCheckpoint(dir, files);
  if (!mine.equals(oracle)) {
    throw new Error(`${label}: page-map replay (${mine.length} bytes) differs from SQLite's checkpoint (${oracle.length} bytes)`);
  }
}

/** A few transactions of inserts, updates and deletes of blobs, one statement group per transaction. */
export function runWorkload(db: Database.Database, seed: number, transactions: number, blobSize: number): void {
  db.exec('CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)');
  const insert = db.prepare('INSERT INTO t(v) VALUES (?)');
  const update = db.prepare('UPDATE t SET v = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM t WHERE id = ?');
  for (let i = 0; i < transactions; i++) {
    const s = seed * 1000 + i;
    db.transaction(() => {
      insert.run(blob(s, blobSize));
      insert.run(blob(s + 1, Math.max(1, blobSize >> 2)));
      if (i % 3 === 1) update.run(blob(s + 2, blobSize), Math.max(1, i));
      if (i % 4 === 3) remove.run(i);
    })();
  }
}

export interface RawFrameHeader {
  pgno: number;
  commit: number;
}

/**
 * The frame headers of a WAL's current generation, parsed by hand (no code
 * under test): frames from the first on whose salts are the header's, up to
 * the last commit frame among them. What SQLite's recovery would count as
 * committed, checksums aside (a WAL written by SQLite itself has them right).
 */
export function committedFrameHeaders(wal: Uint8Array, pageSize: number, from = WAL_HEADER_SIZE): RawFrameHeader[] {
  if (wal.length < WAL_HEADER_SIZE) return [];
  const v = new DataView(wal.buffer, wal.byteOffset, wal.length);
  const salt1 = v.getUint32(16);
  const salt2 = v.getUint32(20);
  const frameSize = walFrameSize(pageSize);
  const out: RawFrameHeader[] = [];
  let committed = 0;
  for (let at = from; at + frameSize <= wal.length; at += frameSize) {
    if (v.getUint32(at + 8) !== salt1 || v.getUint32(at + 12) !== salt2) break;
    out.push({ pgno: v.getUint32(at), commit: v.getUint32(at + 4) });
    if (out[out.length - 1]!.commit !== 0) committed = out.length;
  }
  return out.slice(0, committed);
}
