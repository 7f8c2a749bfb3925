/**
 * Fetches WAL segments ahead of the one being applied. v0.3 uploads one
 * segment per sync, so a replica easily holds thousands of small objects, and
 * from an object store one request at a time would take most of a restore.
 * Segments up to a share of the byte budget are read into memory, at most
 * `parallelism` at once and never more than the budget in total (sizes come
 * from the listing); larger ones are streamed when their turn comes.
 */
import type { V03ReplicaClient, V03WalSegmentInfo } from '../../storage/v03-replica-client.js';
import { toV03Reader, type V03Source } from '../../storage/v03-reader.js';

/** Compressed bytes held in memory by the segments fetched ahead. */
export const V03_PREFETCH_BYTES = 32 * 1024 * 1024;

interface Pending {
  size: number;
  chunks: Promise<Uint8Array[]>;
}

export class SegmentPrefetcher {
  private readonly controller = new AbortController();
  private readonly pending = new Map<number, Pending>();
  /** Index (into `segments`) of the next segment not yet considered for fetching ahead. */
  private ahead = 0;
  private heldBytes = 0;
  private readonly maxPrefetchSize: number;
  private readonly onAbort: () => void;
  private readonly client: V03ReplicaClient;

  constructor(
    source: V03Source,
    private readonly generation: string,
    /** Every segment the restore will read, in the order it reads them. */
    private readonly segments: readonly V03WalSegmentInfo[],
    private readonly parallelism: number,
    private readonly budget: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.client = toV03Reader(source);
    this.maxPrefetchSize = Math.floor(budget / Math.max(1, parallelism));
    this.onAbort = () => this.controller.abort(signal?.reason);
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The stored bytes of segments[i]; segments must be opened in order. */
  async open(i: number): Promise<AsyncIterable<Uint8Array>> {
    this.controller.signal.throwIfAborted();
    const s = this.segments[i]!;
    this.ahead = Math.max(this.ahead, i + 1);
    const p = this.pending.get(i);
    if (p !== undefined) {
      this.pending.delete(i);
      try {
        const chunks = await p.chunks;
        return fromChunks(chunks);
      } finally {
        this.heldBytes -= p.size;
        this.fill();
      }
    }
    this.fill();
    return this.client.openV03WalSegment(this.generation, s.index, s.offset, { signal: this.controller.signal });
  }

  /** Starts fetches for the next small segments while the count and byte limits allow. */
  private fill(): void {
    while (this.ahead < this.segments.length && this.pending.size < this.parallelism - 1) {
      const s = this.segments[this.ahead]!;
      if (s.size > this.maxPrefetchSize) break;
      if (this.heldBytes + s.size > this.budget) break;
      const signal = this.controller.signal;
      const chunks = (async () => {
        const parts: Uint8Array[] = [];
        for await (const c of await this.client.openV03WalSegment(this.generation, s.index, s.offset, { signal })) parts.push(c);
        return parts;
      })();
      // Failures surface when the segment is opened; until then they must not count as unhandled.
      chunks.catch(() => undefined);
      this.pending.set(this.ahead, { size: s.size, chunks });
      this.heldBytes += s.size;
      this.ahead++;
    }
  }

  /** Cancels whatever is still being fetched and waits for it to stop. */
  async close(): Promise<void> {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.controller.abort(new Error('restore finished'));
    await Promise.allSettled([...this.pending.values()].map((p) => p.chunks));
    this.pending.clear();
  }
}

async function* fromChunks(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}
