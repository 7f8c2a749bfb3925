import { realpath } from 'node:fs/promises';
import { OwnerLock, type LockConflict } from '../io/owner-lock.js';
import { ReplicatorLockedError } from './errors.js';

/** The lock file in a database's meta directory. */
export const REPLICATOR_LOCK_FILE = 'lock';
/** In-process registry of databases being replicated, shared by every copy of this module. */
const REGISTRY_NAMESPACE = 'tidemark.replication.databases';

/**
 * One replicator per database. Two replicators on one database would both
 * publish TXIDs for it and interleave two histories in one replica; the
 * second one is refused, in the same process (a registry keyed by the
 * database's real path) and across processes (a lock file in the meta
 * directory holding the owner's pid, host and start time, taken over once
 * its owner is gone). See src/io/owner-lock.ts.
 */
export class ReplicatorLock {
  private constructor(private readonly lock: OwnerLock) {}

  /** Takes the lock for `dbPath`; `metaDir` must exist. Throws ReplicatorLockedError naming the holder. */
  static async acquire(dbPath: string, metaDir: string): Promise<ReplicatorLock> {
    const key = await realpath(dbPath);
    const lock = await OwnerLock.acquire({
      dir: metaDir,
      fileName: REPLICATOR_LOCK_FILE,
      key,
      namespace: REGISTRY_NAMESPACE,
      purpose: `tidemark replicate ${dbPath}`,
      resource: 'the database',
      lockedError: (c: LockConflict) =>
        new ReplicatorLockedError(
          c.reason === 'in-process'
            ? `${dbPath}: already replicated by this process; one replicator per database`
            : `${dbPath}: already replicated: lock ${c.lockPath} ${c.detail}; one replicator per database`,
        ),
    });
    return new ReplicatorLock(lock);
  }

  /** See OwnerLock.refresh: the lock file is written again if the meta directory was removed. */
  refresh(): Promise<'held' | 'restored' | 'lost'> {
    return this.lock.refresh();
  }

  get path(): string {
    return this.lock.path;
  }

  release(): Promise<void> {
    return this.lock.release();
  }
}
