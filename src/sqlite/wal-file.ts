import { open, type FileHandle } from 'node:fs/promises';

/** A WAL given either as an open handle (left open) or as a path (opened read-only and closed again). */
export type WalSource = FileHandle | string;

/**
 * Reads up to `length` bytes at `position`, retrying short reads, and returns
 * how many arrived: fewer only at end of file.
 */
export async function readAt(fh: FileHandle, buf: Uint8Array, at: number, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, at + got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** Runs `fn` with a handle on the WAL, closing it afterwards only if it was opened here. */
export async function withWalHandle<T>(source: WalSource, fn: (fh: FileHandle, file: string | undefined) => Promise<T>): Promise<T> {
  if (typeof source !== 'string') return fn(source, undefined);
  const fh = await open(source, 'r');
  try {
    return await fn(fh, source);
  } finally {
    await fh.close();
  }
}
