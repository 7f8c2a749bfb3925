import { parseByteSize, SIZE_EXAMPLES } from './byte-size.js';
import { ValueSyntaxError } from './errors.js';
import { DURATION_EXAMPLES, parseGoDuration } from './go-duration.js';

/** A duration in nanoseconds, or a ValueSyntaxError whose message says what was wrong and what is expected. */
export function durationOrThrow(text: string): bigint {
  try {
    return parseGoDuration(text);
  } catch (err) {
    if (!(err instanceof ValueSyntaxError)) throw err;
    const why = err.message === 'invalid duration' ? '' : `: ${err.message}`;
    throw new ValueSyntaxError(`invalid duration ${JSON.stringify(text)}${why} (expected e.g. ${DURATION_EXAMPLES})`, {
      cause: err,
    });
  }
}

/** A size in bytes, or a ValueSyntaxError whose message says what was wrong and what is expected. */
export function byteSizeOrThrow(text: string): number {
  try {
    return parseByteSize(text);
  } catch (err) {
    if (!(err instanceof ValueSyntaxError)) throw err;
    throw new ValueSyntaxError(`invalid size ${JSON.stringify(text)}: ${err.message} (expected e.g. ${SIZE_EXAMPLES})`, {
      cause: err,
    });
  }
}
