import { TidemarkError } from '../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { LtxContentError, LtxError } from '../ltx/errors.js';
import { formatFilename } from '../ltx/file-name.js';
import { hex64 } from '../ltx/header.js';
import { ReplicaFileNotFoundError, ReplicaUrlError } from '../storage/errors.js';
import { AgeReplicaError } from '../storage/age/age-errors.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { RestoreFetchError } from './errors.js';

/** Reopens after a failed read without progress before giving up, as Litestream's resumable reader does. */
export const DEFAULT_FETCH_RETRIES = 3;
/** First pause before reopening a stream that failed without delivering anything; doubles each time. */
export const DEFAULT_FETCH_RETRY_DELAY_MS = 100;

/** The header's MinTXID and MaxTXID end at this byte. */
const HEADER_TXIDS_END = 32;
const MIN_TXID_OFFSET = 16;
const MAX_TXID_OFFSET = 24;
const MAGIC = [0x4c, 0x54, 0x58, 0x31];

export interface LtxFileStreamOptions {
  signal?: AbortSignal;
  retries?: number;
  retryDelayMs?: number;
}

/**
 * Streams one LTX file from a replica. A stream that breaks off (connection
 * reset, or an end before the listed size) is reopened at the byte it reached,
 * which matters during a long restore: the merge leaves a file's stream idle
 * while it works through the snapshot, and object stores drop idle
 * connections. Failures without progress are retried a bounded number of
 * times; a missing file is not retried. Also checks that the header covers the
 * TXIDs the file is listed under, since the plan trusts the name.
 */
export async function* ltxFileStream(
  client: ReplicaClient,
  file: LtxFileInfo,
  opts: LtxFileStreamOptions = {},
): AsyncGenerator<Uint8Array> {
  const { signal } = opts;
  const retries = opts.retries ?? DEFAULT_FETCH_RETRIES;
  const retryDelayMs = opts.retryDelayMs ?? DEFAULT_FETCH_RETRY_DELAY_MS;
  const head = new Uint8Array(HEADER_TXIDS_END);
  let offset = 0;
  let failures = 0;
  for (;;) {
    const start = offset;
    try {
      signal?.throwIfAborted();
      const stream = await client.openLtxFile(file.level, file.minTxid, file.maxTxid, offset > 0 ? { offset, signal } : { signal });
      for await (const chunk of stream) {
        if (chunk.length === 0) continue;
        if (offset < HEADER_TXIDS_END) {
          const n = Math.min(chunk.length, HEADER_TXIDS_END - offset);
          head.set(chunk.subarray(0, n), offset);
          if (offset + n === HEADER_TXIDS_END) checkHeaderTxids(head, file);
        }
        offset += chunk.length;
        yield chunk;
      }
      if (file.size > 0 && offset < file.size) {
        throw new ShortStreamError(`stream ended early: the replica lists the file as ${file.size} bytes`);
      }
      return;
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      if (err instanceof LtxError) throw err;
      if (!isRetryable(err)) throw asFetchError(err, file, offset);
      failures = offset > start ? 1 : failures + 1;
      if (failures > retries) throw asFetchError(err, file, offset, `gave up after ${retries} retries`);
      // Reopen at once when the stream made progress: it was dropped, not refused.
      if (offset === start) await sleep(retryDelayMs * 2 ** (failures - 1), undefined, { signal });
    }
  }
}

function checkHeaderTxids(head: Uint8Array, file: LtxFileInfo): void {
  // Data that is not LTX at all is left for the decoder to report.
  if (!MAGIC.every((b, i) => head[i] === b)) return;
  const dv = new DataView(head.buffer, head.byteOffset, head.length);
  const min = dv.getBigUint64(MIN_TXID_OFFSET);
  const max = dv.getBigUint64(MAX_TXID_OFFSET);
  if (min !== file.minTxid || max !== file.maxTxid) {
    throw new LtxContentError(`header covers TXIDs ${hex64(min)}-${hex64(max)}, not the ones in its name`, {
      file: `ltx/${file.level}/${formatFilename(file.minTxid, file.maxTxid)}`,
      offset: MIN_TXID_OFFSET,
    });
  }
}

/** The stream ended before the size the listing gave: a connection closed early. */
class ShortStreamError extends TidemarkError {
  override name = 'ShortStreamError';
}

/** A missing file or a misconfigured replica will not change by asking again; a dropped connection may. */
function isRetryable(err: unknown): boolean {
  if (err instanceof ReplicaFileNotFoundError || err instanceof ReplicaUrlError) return false;
  // Missing or wrong age keys, or a damaged encrypted file, read the same the next time.
  if (err instanceof AgeReplicaError) return false;
  // Bad arguments are a bug, not a flaky network.
  return !(err instanceof TypeError || err instanceof RangeError);
}

function asFetchError(err: unknown, file: LtxFileInfo, offset: number, note?: string): RestoreFetchError {
  const base = err instanceof Error ? err.message : String(err);
  let reason = note === undefined ? base : `${base} (${note})`;
  if (err instanceof ReplicaFileNotFoundError) {
    reason += '; it was removed after the restore plan was made (retention or compaction), so run the restore again';
  }
  return new RestoreFetchError(file, offset, reason, { cause: err });
}
