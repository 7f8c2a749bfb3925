/**
 * The Litestream v0.3 backup layout, and read access to backups in it
 * (Litestream v0.5 reads them from its file and S3 backends only). tidemark
 * never writes this layout; it restores from it so that a v0.3 replica can
 * be upgraded.
 *
 * Keys, relative to the replica path (see docs/litestream-v03.md):
 *   generations/<generation>/snapshots/<index %08x>.snapshot.lz4
 *   generations/<generation>/wal/<index %08x>_<offset %08x>.wal.lz4
 *
 * A backend offers only raw object reads (raw-object-reader.ts): a listing
 * of what is under a prefix, with each object's size and modification time,
 * and a stream of one object's bytes. V03Reader (v03-reader.ts) reads this
 * layout over them; the helpers below turn keys into infos and back.
 */
import { StorageError } from './errors.js';
import { modifiedAtFromNs } from './raw-object-reader.js';

/** Directory (key prefix) under the replica path that holds every generation. */
export const V03_GENERATIONS_DIR = 'generations';
export const V03_SNAPSHOTS_DIR = 'snapshots';
export const V03_WAL_DIR = 'wal';

/** A generation ID: 8 random bytes, hex-encoded in lower case. */
export const V03_GENERATION_RE = /^[0-9a-f]{16}$/;
/** `<index %08x>.snapshot.lz4`. */
export const V03_SNAPSHOT_RE = /^([0-9a-f]{8})\.snapshot\.lz4$/;
/**
 * `<index %08x>_<offset %08x>.wal.lz4`. Offsets of WALs past 4 GiB need more
 * than 8 digits, which newer Litestream releases also accept, so up to 16 are.
 */
export const V03_WAL_SEGMENT_RE = /^([0-9a-f]{8})_([0-9a-f]{8,16})\.wal\.lz4$/;

/** A snapshot: the database file at the start of WAL index `index`, one LZ4 frame. */
export interface V03SnapshotInfo {
  generation: string;
  index: number;
  /** Stored (compressed) size in bytes. */
  size: number;
  /** When the object was written: file mtime or object LastModified; v0.3 keeps no other timestamp. */
  createdAt: Date;
}

/** A WAL segment: bytes [offset, offset + decompressed size) of WAL index `index`, one LZ4 frame. */
export interface V03WalSegmentInfo {
  generation: string;
  index: number;
  offset: number;
  /** Stored (compressed) size in bytes. */
  size: number;
  createdAt: Date;
}

export interface V03OpenOptions {
  signal?: AbortSignal;
}

export interface V03ReplicaClient {
  /** Generation IDs that hold v0.3 backups, sorted; other names under `generations/` are skipped. */
  v03Generations(signal?: AbortSignal): Promise<string[]>;

  /** The generation's snapshots in ascending index order; names that do not match V03_SNAPSHOT_RE are skipped. */
  v03Snapshots(generation: string, signal?: AbortSignal): Promise<V03SnapshotInfo[]>;

  /**
   * The generation's WAL segments in ascending (index, offset) order, compared
   * as numbers; names that do not match V03_WAL_SEGMENT_RE are skipped.
   */
  v03WalSegments(generation: string, signal?: AbortSignal): Promise<V03WalSegmentInfo[]>;

  /**
   * Streams an object's stored bytes (still LZ4-compressed). Rejects with
   * V03ObjectNotFoundError when it does not exist. Chunks belong to the caller.
   */
  openV03Snapshot(generation: string, index: number, opts?: V03OpenOptions): Promise<AsyncIterable<Uint8Array>>;
  openV03WalSegment(generation: string, index: number, offset: number, opts?: V03OpenOptions): Promise<AsyncIterable<Uint8Array>>;
}

/** The v0.3 object asked for is not on the replica. */
export class V03ObjectNotFoundError extends StorageError {
  override name = 'V03ObjectNotFoundError';
  /** Key relative to the replica path. */
  readonly key: string;

