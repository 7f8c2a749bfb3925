import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigNotFoundError } from '../config/errors.js';
import { replicaNameOf } from '../config/types.js';
import { TidemarkError, UsageError } from '../errors.js';
import { isErrno } from '../io/durable-fs.js';
import { isUrl, parseReplicaUrl, type ReplicaClientOptions } from '../storage/replica-url.js';
import { configuredDatabase, DatabaseNotInConfigError, type ConfigFlags } from './cli-config.js';

export interface ReplicaArgument {
  name: string;
  url: string;
  options: ReplicaClientOptions;
}

export interface ReplicaSource {
  /** One replica, or a configured database's replicas (the primary first). */
  replicas: ReplicaArgument[];
  /** The database path when the argument named a configured database. */
  dbPath: string | undefined;
}

/** A directory replica whose directory is not there: nothing was ever replicated to it, or the path is wrong. */
export class ReplicaDirectoryMissingError extends TidemarkError {
  override name = 'ReplicaDirectoryMissingError';
  readonly path: string;

  constructor(path: string, options?: { cause?: unknown }) {
    super(`replica directory does not exist: ${path}`, options);
    this.path = path;
  }
}

/** A directory given where a file (a database) belongs. */
export class IsADirectoryError extends TidemarkError {
  override name = 'IsADirectoryError';
}

/**
 * What a `DB_PATH|REPLICA_URL` argument names, the same for every command: a
 * URL (`file://` included) is a replica; a path is a database of the
 * configuration file when there is one that names it, and otherwise a
 * replica directory. With -config given, a path must be a configured
 * database.
 */
export async function resolveReplicaArgument(target: string, flags: ConfigFlags & { replica?: string }): Promise<ReplicaSource> {
  const direct = (): ReplicaSource => {
    if (flags.replica !== undefined) throw new UsageError(`-replica ${flags.replica}: only a database of the configuration file has named replicas`);
    return { replicas: [{ name: target, url: target, options: {} }], dbPath: undefined };
  };
  if (isUrl(target)) return direct();
  let db;
  try {
    ({ db } = await configuredDatabase(flags, target));
  } catch (err) {
    const notThere = err instanceof ConfigNotFoundError || err instanceof DatabaseNotInConfigError;
    if (!notThere || flags.config !== undefined) throw err;
    return direct();
  }
  const replicas = db.replicas.map((r) => ({ name: replicaNameOf(r), url: r.url, options: r.options }));
  if (flags.replica === undefined) return { replicas, dbPath: db.path };
  const named = replicas.find((r) => r.name === flags.replica);
  if (named === undefined) {
    throw new UsageError(`-replica ${flags.replica}: ${db.path} has no replica of that name (replicas: ${replicas.map((r) => r.name).join(', ')})`);
  }
  return { replicas: [named], dbPath: db.path };
}

/**
 * Fails with ReplicaDirectoryMissingError for a directory replica whose
 * directory does not exist, which a listing would otherwise show as an empty
 * replica. Other backends have no such distinction to make.
 */
export async function checkReplicaDirectory(url: string): Promise<void> {
  const u = parseReplicaUrl(url);
  if (u.scheme !== 'file') return;
  try {
    await stat(u.path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ReplicaDirectoryMissingError(u.path, { cause: err });
    throw err;
  }
}

/** Fails with one line naming the path when a database path is a directory (reading it would say only EISDIR). */
export async function checkNotDirectory(path: string): Promise<void> {
  const abs = resolve(path);
  const st = await stat(abs).catch(() => undefined);
  if (st?.isDirectory() === true) throw new IsADirectoryError(`${abs}: is a directory, not a SQLite database`);
}
