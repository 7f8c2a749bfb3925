import { TidemarkError } from '../errors.js';

/** Where in a configuration file something was written. Lines and columns are 1-based. */
export interface ConfigLocation {
  readonly file: string;
  readonly line?: number | undefined;
  readonly column?: number | undefined;
  /** Dotted key path from the document root, e.g. `dbs[0].replica.sync-interval`; '' for the file itself. */
  readonly keyPath: string;
}

/**
 * A configuration that cannot be used. The message is one line in the
 * compiler-style form `file:line:column: key.path: reason`, so an editor or
 * a terminal can jump to the spot.
 */
export class ConfigError extends TidemarkError {
  override name = 'ConfigError';
  readonly file: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly keyPath: string;
  /** The message without the location prefix. */
  readonly reason: string;

  constructor(location: ConfigLocation, reason: string, options?: { cause?: unknown }) {
    super(formatLocated(location, reason), options);
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
    this.keyPath = location.keyPath;
    this.reason = reason;
  }
}

/** The configuration file does not exist. */
export class ConfigNotFoundError extends ConfigError {
  override name = 'ConfigNotFoundError';

  constructor(file: string, options?: { cause?: unknown }) {
    super({ file, keyPath: '' }, 'config file not found', options);
  }
}

/** A scalar that does not parse as the type asked for (duration, size, glob pattern); the caller adds the location. */
export class ValueSyntaxError extends TidemarkError {
  override name = 'ValueSyntaxError';
}

/** `file:line:column: key.path: reason`, leaving out the parts that are unknown. */
export function formatLocated(location: ConfigLocation, reason: string): string {
  let where = location.file;
  if (location.line !== undefined) {
    where += `:${location.line}`;
    if (location.column !== undefined) where += `:${location.column}`;
  }
  return location.keyPath === '' ? `${where}: ${reason}` : `${where}: ${location.keyPath}: ${reason}`;
}
