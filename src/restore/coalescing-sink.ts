import type { ByteSink } from '../ltx/byte-sink.js';

/**
 * Gathers small writes (one database page each) into larger ones, so that a
 * restore makes one write call per `size` bytes rather than one per page.
 * `flush` must be awaited after the last write.
 */
export class CoalescingSink implements ByteSink {
  private buf: Uint8Array;
  private used = 0;

  constructor(
    private readonly inner: ByteSink,
    private readonly size: number,
  ) {
    this.buf = new Uint8Array(size);
  }

  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.used === 0 && chunk.length - at >= this.size) {
        // Already large: pass it through without copying.
        await this.inner.write(at === 0 ? chunk : chunk.subarray(at));
        return;
      }
      const n = Math.min(chunk.length - at, this.size - this.used);
      this.buf.set(chunk.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
      if (this.used === this.size) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const full = this.buf.subarray(0, this.used);
    // A fresh buffer each time: a sink may keep the chunk it was given.
    this.buf = new Uint8Array(this.size);
    this.used = 0;
    await this.inner.write(full);
  }
}
