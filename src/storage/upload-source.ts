/**
 * Reading the data of an upload, shared by the object-store backends: a
 * failure of the data itself (a local file that cannot be read, say) is told
 * apart from a failure of the request, since only the latter is retried.
 */

/** A failure of the data being uploaded, kept apart from the upload's own failures. */
export class SourceFailure {
  constructor(readonly error: unknown) {}
}

/** The next chunk of the data; its own failure comes out as SourceFailure. */
export async function nextChunk(data: AsyncIterator<Uint8Array>): Promise<IteratorResult<Uint8Array>> {
  try {
    return await data.next();
  } catch (err) {
    throw new SourceFailure(err);
  }
}

/**
 * Reads chunks (copied: a source may reuse its buffer) until more than
 * `limit` bytes have come or the data ends, so that a file small enough for
 * one request is known whole before anything is sent.
 */
export async function readAtMost(data: AsyncIterator<Uint8Array>, limit: number, signal: AbortSignal | undefined): Promise<{ chunks: Buffer[]; done: boolean }> {
  const chunks: Buffer[] = [];
  let have = 0;
  while (have <= limit) {
    signal?.throwIfAborted();
    const r = await nextChunk(data);
    if (r.done === true) return { chunks, done: true };
    chunks.push(Buffer.from(r.value));
    have += r.value.length;
  }
  return { chunks, done: false };
}
