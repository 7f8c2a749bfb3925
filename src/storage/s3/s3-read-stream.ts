import { TidemarkError } from '../../errors.js';
import type { Readable } from 'node:stream';

/** No byte arrived for a read that was waiting this long: the connection is treated as dead. */
export class S3IdleTimeoutError extends TidemarkError {
  override name = 'S3IdleTimeoutError';
  readonly code = 'ETIMEDOUT';

  constructor(readonly idleMs: number) {
    super(`no data for ${idleMs} ms`);
  }
}

/**
 * The chunks of a response body. A read that waits longer than `idleMs` for
 * the next chunk fails with S3IdleTimeoutError (time the consumer spends
 * holding a chunk does not count); aborting `signal` fails the read at once.
 * The body is destroyed when iteration ends, however it ends.
 */
export async function* readBodyChunks(body: Readable, idleMs: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  const onAbort = (): void => {
    body.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      signal?.throwIfAborted();
      let timer: NodeJS.Timeout | undefined;
      let r: IteratorResult<Uint8Array>;
      try {
        r = await Promise.race([
          it.next(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new S3IdleTimeoutError(idleMs)), idleMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
      if (r.done === true) return;
      yield r.value;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    body.destroy();
  }
}

export interface ContentRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
  /** Object size; undefined when the server sent `*`. */
  total: number | undefined;
}

/** Parses `bytes START-END/TOTAL`; undefined when absent or malformed. */
export function parseContentRange(s: string | undefined): ContentRange | undefined {
  const m = s === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(s.trim());
  if (m === null) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}