  /** `where` names the location looked at: a path, a bucket key, a URL. */
  constructor(key: string, where: string, options?: { cause?: unknown }) {
    super(`v0.3 backup object not found: ${key} (${where})`, options);
    this.key = key;
  }
}

/** A generation, index or offset that cannot name a v0.3 object. */
export class V03KeyError extends StorageError {
  override name = 'V03KeyError';
}

export function checkV03Generation(generation: string): void {
  if (typeof generation !== 'string' || !V03_GENERATION_RE.test(generation)) {
    throw new V03KeyError(`invalid v0.3 generation ${JSON.stringify(generation)}: expected 16 lower-case hex digits`);
  }
}

/** Largest WAL index the 8-digit name can hold. */
const MAX_INDEX = 0xffff_ffff;
/** Largest offset worth naming: past 2^53 a JavaScript number is no longer exact. */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index > MAX_INDEX) {
    throw new V03KeyError(`invalid v0.3 WAL index ${String(index)}: expected an integer from 0 to ${MAX_INDEX}`);
  }
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
    throw new V03KeyError(`invalid v0.3 WAL offset ${String(offset)}: expected a non-negative integer`);
  }
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** `generations/<generation>`. */
export function v03GenerationKey(generation: string): string {
  checkV03Generation(generation);
  return `${V03_GENERATIONS_DIR}/${generation}`;
}

/** `generations/<generation>/snapshots`. */
export function v03SnapshotsPrefix(generation: string): string {
  return `${v03GenerationKey(generation)}/${V03_SNAPSHOTS_DIR}`;
}

/** `generations/<generation>/wal`. */
export function v03WalPrefix(generation: string): string {
  return `${v03GenerationKey(generation)}/${V03_WAL_DIR}`;
}

/** `<index %08x>.snapshot.lz4`. */
export function formatV03SnapshotName(index: number): string {
  checkIndex(index);
  return `${hex(index, 8)}.snapshot.lz4`;
}

/** `<index %08x>_<offset %08x>.wal.lz4` (the offset takes more digits only past 4 GiB). */
export function formatV03WalSegmentName(index: number, offset: number): string {
  checkIndex(index);
  checkOffset(offset);
  return `${hex(index, 8)}_${hex(offset, 8)}.wal.lz4`;
}

export function v03SnapshotKey(generation: string, index: number): string {
  return `${v03SnapshotsPrefix(generation)}/${formatV03SnapshotName(index)}`;
}

export function v03WalSegmentKey(generation: string, index: number, offset: number): string {
  return `${v03WalPrefix(generation)}/${formatV03WalSegmentName(index, offset)}`;
}

/** The index of a snapshot file name, or null when the name is not one. */
export function parseV03SnapshotName(name: string): number | null {
  const m = V03_SNAPSHOT_RE.exec(name);
  return m ? parseInt(m[1]!, 16) : null;
}

/** The index and offset of a WAL segment file name, or null when the name is not one. */
export function parseV03WalSegmentName(name: string): { index: number; offset: number } | null {
  const m = V03_WAL_SEGMENT_RE.exec(name);
  if (!m) return null;
  const offset = parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(offset)) return null;
  return { index: parseInt(m[1]!, 16), offset };
}

/** Sorts snapshots by index: the order V03ReplicaClient.v03Snapshots promises. */
export function sortV03Snapshots(list: V03SnapshotInfo[]): V03SnapshotInfo[] {
  return list.sort((a, b) => a.index - b.index);
}

/** Sorts WAL segments by (index, offset) as numbers: the order V03ReplicaClient.v03WalSegments promises. */
export function sortV03WalSegments(list: V03WalSegmentInfo[]): V03WalSegmentInfo[] {
  return list.sort((a, b) => a.index - b.index || a.offset - b.offset);
}

/** createdAt from a modification time in nanoseconds, as the backends report it (see modifiedAtFromNs). */
export const v03CreatedAtFromNs = modifiedAtFromNs;
