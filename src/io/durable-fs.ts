/**
 * Small promise wrappers over the callback `fs` API plus the durable-write
 * recipes the log depends on. The callback API is used on the append path
 * because it skips the FileHandle bookkeeping of `fs/promises`, which is
 * measurable at tens of thousands of syncs per second.
 */
import fs from 'node:fs';
import { dirname } from 'node:path';

export function openFd(path: string, flags: string | number, mode = 0o644): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.close(fd, (err) => (err ? reject(err) : resolve()));
  });
}

function writeOnce(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, offset, length, position, (err, written) => (err ? reject(err) : resolve(written)));
  });
}

/** Positional write of `buf[offset, offset+length)` at `position`, retrying short writes. */
export async function writeAll(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  while (length > 0) {
    const n = await writeOnce(fd, buf, offset, length, position);
    if (n <= 0) throw new Error(`write returned ${n}`);
    offset += n;
    length -= n;
    position += n;
  }
}

/** Synchronous positional write, retrying short writes. Only for small buffers: it blocks the event loop. */
export function writeAllSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  while (length > 0) {
    const n = fs.writeSync(fd, buf, offset, length, position);
    if (n <= 0) throw new Error(`write returned ${n}`);
    offset += n;
    length -= n;
    position += n;
  }
}

export function readInto(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** Reads exactly `length` bytes unless the file ends first; returns how many were read. */
export async function readFully(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  let total = 0;
  while (total < length) {
    const n = await readInto(fd, buf, offset + total, length - total, position + total);
    if (n === 0) break;
    total += n;
  }
  return total;
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

export function fsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.fsync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

export function ftruncate(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve()));
  });
}

export function fstatSize(fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size)));
  });
}

/**
 * Makes the directory entries of `dir` durable (a created, renamed or
 * unlinked name is not durable until its directory is synced).
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fsync(fd);
  } finally {
    await closeFd(fd);
  }
}

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the
 * new content, never a mix: write `<path>.tmp`, fsync it, rename it over
 * `path`, fsync the directory.
 */
export async function writeBytesAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const fd = await openFd(tmp, 'w');
  try {
    await writeAll(fd, data, 0, data.length, 0);
    await fsync(fd);
  } finally {
    await closeFd(fd);
  }
  await fs.promises.rename(tmp, path);
  await fsyncDir(dirname(path));
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

/** What an operator should know about a failed file system call, beyond the bare errno. */
const ERRNO_EXPLANATIONS: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full (ENOSPC)',
  EDQUOT: 'the disk quota is exhausted (EDQUOT)',
  EROFS: 'the file system is read-only (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  EIO: 'an I/O error from the device (EIO)',
};

/** A one-phrase explanation of a file system error, e.g. "the disk is full (ENOSPC)"; else its message. */
export function explainFsError(err: unknown): string {
  const code = fsErrorCode(err);
  if (code !== undefined) return ERRNO_EXPLANATIONS[code]!;
  return err instanceof Error ? err.message : String(err);
}

/** The error's message, followed by the plain explanation of an errno found in it or its causes. */
export function describeFsError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = fsErrorCode(err);
  return code === undefined ? message : `${message} (${ERRNO_EXPLANATIONS[code]!.replace(/ \(\w+\)$/, '')})`;
}

/** The first errno code with an explanation along the cause chain. */
function fsErrorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code in ERRNO_EXPLANATIONS) return code;
  }
  return undefined;
}
