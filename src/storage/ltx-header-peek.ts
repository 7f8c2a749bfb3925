import { HEADER_SIZE } from '../ltx/constants.js';
import { LtxError } from '../ltx/errors.js';
import { decodeHeader, hex64, validateHeader, type DecodedLtxHeader } from '../ltx/header.js';
import { StorageError } from './errors.js';

/** The data of an upload after its header was read: replays the header bytes, then the rest. */
export class PeekedLtxStream implements AsyncIterableIterator<Uint8Array> {
  private closed = false;

  constructor(
    private readonly source: AsyncIterator<Uint8Array>,
    private readonly queued: Uint8Array[],
  ) {}

  async next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.queued.shift();
    if (chunk !== undefined) return { done: false, value: chunk };
    const r = await this.source.next();
    if (r.done === true) this.closed = true;
    return r;
  }

  /** Stops the source early (a failed upload); safe to call more than once. */
  async return(): Promise<IteratorResult<Uint8Array>> {
    this.queued.length = 0;
    if (!this.closed) {
      this.closed = true;
      await this.source.return?.();
    }
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Reads the 100-byte LTX header off the front of an upload, as every backend
 * must before storing it: the header timestamp becomes the file's createdAt,
 * and data whose header is invalid or covers other TXIDs than the name it is
 * stored under is refused before anything is written. `where` names the
 * destination in errors. On failure the source is stopped.
 */
export async function peekLtxHeader(
  data: AsyncIterable<Uint8Array>,
  minTxid: bigint,
  maxTxid: bigint,
  where: string,
): Promise<{ header: DecodedLtxHeader; body: PeekedLtxStream }> {
  const source = data[Symbol.asyncIterator]();
  // Copied out of the source's chunks: a source may reuse its buffer once asked for more.
  const head = new Uint8Array(HEADER_SIZE);
  let have = 0;
  let rest: Uint8Array | undefined;
  try {
    while (have < HEADER_SIZE) {
      const r = await source.next();
      if (r.done === true) break;
      const n = Math.min(r.value.length, HEADER_SIZE - have);
      head.set(r.value.subarray(0, n), have);
      have += n;
      if (n < r.value.length) rest = r.value.subarray(n);
    }
    let header: DecodedLtxHeader;
    try {
      header = decodeHeader(head.subarray(0, have));
      validateHeader(header);
    } catch (err) {
      const reason = err instanceof LtxError ? err.reason : String(err);
      throw new StorageError(`refusing to write ${where}: not a valid LTX file: ${reason}`, { cause: err });
    }
    if (header.minTxid !== minTxid || header.maxTxid !== maxTxid) {
      throw new StorageError(
        `refusing to write ${where}: the LTX header covers TXIDs ${hex64(header.minTxid)}-${hex64(header.maxTxid)}, ` +
          `not ${hex64(minTxid)}-${hex64(maxTxid)}`,
      );
    }
    return { header, body: new PeekedLtxStream(source, rest === undefined ? [head] : [head, rest]) };
  } catch (err) {
    // The error that stopped the upload is the one to report, not a failure to stop the source.
    await source.return?.().catch(() => undefined);
    throw err;
  }
}
