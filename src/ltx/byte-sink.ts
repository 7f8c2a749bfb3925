/**
 * Where the encoder writes to. `write` may return a promise to apply
 * backpressure; the encoder waits for it before producing more, so memory stays
 * bounded by its own buffer. The chunk passed to `write` is not reused by the
 * encoder afterwards, so a sink may keep it.
 */
export interface ByteSink {
  write(chunk: Uint8Array): void | Promise<void>;
}

/** Collects everything written, for tests and small in-memory files. */
export class MemorySink implements ByteSink {
  private readonly chunks: Uint8Array[] = [];
  length = 0;

  write(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
