import { resolve } from 'node:path';
import { NoBackupsError } from './errors.js';
import { restore, type RestoreOptions, type RestoreResult } from './restore.js';

export type RestoreIfMissingResult =
  | ({ restored: true } & Omit<RestoreResult, 'skipped'>)
  | {
      restored: false;
      /** `output-exists`: the database is already there. `no-backups`: the replica is empty (a first start). */
      reason: 'output-exists' | 'no-backups';
      outputPath: string;
    };

/**
 * For application start-up: restores the database only when it is missing
 * and the replica has something to restore. Every other failure (a gap in the
 * replica, a corrupt file, a leftover `-wal` beside the path) is thrown, since
 * starting with an empty database then would hide data loss.
 */
export async function restoreIfMissing(opts: Omit<RestoreOptions, 'ifDbNotExists'>): Promise<RestoreIfMissingResult> {
  try {
    const r = await restore({ ...opts, ifDbNotExists: true });
    if (r.skipped) return { restored: false, reason: 'output-exists', outputPath: r.outputPath };
    const { skipped: _skipped, ...rest } = r;
    return { restored: true, ...rest };
  } catch (err) {
    if (err instanceof NoBackupsError) return { restored: false, reason: 'no-backups', outputPath: resolve(opts.outputPath) };
    throw err;
  }
}
