import { TidemarkError } from '../errors.js';
import { formatFilename, formatTxid } from '../ltx/file-name.js';

/** Root of every error restore raises on purpose; `cause` carries the underlying error when there is one. */
export class RestoreError extends TidemarkError {
  override name = 'RestoreError';
}

/** The options do not make sense together (both a TXID and a timestamp, a bad parallelism, …). */
export class RestoreOptionsError extends RestoreError {
  override name = 'RestoreOptionsError';
}

/** The replica holds no LTX files at all. */
export class NoBackupsError extends RestoreError {
  override name = 'NoBackupsError';
  readonly replica: string;

  constructor(replica: string, options?: { cause?: unknown }) {
    super(`no backups found in ${replica}`, options);
    this.replica = replica;
  }
}

/**
 * The chain of files that rebuilds the database breaks off: no file covers
 * TXIDs `from..to`, while later files exist. Restoring past the break would
 * silently drop those transactions, so restore refuses.
 */
export class RestoreGapError extends RestoreError {
  override name = 'RestoreGapError';
  /** First missing TXID. */
  readonly from: bigint;
  /** Last missing TXID: the TXID before the first file found beyond the gap. */
  readonly to: bigint;
  /** Where the chain of files ends, 0 when it could not even start at TXID 1. */
  readonly restorableTxid: bigint;

  constructor(from: bigint, to: bigint, next: { level: number; minTxid: bigint; maxTxid: bigint }, options?: { cause?: unknown }) {
    const reach = from > 1n ? `files reach TXID ${formatTxid(from - 1n)}` : 'no snapshot or file starts at TXID 0000000000000001';
    super(
      `replica has no file covering TXIDs ${formatTxid(from)}-${formatTxid(to)} (${reach}; the next file is level ${next.level} ${formatFilename(next.minTxid, next.maxTxid)})`,
      options,
    );
    this.from = from;
    this.to = to;
    this.restorableTxid = from - 1n;
  }
}

/** A point a restore can be aimed at: a TXID or a moment in time. */
export type RestoreTarget = { txid: bigint } | { timestamp: Date };

/**
 * The replica cannot rebuild the database exactly at the requested TXID or
 * time. `restorableTxid` is the highest TXID at or before the target that can
 * be rebuilt, or undefined when there is none.
 */
export class RestoreTargetUnavailableError extends RestoreError {
  override name = 'RestoreTargetUnavailableError';
  readonly target: RestoreTarget;
  readonly restorableTxid: bigint | undefined;

  constructor(target: RestoreTarget, restorableTxid: bigint | undefined, detail?: string, options?: { cause?: unknown }) {
    const what = 'txid' in target ? `TXID ${formatTxid(target.txid)}` : `${target.timestamp.toISOString()}`;
    const best =
      restorableTxid === undefined
        ? 'txid' in target
          ? 'no TXID at or below it can be restored'
          : 'the replica holds no state from before that time'
        : `the highest restorable TXID ${'txid' in target ? 'below it' : 'before it'} is ${formatTxid(restorableTxid)}`;
    super(`cannot restore to ${what}: ${best}${detail === undefined ? '' : ` (${detail})`}`, options);
    this.target = target;
    this.restorableTxid = restorableTxid;
  }
}

/** Reading one of the plan's files from the replica failed, after retries where a retry could help. */
export class RestoreFetchError extends RestoreError {
  override name = 'RestoreFetchError';
  readonly level: number;
  readonly minTxid: bigint;
  readonly maxTxid: bigint;
  /** Bytes of the file received before the failure. */
  readonly offset: number;

  constructor(file: { level: number; minTxid: bigint; maxTxid: bigint }, offset: number, reason: string, options?: { cause?: unknown }) {
    super(`reading level ${file.level} ${formatFilename(file.minTxid, file.maxTxid)} at offset ${offset}: ${reason}`, options);
    this.level = file.level;
    this.minTxid = file.minTxid;
    this.maxTxid = file.maxTxid;
    this.offset = offset;
  }
}

/** Something already exists at the output path, and restore never overwrites a database. */
export class RestoreOutputExistsError extends RestoreError {
  override name = 'RestoreOutputExistsError';
  readonly path: string;

  constructor(path: string, options?: { cause?: unknown; directory?: boolean }) {
    super(
      options?.directory === true
        ? `cannot restore, output path is a directory: ${path}`
        : `cannot restore, output path already exists and is not empty: ${path}; use -force (force: true) to replace it`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.path = path;
  }
}

/**
 * A journal file of an earlier database (`-wal` or `-journal`) sits next to
 * the output path. SQLite would replay it into the restored database on first
 * open, so restore refuses until it is removed.
 */
export class RestoreSidecarExistsError extends RestoreError {
  override name = 'RestoreSidecarExistsError';
  /** The output path. */
  readonly path: string;
  /** The journal file found beside it. */
  readonly sidecar: string;

  constructor(path: string, sidecar: string, options?: { cause?: unknown }) {
    super(
      `cannot restore to ${path}: ${sidecar} exists and SQLite would apply it to the restored database; remove it, choose another output path, or use -force (force: true) to replace both`,
      options,
    );
    this.path = path;
    this.sidecar = sidecar;
  }
}

/** The rebuilt database failed SQLite's quick_check or integrity_check; nothing was written to the output path. */
export class RestoreIntegrityError extends RestoreError {
  override name = 'RestoreIntegrityError';
  /** The output path the database was meant for. */
  readonly path: string;
  /** What SQLite reported, one entry per problem. */
  readonly problems: readonly string[];

  constructor(path: string, check: string, problems: readonly string[], options?: { cause?: unknown }) {
    super(`restored database for ${path} failed ${check}: ${problems.join('; ')}`, options);
    this.path = path;
    this.problems = problems;
  }
}
