import type { LtxFileInfo, ListOptions, OpenOptions, ReplicaClient } from '../storage/replica-client.js';

/** Litestream's names for replica operations, as its metrics label them. */
export type ReplicaOperation = 'GET' | 'PUT' | 'DELETE' | 'LIST';

/** Where a MeteredReplicaClient reports each operation. */
export interface ReplicaOperationSink {
  operation(type: string, op: ReplicaOperation, bytes: number, seconds: number, error: unknown): void;
}

/**
 * A replica client that reports every operation it passes on: LIST for a
 * listing, GET for a read (its bytes counted as they are consumed), PUT for
 * an upload, DELETE for deletions. It changes nothing else.
 */
export class MeteredReplicaClient implements ReplicaClient {
  constructor(
    private readonly inner: ReplicaClient,
    private readonly sink: ReplicaOperationSink,
  ) {}

  get type(): string {
    return this.inner.type;
  }

  init(signal?: AbortSignal): Promise<void> {
    return this.inner.init(signal);
  }

  async *ltxFiles(level: number, seek?: bigint, opts?: ListOptions): AsyncIterable<LtxFileInfo> {
    const started = performance.now();
    let failure: unknown;
    try {
      yield* this.inner.ltxFiles(level, seek, opts);
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      this.#report('LIST', 0, started, failure);
    }
  }

  async openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts?: OpenOptions): Promise<AsyncIterable<Uint8Array>> {
    const started = performance.now();
    let stream: AsyncIterable<Uint8Array>;
    try {
      stream = await this.inner.openLtxFile(level, minTxid, maxTxid, opts);
    } catch (err) {
      this.#report('GET', 0, started, err);
      throw err;
    }
    return this.#countRead(stream, started);
  }

  async *#countRead(stream: AsyncIterable<Uint8Array>, started: number): AsyncIterable<Uint8Array> {
    let bytes = 0;
    let failure: unknown;
    try {
      for await (const chunk of stream) {
        bytes += chunk.length;
        yield chunk;
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      this.#report('GET', bytes, started, failure);
    }
  }

  async writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo> {
    const started = performance.now();
    let bytes = 0;
    const counted = (async function* () {
      for await (const chunk of data) {
        bytes += chunk.length;
        yield chunk;
      }
    })();
    try {
      const info = await this.inner.writeLtxFile(level, minTxid, maxTxid, counted, signal);
      this.#report('PUT', bytes, started, undefined);
      return info;
    } catch (err) {
      this.#report('PUT', bytes, started, err);
      throw err;
    }
  }

  async deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    try {
      await this.inner.deleteLtxFiles(files, signal);
      this.#report('DELETE', 0, started, undefined);
    } catch (err) {
      this.#report('DELETE', 0, started, err);
      throw err;
    }
  }

  async deleteAll(signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    try {
      await this.inner.deleteAll(signal);
      this.#report('DELETE', 0, started, undefined);
    } catch (err) {
      this.#report('DELETE', 0, started, err);
      throw err;
    }
  }

  #report(op: ReplicaOperation, bytes: number, started: number, error: unknown): void {
    this.sink.operation(this.inner.type, op, bytes, (performance.now() - started) / 1000, error);
  }
}
