import type { ListOptions, LtxFileInfo, OpenOptions, ReplicaClient } from './replica-client.js';
import type { V03OpenOptions, V03ReplicaClient, V03SnapshotInfo, V03WalSegmentInfo } from './v03-replica-client.js';

/**
 * A replica client whose backend module is loaded on first use. The S3
 * backend pulls in the AWS SDK, a fifth of a second and some 30 MB at start-up;
 * a command that never touches S3 (a restore from a directory, `version`)
 * should not pay for it, and one that does pays once, in `init()`.
 */
export class LazyReplicaClient implements ReplicaClient {
  #client: Promise<ReplicaClient & Partial<V03ReplicaClient>> | undefined;

  constructor(
    readonly type: string,
    /** How the replica is named in messages, known before the backend loads. */
    readonly name: string,
    private readonly load: () => Promise<ReplicaClient & Partial<V03ReplicaClient>>,
  ) {}

  #get(): Promise<ReplicaClient & Partial<V03ReplicaClient>> {
    this.#client ??= this.load();
    return this.#client;
  }

  /** The loaded backend, for subclasses that expose more of it. */
  protected loaded(): Promise<ReplicaClient & Partial<V03ReplicaClient>> {
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
 * A lazily loaded backend that can also read Litestream v0.3 backups. Kept
 * apart from LazyReplicaClient because restore and `ltx` look for the v0.3
 * methods to decide whether to consider v0.3 backups at all, so a backend
 * without them must not seem to have them.
 */
export class LazyV03ReplicaClient extends LazyReplicaClient implements V03ReplicaClient {
  async #v03(): Promise<V03ReplicaClient> {
    const c = await this.loaded();
    if (typeof c.v03Generations !== 'function') throw new TypeError(`${this.type} replica client cannot read Litestream v0.3 backups`);
    return c as unknown as V03ReplicaClient;
  }

  async v03Generations(signal?: AbortSignal): Promise<string[]> {
    return (await this.#v03()).v03Generations(signal);
  }

  async v03Snapshots(generation: string, signal?: AbortSignal): Promise<V03SnapshotInfo[]> {
    return (await this.#v03()).v03Snapshots(generation, signal);
  }

  async v03WalSegments(generation: string, signal?: AbortSignal): Promise<V03WalSegmentInfo[]> {
    return (await this.#v03()).v03WalSegments(generation, signal);
  }

  async openV03Snapshot(generation: string, index: number, opts?: V03OpenOptions): Promise<AsyncIterable<Uint8Array>> {
    return (await this.#v03()).openV03Snapshot(generation, index, opts);
  }

  async openV03WalSegment(generation: string, index: number, offset: number, opts?: V03OpenOptions): Promise<AsyncIterable<Uint8Array>> {
    return (await this.#v03()).openV03WalSegment(generation, index, offset, opts);
  }
}
