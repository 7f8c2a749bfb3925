import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from './replica-client.js';
import { isRawObjectReader, type RawObjectInfo, type RawObjectOpenOptions, type RawObjectReader } from './raw-object-reader.js';

/**
 * A replica client whose backend module is loaded on first use. The S3
 * backend pulls in the AWS SDK, a fifth of a second and some 30 MB at start-up;
 * a command that never touches S3 (a restore from a directory, `version`)
 * should not pay for it, and one that does pays once, in `init()`.
 */
export class LazyReplicaClient implements ReplicaClient {
  #client: Promise<ReplicaClient & Partial<RawObjectReader>> | undefined;

  constructor(
    readonly type: string,
    /** How the replica is named in messages, known before the backend loads. */
    readonly name: string,
    private readonly load: () => Promise<ReplicaClient & Partial<RawObjectReader>>,
  ) {}

  #get(): Promise<ReplicaClient & Partial<RawObjectReader>> {
    this.#client ??= this.load();
    return this.#client;
  }

  /** The loaded backend, for subclasses that expose more of it. */
  protected loaded(): Promise<ReplicaClient & Partial<RawObjectReader>> {
    return this.#get();
  }

  async init(signal?: AbortSignal): Promise<void> {
    await (await this.#get()).init(signal);
  }

  async *ltxFiles(level: number, seek?: bigint, opts?: ListOptions): AsyncGenerator<LtxFileInfo> {
    yield* (await this.#get()).ltxFiles(level, seek, opts);
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts?: OpenOptions): Promise<AsyncIterable<Uint8Array>> {
    return (await this.#get()).openLtxFile(level, minTxid, maxTxid, opts);
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    return (await this.#get()).writeLtxFile(level, minTxid, maxTxid, data, signal);
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    await (await this.#get()).deleteLtxFiles(files, signal);
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    await (await this.#get()).deleteAll(signal);
  }
}

/**
 * A lazily loaded backend that also offers raw object reads (what
 * Litestream v0.3 backups are read over). Kept apart from LazyReplicaClient
 * because restore and `ltx` look for those methods to decide whether to
 * consider v0.3 backups at all, so a backend without them must not seem to
 * have them.
 */
export class LazyRawObjectReplicaClient extends LazyReplicaClient implements RawObjectReader {
  async #raw(): Promise<RawObjectReader> {
    const c = await this.loaded();
    if (!isRawObjectReader(c)) throw new TypeError(`${this.type} replica client cannot read objects outside the LTX layout`);
    return c;
  }

  async listRawDirs(dir: string, signal?: AbortSignal): Promise<string[]> {
    return (await this.#raw()).listRawDirs(dir, signal);
  }

  async listRawObjects(dir: string, signal?: AbortSignal): Promise<RawObjectInfo[]> {
    return (await this.#raw()).listRawObjects(dir, signal);
  }

  async openRawObject(key: string, opts?: RawObjectOpenOptions): Promise<AsyncIterable<Uint8Array>> {
    return (await this.#raw()).openRawObject(key, opts);
  }
}
