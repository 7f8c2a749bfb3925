import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ByteSink } from '../ltx/byte-sink.js';

/**
 * A ByteSink over a Node Writable (a file stream, a socket, an HTTP body).
 * Waits for 'drain' when the stream's buffer is full, so a fast encoder
 * cannot pile up memory ahead of a slow destination.
 */
export function writableSink(stream: Writable): ByteSink {
  return {
    async write(chunk: Uint8Array): Promise<void> {
      if (stream.destroyed) throw new Error('write to a destroyed stream');
      if (!stream.write(chunk)) {
        await Promise.race([
          once(stream, 'drain'),
          once(stream, 'error').then(([err]: unknown[]) => Promise.reject(err instanceof Error ? err : new Error(String(err)))),
          once(stream, 'close').then(() => Promise.reject(new Error('stream closed before it drained'))),
        ]);
      }
    },
  };
}
