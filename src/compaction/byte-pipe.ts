import type { ByteSink } from '../ltx/byte-sink.js';
import { CompactionError } from './errors.js';

/** Bytes a pipe holds before the producer has to wait for the consumer. */
export const DEFAULT_PIPE_HIGH_WATER_MARK = 1024 * 1024;

/** The consumer stopped reading (its upload failed or was abandoned); the producer's write rejects with this. */
export class PipeClosedError extends CompactionError {
  override name = 'PipeClosedError';
}

/**
 * Joins a producer that pushes (the LTX encoder writing to a ByteSink) to a
 * consumer that pulls (a replica upload reading an AsyncIterable). Holds at
 * most about `highWaterMark` bytes: a write waits while more than that is
 * queued. The stream ends only on `end()`; after `fail(err)` the consumer's
 * next read throws err, so an upload never completes with a file the
 * producer did not finish. Iterable once.
 */
export class BytePipe implements ByteSink, AsyncIterable<Uint8Array> {
  readonly #highWaterMark: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #failed: { err: unknown } | undefined;
  #closed: PipeClosedError | undefined;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;

  constructor(highWaterMark = DEFAULT_PIPE_HIGH_WATER_MARK) {
    this.#highWaterMark = highWaterMark;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#closed) throw this.#closed;
    if (this.#ended || this.#failed) throw new CompactionError('write to a pipe that was already ended');
    if (chunk.length === 0) return;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#signalReader();
    while (this.#queued > this.#highWaterMark && !this.#closed) {
      await new Promise<void>((resolve) => {
        this.#wakeWriter = resolve;
      });
    }
    if (this.#closed) throw this.#closed;
  }

  /** The producer finished: the consumer sees the end once it has read everything. */
  end(): void {
    this.#ended = true;
    this.#signalReader();
  }

  /** The producer failed: the consumer's next read throws err, whatever is still queued. */
  fail(err: unknown): void {
    this.#failed ??= { err };
    this.#queue = [];
    this.#queued = 0;
    this.#signalReader();
  }

  /** The consumer is gone: queued bytes are dropped and the producer's writes reject. */
  close(reason = 'the consumer stopped reading'): void {
    this.#closed ??= new PipeClosedError(reason);
    this.#queue = [];
    this.#queued = 0;
    this.#signalWriter();
    this.#signalReader();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async (): Promise<IteratorResult<Uint8Array>> => {
        for (;;) {
          if (this.#failed) throw this.#failed.err;
          if (this.#closed) return { done: true, value: undefined };
          const chunk = this.#queue.shift();
          if (chunk !== undefined) {
            this.#queued -= chunk.length;
            this.#signalWriter();
            return { done: false, value: chunk };
          }
          if (this.#ended) return { done: true, value: undefined };
          await new Promise<void>((resolve) => {
            this.#wakeReader = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<Uint8Array>> => {
        if (!this.#ended || this.#queue.length > 0) this.close();
        return { done: true, value: undefined };
      },
    };
  }

  #signalReader(): void {
    const w = this.#wakeReader;
    this.#wakeReader = undefined;
    w?.();
  }

  #signalWriter(): void {
    const w = this.#wakeWriter;
    this.#wakeWriter = undefined;
    w?.();
  }
}
