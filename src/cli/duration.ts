import { DURATION_EXAMPLES, nsToMs, parseGoDuration } from '../config/go-duration.js';
import { ValueSyntaxError } from '../config/errors.js';
import { UsageError } from '../errors.js';

/**
 * Parses a duration flag exactly as the configuration file's durations are
 * read (Go's time.ParseDuration): `500ms`, `1s`, `1m30s`, `2h`. A sync
 * interval must be positive. `what` names the flag in the error.
 */
export function parseDuration(value: string, what: string): number {
  let ms: number;
  try {
    ms = nsToMs(parseGoDuration(value));
  } catch (err) {
    if (!(err instanceof ValueSyntaxError)) throw err;
    throw new UsageError(`invalid ${what} "${value}": ${err.message} (expected e.g. ${DURATION_EXAMPLES})`);
  }
  if (!(ms > 0)) throw new UsageError(`invalid ${what} "${value}": must be longer than 0`);
  return ms;
}
