/**
 * One writer per log directory: an OwnerLock (see ../io/owner-lock.ts for how
 * it is created, checked and taken over) on `<dir>/wal/LOCK`.
 *
 * The registry key is the directory's realpath, so the same log reached
 * through a symlink is still refused inside one process.
 */
import { realpath } from 'node:fs/promises';
import { OwnerLock } from '../io/owner-lock.js';
import { EventLogLockedError } from './errors.js';

export const LOCK_FILE = 'LOCK';
/**
 * Name of the in-process registry. It predates OwnerLock and must not change:
 * another copy of tidemark loaded in the same process (an older version, say)
 * shares the registry through it.
 */
const REGISTRY_NAMESPACE = 'tidemark.eventlog.openDirectories';
/** What the lock protects, in the words of its error messages. */
const RESOURCE = 'the log';

export class DirectoryLock {
  private constructor(private readonly lock: OwnerLock) {}

  /** Takes the lock on `walDir` (which must exist) or throws EventLogLockedError. */
  static async acquire(walDir: string): Promise<DirectoryLock> {
    const key = await realpath(walDir);
    const lock = await OwnerLock.acquire({
      dir: walDir,
      fileName: LOCK_FILE,
      key,
      namespace: REGISTRY_NAMESPACE,
      resource: RESOURCE,
      lockedError: (conflict) => new EventLogLockedError(conflict.lockPath, conflict.holderPid, conflict.detail),
    });
    return new DirectoryLock(lock);
  }

  /** Removes the lock file if it is still ours and forgets the directory. Idempotent. */
  release(): Promise<void> {
    return this.lock.release();
  }
}
