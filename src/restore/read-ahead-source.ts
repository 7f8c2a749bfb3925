import type { ByteSource } from '../ltx/byte-source.js';
import type { FetchLimiter, FetchTicket } from './fetch-limiter.js';

/**
 * A ByteSource that keeps reading its stream ahead of the consumer, up to
 * `maxBuffered` bytes (plus at most one chunk), so that many files can be
 * fetched in parallel while a merge reads each of them front to back. Every
 * request for the next chunk goes through the shared limiter; a source whose
 * consumer is already waiting is served first. Chunks are kept as the stream
 * hands them over, so the stream must not reuse them (Node streams and the
 * replica clients never do).
 */
export class ReadAheadSource implements ByteSource {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already read. */
  private head = 0;
  private buffered = 0;
  private ended = false;
  private failed = false;
  private failure: unknown;
  private closed = false;
  private ticket: FetchTicket | undefined;
  private wakeReader: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  /** Settles once the stream is finished with and closed. */
  readonly done: Promise<void>;

  constructor(
    stream: AsyncIterable<Uint8Array>,
    private readonly limiter: FetchLimiter,
    private readonly maxBuffered: number,
  ) {
    this.done = this.pump(stream[Symbol.asyncIterator]());
  }

  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    while (this.buffered === 0) {
      if (this.failed) throw this.failure;
      if (this.ended || this.closed) return 0;
      const waiting = new Promise<void>((resolve) => (this.wakeReader = resolve));
      if (this.ticket) this.limiter.expedite(this.ticket);
      await waiting;
    }
    let n = 0;
    while (n < length && this.buffered > 0) {
      const chunk = this.chunks[0]!;
      const take = Math.min(length - n, chunk.length - this.head);
      buf.set(chunk.subarray(this.head, this.head + take), offset + n);
      n += take;
      this.head += take;
      this.buffered -= take;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    if (this.buffered < this.maxBuffered) this.wake('pump');
    return n;
  }

  /** Stops reading ahead and closes the stream; what is buffered is dropped. */
  close(): Promise<void> {
    this.closed = true;
    this.chunks.length = 0;
    this.buffered = 0;
    if (this.ticket) this.limiter.withdraw(this.ticket);
    this.wake('pump');
    this.wake('reader');
    return this.done;
  }

  private wake(who: 'reader' | 'pump'): void {
    const f = who === 'reader' ? this.wakeReader : this.wakePump;
    if (who === 'reader') this.wakeReader = undefined;
    else this.wakePump = undefined;
    f?.();
  }

  private async pump(it: AsyncIterator<Uint8Array>): Promise<void> {
    let finished = false;
    try {
      for (;;) {
        while (!this.closed && this.buffered >= this.maxBuffered) {
          await new Promise<void>((resolve) => (this.wakePump = resolve));
        }
        if (this.closed) return;
        const ticket = this.limiter.acquire();
        this.ticket = ticket;
        if (this.wakeReader) this.limiter.expedite(ticket);
        const granted = await ticket.granted;
        this.ticket = undefined;
        if (!granted) return;
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } finally {
          this.limiter.release();
        }
        if (r.done === true) {
          finished = true;
          this.ended = true;
          return;
        }
        if (this.closed) return;
        if (r.value.length > 0) {
          this.chunks.push(r.value);
          this.buffered += r.value.length;
        }
        this.wake('reader');
      }
    } catch (err) {
      // A generator that threw is already closed.
      finished = true;
      this.failed = true;
      this.failure = err;
    } finally {
      this.wake('reader');
      if (!finished) await it.return?.().catch(() => undefined);
    }
  }
}
