/**
 * Where the decoder reads from. Anything that can fill a buffer sequentially:
 * a file, a network stream, memory. Adapters for files and Node streams live in
 * src/io so this codec stays free of I/O.
 */
export interface ByteSource {
  /** Reads up to `length` bytes into buf[offset...]; resolves 0 only at end of data. */
  read(buf: Uint8Array, offset: number, length: number): Promise<number>;
}

/** A source over bytes already in memory. */
export class MemorySource implements ByteSource {
  private pos = 0;

  constructor(private readonly data: Uint8Array) {}

  read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    const n = Math.min(length, this.data.length - this.pos);
    if (n > 0) buf.set(this.data.subarray(this.pos, this.pos + n), offset);
    this.pos += n;
    return Promise.resolve(n);
  }
}

/** A source over chunks from an async iterable, such as a Node Readable stream. */
export class IterableSource implements ByteSource {
  private readonly it: AsyncIterator<Uint8Array | string>;
  private chunk: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private done = false;

  constructor(iterable: AsyncIterable<Uint8Array | string>) {
    this.it = iterable[Symbol.asyncIterator]();
  }

  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    while (this.pos >= this.chunk.length) {
      if (this.done) return 0;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return 0;
      }
      const v = r.value;
      this.chunk = typeof v === 'string' ? new TextEncoder().encode(v) : v;
      this.pos = 0;
    }
    const n = Math.min(length, this.chunk.length - this.pos);
    buf.set(this.chunk.subarray(this.pos, this.pos + n), offset);
    this.pos += n;
    return n;
  }
}

/** Default read-ahead: large enough that per-read overhead vanishes, small enough to stay bounded. */
export const DEFAULT_READ_BUFFER = 256 * 1024;

/**
 * Buffers a ByteSource so the decoder can look at whole structures (a page
 * header, an LZ4 block) without an await per byte. The buffer grows only to the
 * largest single structure requested, which the decoder bounds.
 */
export class BufferedReader {
  buf: Uint8Array;
  /** Start of unconsumed bytes in buf. */
  pos = 0;
  /** End of valid bytes in buf. */
  end = 0;
  /** Bytes consumed before buf[0]: the absolute offset of buf[0] in the source. */
  private base = 0;
  private eof = false;

  constructor(
    private readonly source: ByteSource,
    bufferSize = DEFAULT_READ_BUFFER,
  ) {
    this.buf = new Uint8Array(bufferSize);
  }

  /** Absolute offset of the next unconsumed byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  get available(): number {
    return this.end - this.pos;
  }

  /**
   * Makes at least n bytes available at buf[pos]. Resolves false if the source
   * ends first (what is there stays available).
   */
  async fill(n: number): Promise<boolean> {
    if (this.end - this.pos >= n) return true;
    if (this.pos + n > this.buf.length) {
      const have = this.end - this.pos;
      const target = this.buf.length >= n ? this.buf : new Uint8Array(Math.max(n, this.buf.length * 2));
      if (target === this.buf) this.buf.copyWithin(0, this.pos, this.end);
      else target.set(this.buf.subarray(this.pos, this.end), 0);
      this.buf = target;
      this.base += this.pos;
      this.pos = 0;
      this.end = have;
    }
    while (this.end - this.pos < n && !this.eof) {
      const got = await this.source.read(this.buf, this.end, this.buf.length - this.end);
      if (got === 0) this.eof = true;
      else this.end += got;
    }
    return this.end - this.pos >= n;
  }

  /** True when every byte of the source has been consumed. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  consume(n: number): void {
    this.pos += n;
  }
}
