import { StorageError } from './errors.js';

/** An object listed directly under a directory (key prefix) of the replica. */
export interface RawObjectInfo {
  /** The name after the directory's prefix: never contains '/'. */
  readonly name: string;
  /** Stored size in bytes. */
  readonly size: number;
  /** The file's mtime or the object's LastModified. */
  readonly modifiedAt: Date;
}

export interface RawObjectOpenOptions {
  readonly signal?: AbortSignal;
  /** First byte to read (default 0). */
  readonly offset?: number;
  /** Bytes to read from `offset`; 0 or undefined reads to the end. */
  readonly size?: number;
}

/**
 * Reads of a replica's storage below the LTX layout: listing what is under
 * a key prefix and reading one object, or a byte range of it. Keys are
 * relative to the replica path and '/'-separated, whatever the backend.
 * Layouts other than v0.5's (the Litestream v0.3 one, see v03-reader.ts)
 * are read over these, so a backend holds no knowledge of them.
 */
export interface RawObjectReader {
  /** Names of the directories (common prefixes) directly under `dir`; empty when `dir` does not exist. */
  listRawDirs(dir: string, signal?: AbortSignal): Promise<string[]>;
  /** The objects directly under `dir`, deeper keys left out; empty when `dir` does not exist. */
  listRawObjects(dir: string, signal?: AbortSignal): Promise<RawObjectInfo[]>;
  /**
   * Streams an object's stored bytes. Rejects (or the stream fails) with
   * RawObjectNotFoundError when it does not exist. Chunks belong to the caller.
   */
  openRawObject(key: string, opts?: RawObjectOpenOptions): Promise<AsyncIterable<Uint8Array>>;
}

const NS_PER_MS = 1_000_000n;

/**
 * A modification time in nanoseconds as a Date, rounded up to the
 * millisecond: then "modifiedAt ≤ T" for a millisecond T gives the same
 * answer as Litestream v0.3's comparison of the nanosecond time with T (it
 * restores the objects created at or before the target).
 */
export function modifiedAtFromNs(mtimeNs: bigint): Date {
  return new Date(Number((mtimeNs + NS_PER_MS - 1n) / NS_PER_MS));
}

/** True when the client offers raw object reads. */
export function isRawObjectReader(client: object): client is RawObjectReader {
  const c = client as Partial<RawObjectReader>;
  return typeof c.listRawDirs === 'function' && typeof c.listRawObjects === 'function' && typeof c.openRawObject === 'function';
}

/** The object asked for is not on the replica. */
export class RawObjectNotFoundError extends StorageError {
  override name = 'RawObjectNotFoundError';
  /** Key relative to the replica path. */
  readonly key: string;
  /** The location looked at: a path, a bucket key, a URL. */
  readonly where: string;

  constructor(key: string, where: string, options?: { cause?: unknown }) {
    super(`object not found: ${key} (${where})`, options);
    this.key = key;
    this.where = where;
  }
}
