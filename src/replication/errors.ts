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
