import { TidemarkError } from '../errors.js';
import { formatFilename } from '../ltx/file-name.js';

/** Root of every error a replica backend raises on purpose; `cause` carries the backend's own error. */
export class StorageError extends TidemarkError {
  override name = 'StorageError';
}

/** `err` as it is if it is a StorageError already, else wrapped in one that says what was being done. */
export function asStorageError(err: unknown, doing: string): StorageError {
  if (err instanceof StorageError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new StorageError(`${doing}: ${detail}`, { cause: err });
}

/** The LTX file asked for is not on the replica. */
export class ReplicaFileNotFoundError extends StorageError {
  override name = 'ReplicaFileNotFoundError';
  readonly level: number;
  readonly minTxid: bigint;
  readonly maxTxid: bigint;

  /** `where` names the replica location looked at: a path, a key, a URL. */
  constructor(level: number, minTxid: bigint, maxTxid: bigint, where: string, options?: { cause?: unknown }) {
    super(`LTX file not found: level ${level}, ${formatFilename(minTxid, maxTxid)} (${where})`, options);
    this.level = level;
    this.minTxid = minTxid;
    this.maxTxid = maxTxid;
  }
}

/** A replica URL or path that cannot be used: malformed, unknown scheme, or a backend that does not exist yet. */
export class ReplicaUrlError extends StorageError {
  override name = 'ReplicaUrlError';
  /** The URL as given, with any password replaced by `***`. */
  readonly url: string;

  constructor(url: string, reason: string, options?: { cause?: unknown }) {
    const shown = redactUrl(url);
    super(`replica URL ${JSON.stringify(shown)}: ${reason}`, options);
    this.url = shown;
  }
}

/** Hides the password of a `scheme://user:password@host` URL so it can go into messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^(\w+:\/\/[^/?#@:]*:)[^/?#@]*@/, '$1***@');
}
