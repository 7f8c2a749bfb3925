/**
 * Root of every error tidemark throws on purpose. Subclasses name the part of
 * the system that failed; `cause` carries the underlying error when there is one.
 */
export class TidemarkError extends Error {
  override name = 'TidemarkError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A command-line usage problem: unknown command or flag, bad flag value. */
export class UsageError extends TidemarkError {
  override name = 'UsageError';
}
