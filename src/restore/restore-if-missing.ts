import { resolve } from 'node:path';
import { NoBackupsError } from './errors.js';
import { restore, type RestoreOptions, type RestoreResult, type RestoreSkipped } from './restore.js';

/** The same two shapes `restore()` answers with; `reason` says why nothing was restored. */
export type RestoreIfMissingResult = RestoreResult | RestoreSkipped;

/**
 * For application start-up: restores the database only when it is missing
 * and the replica has something to restore. Every other failure (a gap in the
 * replica, a corrupt file, a leftover `-wal` beside the path) is thrown, since
 * starting with an empty database then would hide data loss.
 */
export async function restoreIfMissing(opts: Omit<RestoreOptions, 'ifDbNotExists' | 'force'>): Promise<RestoreIfMissingResult> {
  try {
    return await restore({ ...opts, ifDbNotExists: true });
  } catch (err) {
    if (err instanceof NoBackupsError) return { restored: false, reason: 'no-backups', outputPath: resolve(opts.outputPath) };
    throw err;
  }
}
