import { open, type FileHandle } from 'node:fs/promises';
import type { ByteSource } from '../ltx/byte-source.js';
import type { RandomAccessFile } from '../ltx/random-access.js';

/** Reads a file sequentially through an open handle. Closing is the caller's job. */
export class FileSource implements ByteSource {
  private position = 0;

  constructor(private readonly fh: FileHandle) {}

  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    const { bytesRead } = await this.fh.read(buf, offset, length, this.position);
    this.position += bytesRead;
    return bytesRead;
  }
}

/** Opens a file for sequential reading and runs fn with it, closing it afterwards. */
export async function withFileSource<T>(path: string, fn: (src: FileSource) => Promise<T>): Promise<T> {
  const fh = await open(path, 'r');
  try {
    return await fn(new FileSource(fh));
  } finally {
    await fh.close();
  }
}

/** A local file read by offset, for page-index lookups and single-page fetches. */
export class LocalRandomAccessFile implements RandomAccessFile {
  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<LocalRandomAccessFile> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      return new LocalRandomAccessFile(fh, st.size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async readAt(offset: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) throw new RangeError(`read past end of file at offset ${offset + got}`);
      got += bytesRead;
    }
    return buf;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
