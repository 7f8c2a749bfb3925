import { TidemarkError } from '../errors.js';

/** Base of the errors raised while replicating a database; the message names the database or file concerned. */
export class ReplicationError extends TidemarkError {
  override name = 'ReplicationError';
}

/** The database cannot be replicated as it is: missing, not SQLite, or stuck in rollback-journal mode. */
export class DatabaseSetupError extends ReplicationError {
  override name = 'DatabaseSetupError';
}

/** The local L0 state (`<meta>/ltx/0`) is missing or unreadable where it was expected. */
export class LocalStateError extends ReplicationError {
  override name = 'LocalStateError';
}

/** Writing the local L0 state failed (a full disk, a read-only file system); the sync is retried. */
export class LocalWriteError extends ReplicationError {
  override name = 'LocalWriteError';
}

/** A file could not be stored on the replica; the upload is retried with backoff. */
export class ReplicaWriteError extends ReplicationError {
  override name = 'ReplicaWriteError';
}

/** The database has nothing replicated yet for the operation asked (a snapshot before the first sync). */
export class DatabaseNotReadyError extends ReplicationError {
  override name = 'DatabaseNotReadyError';
}

/** A call on a replicator after `close()`. */
export class ReplicatorClosedError extends ReplicationError {
  override name = 'ReplicatorClosedError';
}

/** A wait for replication ran out of time before the replica held the TXID. */
export class ReplicationTimeoutError extends ReplicationError {
  override name = 'ReplicationTimeoutError';
}

/** The WAL changed under a read in a way that only a later sync can sort out (a WAL restart mid-read). */
export class WalChangedError extends ReplicationError {
  override name = 'WalChangedError';
}

/**
 * An L0 file failed a check against what the replicator knows before it was
 * published (a TXID out of sequence, pages missing from a file that grows the
 * database). It is never written; the replicator writes the pages that
 * changed from the database itself instead.
 */
export class PublishGuardError extends ReplicationError {
  override name = 'PublishGuardError';
}

/** Another replicator already replicates the database (this process or another one, named in the message). */
export class ReplicatorLockedError extends ReplicationError {
  override name = 'ReplicatorLockedError';
  /** Retrying does not help while the other replicator runs. */
  readonly permanent = true;
}

/**
 * The replica holds files this replicator did not write (another replicator,
 * perhaps on another host, writes to the same place). Uploads stop rather than
 * interleave two histories.
 */
export class ReplicaConflictError extends ReplicationError {
  override name = 'ReplicaConflictError';
  /** Only an operator can say which history the replica should keep. */
  readonly permanent = true;
}
