import { TidemarkError } from '../errors.js';

/** Root of every error the event log raises on purpose. */
export class EventLogError extends TidemarkError {
  override name = 'EventLogError';
}

/**
 * The log on disk is damaged somewhere a crash cannot explain (anything other
 * than a torn tail of the last segment), or a file that must exist is missing.
 * `segment` is the file name inside `<dir>/wal/` and `offset` the byte offset
 * in it where the damage starts.
 */
export class EventLogCorruptionError extends EventLogError {
  override name = 'EventLogCorruptionError';
  readonly segment: string;
  readonly offset: number;

  constructor(segment: string, offset: number, reason: string, options?: { cause?: unknown }) {
    super(
      `event log corrupt: ${segment} at byte ${offset}: ${reason} ` +
        '(open with repair: true to keep the valid prefix and quarantine the rest)',
      options,
    );
    this.segment = segment;
    this.offset = offset;
  }
}

/** The log was closed (or is closing); nothing more can be done with this instance. */
export class EventLogClosedError extends EventLogError {
  override name = 'EventLogClosedError';

  constructor(operation: string) {
    super(`event log is closed: cannot ${operation}`);
  }
}

/** Another EventLog, in this process or another one, has the directory open. */
export class EventLogLockedError extends EventLogError {
  override name = 'EventLogLockedError';
  readonly lockPath: string;
  /** Process id recorded by the current holder, when it could be read. */
  readonly holderPid: number | undefined;

  constructor(lockPath: string, holderPid: number | undefined, detail: string) {
    super(`event log directory is locked: ${lockPath}: ${detail}`);
    this.lockPath = lockPath;
    this.holderPid = holderPid;
  }
}

/**
 * A write or sync of the log failed. The log stops accepting work: after a
 * failed fsync the kernel may have dropped the dirty pages, so what is on disk
 * is unknown until the directory is reopened and recovered.
 */
export class EventLogWriteError extends EventLogError {
  override name = 'EventLogWriteError';
}
