import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, isErrno } from '../io/durable-fs.js';
import { RestoreError, RestoreOutputExistsError, RestoreSidecarExistsError } from './errors.js';

/**
 * Journal files SQLite replays into a database when it opens it: a WAL's
 * frames carry no link to the database file they belong to, and a hot
 * rollback journal is played back over whatever file sits at the path. A
 * leftover of either beside a freshly restored database would corrupt it.
 * (`-shm` is only an index and is rebuilt, so it is not checked.)
 */
export const REPLAYED_SIDECARS = ['-wal', '-journal'];

/**
 * Every file SQLite keeps beside a database, in the order a forced restore
 * removes them: the journals it would replay first, the rebuildable index last.
 */
export const SIDECARS = ['-wal', '-journal', '-shm'];

/** True when anything (a file, a directory, even a dangling symlink) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  return (await outputOccupant(path)) !== 'none';
}

/** What is at the output path: nothing, an empty regular file, a directory, or anything else. */
export async function outputOccupant(path: string): Promise<'none' | 'empty-file' | 'directory' | 'other'> {
  try {
    const st = await lstat(path);
    if (st.isDirectory()) return 'directory';
    return st.isFile() && st.size === 0 ? 'empty-file' : 'other';
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'none';
    throw new RestoreError(`cannot check the output path ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Throws unless a restore may put a database at `outputPath`: nothing is
 * there, or an empty file, or (with `force`) anything but a directory. Without
 * `force` no journal SQLite would replay may sit beside it either.
 */
export async function checkOutputReplaceable(outputPath: string, force: boolean): Promise<void> {
  const occupant = await outputOccupant(outputPath);
  if (occupant === 'directory') throw new RestoreOutputExistsError(outputPath, { directory: true });
  if (force) return;
  if (occupant === 'other') throw new RestoreOutputExistsError(outputPath);
  await checkNoReplayedSidecars(outputPath);
}

/** Removes the files SQLite keeps beside the output path, durably; those that are not there are skipped. */
export async function removeSidecars(outputPath: string): Promise<void> {
  let removed = false;
  for (const suffix of SIDECARS) {
    try {
      await unlink(outputPath + suffix);
      removed = true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw new RestoreError(`cannot remove ${outputPath + suffix} before replacing the database: ${(err as Error).message}`, { cause: err });
    }
  }
  if (removed) await fsyncDir(dirname(outputPath));
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
