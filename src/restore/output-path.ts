import { lstat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, isErrno } from '../io/durable-fs.js';
import { RestoreError, RestoreSidecarExistsError } from './errors.js';

/**
 * Journal files SQLite replays into a database when it opens it: a WAL's
 * frames carry no link to the database file they belong to, and a hot
 * rollback journal is played back over whatever file sits at the path. A
 * leftover of either beside a freshly restored database would corrupt it.
 * (`-shm` is only an index and is rebuilt, so it is not checked.)
 */
export const REPLAYED_SIDECARS = ['-wal', '-journal'];

/** True when anything (a file, a directory, even a dangling symlink) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw new RestoreError(`cannot check the output path ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Throws RestoreSidecarExistsError if a journal SQLite would replay sits beside the output path. */
export async function checkNoReplayedSidecars(outputPath: string): Promise<void> {
  for (const suffix of REPLAYED_SIDECARS) {
    if (await pathExists(outputPath + suffix)) throw new RestoreSidecarExistsError(outputPath, outputPath + suffix);
  }
}

/** mkdir -p for the output's directory, making every directory it created durable in its parent. */
export async function ensureOutputDir(outputPath: string): Promise<void> {
  const dir = dirname(outputPath);
  const created = await mkdir(dir, { recursive: true });
  if (created === undefined) return;
  const top = dirname(created);
  for (let d = dir; ; d = dirname(d)) {
    const parent = dirname(d);
    await fsyncDir(parent);
    if (parent === top || parent === d) break;
  }
}
