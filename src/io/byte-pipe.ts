import type { ByteSink } from '../ltx/byte-sink.js';
import { TidemarkError } from '../errors.js';

/** Bytes a producer may run ahead of its consumer before `write` waits. */
export const DEFAULT_PIPE_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Connects a producer that writes (an LTX encoder) to a consumer that reads
 * (a replica upload) without holding the whole file: `write` waits while more
 * than `highWaterBytes` are queued. If the consumer stops early, pending and
 * later writes reject, so the producer stops too; `fail` ends the consumer's
 * iteration with the producer's error.
 */
export class BytePipe implements ByteSink, AsyncIterable<Uint8Array> {
  readonly #highWater: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: unknown;
  #closedByReader = false;
  #readerWake: (() => void) | undefined;
  #writerWake: (() => void) | undefined;

  constructor(highWaterBytes = DEFAULT_PIPE_HIGH_WATER_BYTES) {
    this.#highWater = highWaterBytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#closedByReader) throw new PipeClosedError('the reading side of the pipe stopped');
    if (this.#ended) throw new PipeClosedError('write after end');
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#wakeReader();
    while (this.#queued > this.#highWater && !this.#closedByReader) {
      await new Promise<void>((resolve) => (this.#writerWake = resolve));
    }
    if (this.#closedByReader) throw new PipeClosedError('the reading side of the pipe stopped');
  }

  /** No more bytes: the consumer's iteration finishes after the queued ones. */
  end(): void {
    this.#ended = true;
    this.#wakeReader();
  }

  /** The producer failed: the consumer's iteration throws `err` once it has taken what is queued. */
  fail(err: unknown): void {
    this.#error = err ?? new PipeClosedError('producer failed');
    this.#ended = true;
    this.#wakeReader();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const chunk = this.#queue.shift();
        if (chunk !== undefined) {
          this.#queued -= chunk.length;
          this.#wakeWriter();
          yield chunk;
          continue;
        }
        if (this.#ended) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => (this.#readerWake = resolve));
      }
    } finally {
      if (!this.#ended || this.#queue.length > 0) this.#closedByReader = true;
      this.#queue = [];
      this.#queued = 0;
      this.#wakeWriter();
    }
  }

  #wakeReader(): void {
    const w = this.#readerWake;
    this.#readerWake = undefined;
    w?.();
  }

  #wakeWriter(): void {
    const w = this.#writerWake;
    this.#writerWake = undefined;
    w?.();
  }
}

export class PipeClosedError extends TidemarkError {
  override name = 'PipeClosedError';
}
