import { StorageError } from '../errors.js';

/**
 * A problem with an encrypted replica that trying again cannot fix: keys
 * missing or wrong, or an object that is not what this replica writes.
 * Messages name the replica and never carry key material; `permanent` makes
 * the replicator and the CLI stop at once instead of retrying.
 */
export class AgeReplicaError extends StorageError {
  override name = 'AgeReplicaError';
  readonly permanent = true;
}

/** The age block is malformed: a recipient or identity that cannot be read. */
export class AgeKeyError extends AgeReplicaError {
  override name = 'AgeKeyError';
}

/** None of the configured identities opens the object, or the object is damaged. */
export class AgeDecryptError extends AgeReplicaError {
  override name = 'AgeDecryptError';
}
