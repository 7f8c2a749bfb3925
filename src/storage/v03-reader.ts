import { isRawObjectReader, RawObjectNotFoundError, type RawObjectReader } from './raw-object-reader.js';
import {
  parseV03SnapshotName,
  parseV03WalSegmentName,
  sortV03Snapshots,
  sortV03WalSegments,
  V03_GENERATION_RE,
  V03_GENERATIONS_DIR,
  V03ObjectNotFoundError,
  v03SnapshotKey,
  v03SnapshotsPrefix,
  v03WalPrefix,
  v03WalSegmentKey,
  type V03OpenOptions,
  type V03ReplicaClient,
  type V03SnapshotInfo,
  type V03WalSegmentInfo,
} from './v03-replica-client.js';

/** Something v0.3 backups can be read from: a reader already, or a backend's raw object reads. */
export type V03Source = V03ReplicaClient | RawObjectReader;

/**
 * The Litestream v0.3 layout (generations, snapshots, WAL segments) read
 * over a backend's raw object reads: the one place that knows it, for every
 * backend. Listings skip names that are not v0.3 objects (and, for WAL
 * segments, the subdirectories the unreleased v0.4 layout kept per index).
 */
export class V03Reader implements V03ReplicaClient {
  readonly #raw: RawObjectReader;

  constructor(raw: RawObjectReader) {
    this.#raw = raw;
  }

  async v03Generations(signal?: AbortSignal): Promise<string[]> {
    const dirs = await this.#raw.listRawDirs(V03_GENERATIONS_DIR, signal);
    return dirs.filter((name) => V03_GENERATION_RE.test(name)).sort();
  }

  async v03Snapshots(generation: string, signal?: AbortSignal): Promise<V03SnapshotInfo[]> {
    const found: V03SnapshotInfo[] = [];
    for (const o of await this.#raw.listRawObjects(v03SnapshotsPrefix(generation), signal)) {
      const index = parseV03SnapshotName(o.name);
      // v0.3 keeps no timestamp of its own: the modification time is when the object was written, as v0.3 itself took it.
      if (index !== null) found.push({ generation, index, size: o.size, createdAt: o.modifiedAt });
    }
    return sortV03Snapshots(found);
  }

  async v03WalSegments(generation: string, signal?: AbortSignal): Promise<V03WalSegmentInfo[]> {
    const found: V03WalSegmentInfo[] = [];
    for (const o of await this.#raw.listRawObjects(v03WalPrefix(generation), signal)) {
      const pos = parseV03WalSegmentName(o.name);
      if (pos !== null) found.push({ generation, ...pos, size: o.size, createdAt: o.modifiedAt });
    }
    return sortV03WalSegments(found);
  }

  async openV03Snapshot(generation: string, index: number, opts: V03OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    return this.#open(v03SnapshotKey(generation, index), opts.signal);
  }

  async openV03WalSegment(generation: string, index: number, offset: number, opts: V03OpenOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    return this.#open(v03WalSegmentKey(generation, index, offset), opts.signal);
  }

  async #open(key: string, signal: AbortSignal | undefined): Promise<AsyncIterable<Uint8Array>> {
    try {
      return notFoundAsV03(await this.#raw.openRawObject(key, signal === undefined ? {} : { signal }));
    } catch (err) {
      throw asV03NotFound(err);
    }
  }
}

/** True when v0.3 backups can be read from the client (its backend offers raw object reads). */
export function canReadV03(client: object): client is RawObjectReader {
  return isRawObjectReader(client);
}

/** A V03ReplicaClient for the source: itself when it is one, else a V03Reader over its raw reads. */
export function toV03Reader(source: V03Source): V03ReplicaClient {
  return isRawObjectReader(source) ? new V03Reader(source) : source;
}

function asV03NotFound(err: unknown): unknown {
  return err instanceof RawObjectNotFoundError ? new V03ObjectNotFoundError(err.key, err.where, { cause: err.cause }) : err;
}

/** A backend that finds an object gone only once it reads it fails the stream; it fails as v0.3's not-found too. */
async function* notFoundAsV03(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* stream;
  } catch (err) {
    throw asV03NotFound(err);
  }
}
