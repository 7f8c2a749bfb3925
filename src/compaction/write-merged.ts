import { TidemarkError } from '../errors.js';
import { BytePipe } from '../io/byte-pipe.js';
import { IterableSource } from '../ltx/byte-source.js';
import { compactLtx, type LtxInput } from '../ltx/compactor.js';
import { HEADER_FLAG_NO_CHECKSUM } from '../ltx/constants.js';
import { LtxError } from '../ltx/errors.js';
import { formatFilename, formatTxid } from '../ltx/file-name.js';
import { ltxFileStream } from '../restore/ltx-file-stream.js';
import { ReplicaFileNotFoundError } from '../storage/errors.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { CompactionError } from './errors.js';
import type { LocalL0Files } from './local-l0.js';

export interface WriteMergedOptions {
  readonly client: ReplicaClient;
  /** Files to merge, oldest first, each extending the TXIDs of the ones before. */
  readonly inputs: readonly LtxFileInfo[];
  readonly dstLevel: number;
  /** Local copies, read in preference to the replica's for level-0 inputs. */
  readonly local?: LocalL0Files | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Compress on the codec worker as well (large merges). */
  readonly parallel?: boolean | undefined;
}

export interface WriteMergedResult {
  readonly file: LtxFileInfo;
  /** Inputs read from local copies. */
  readonly localReads: number;
}

interface OpenedInput {
  readonly name: string;
  readonly file: LtxFileInfo;
  readonly local: boolean;
  readonly it: AsyncIterator<Uint8Array>;
}

/**
 * Merges the inputs into one file on the replica, streaming: the merged
 * pages are encoded into a bounded pipe that the replica's upload reads, so
 * memory is one page and one read buffer per input plus the pipe, whatever
 * the sizes. The output keeps Litestream's header rules (NoChecksum, the
 * first input's MinTXID and pre-apply checksum, the last input's MaxTXID,
 * commit and timestamp). Every input is decoded strictly and its checksum
 * verified before the upload can complete, so a damaged input fails the
 * merge and nothing appears on the replica. A local copy that turns out to
 * be damaged is replaced by the replica's copy and the merge is retried.
 */
export async function writeMerged(o: WriteMergedOptions): Promise<WriteMergedResult> {
  const first = o.inputs[0];
  const last = o.inputs[o.inputs.length - 1];
  if (first === undefined || last === undefined) throw new CompactionError('nothing to merge');
  const forceRemote = new Set<number>();
  for (;;) {
    try {
      return await attempt(o, first.minTxid, last.maxTxid, forceRemote);
    } catch (err) {
      const bad = err instanceof RetryRemote ? err.index : -1;
      if (bad < 0) throw err;
      forceRemote.add(bad);
    }
  }
}

/** A local copy failed to decode: retry with the replica's copy of input `index`. */
class RetryRemote extends TidemarkError {
  constructor(readonly index: number) {
    super('retry with the replica copy');
  }
}

async function attempt(o: WriteMergedOptions, minTxid: bigint, maxTxid: bigint, forceRemote: ReadonlySet<number>): Promise<WriteMergedResult> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const opened: OpenedInput[] = [];
  let localReads = 0;
  try {
    for (let i = 0; i < o.inputs.length; i++) {
      const f = o.inputs[i]!;
      const remoteName = `ltx/${f.level}/${formatFilename(f.minTxid, f.maxTxid)}`;
      let stream: AsyncIterable<Uint8Array> | null = null;
      if (f.level === 0 && o.local?.open !== undefined && !forceRemote.has(i)) {
        stream = await o.local.open(f.minTxid, f.maxTxid, controller.signal);
      }
      if (stream !== null) {
        localReads++;
        const name = o.local?.describe?.(f.minTxid, f.maxTxid) ?? `local ltx/0/${formatFilename(f.minTxid, f.maxTxid)}`;
        opened.push({ name, file: f, local: true, it: stream[Symbol.asyncIterator]() });
      } else {
        opened.push({ name: remoteName, file: f, local: false, it: ltxFileStream(o.client, f, { signal: controller.signal }) });
      }
    }

    const inputs: LtxInput[] = opened.map((inp) => ({ source: new IterableSource({ [Symbol.asyncIterator]: () => inp.it }), name: inp.name }));
    const pipe = new BytePipe();
    let producerError: { err: unknown } | undefined;
    let encodedSize = -1;
    const producer = (async () => {
      try {
        const r = await compactLtx(inputs, pipe, { headerFlags: HEADER_FLAG_NO_CHECKSUM, decoder: { strict: true }, parallel: o.parallel === true });
        encodedSize = r.size;
        pipe.end();
      } catch (err) {
        producerError = { err };
        pipe.fail(err);
      }
    })();

    let file: LtxFileInfo;
    try {
      file = await o.client.writeLtxFile(o.dstLevel, minTxid, maxTxid, pipe, controller.signal);
    } catch (consumerErr) {
      // A merge that failed is why the upload failed; otherwise the upload's own error is the one to report.
      const root = producerError !== undefined ? producerError.err : consumerErr;
      controller.abort();
      await drain(pipe);
      await producer;
      const bad = damagedLocalInput(opened, root);
      if (bad >= 0) throw new RetryRemote(bad);
      throw describe(o, minTxid, maxTxid, root);
    }
    // A client that returned without reading to the end would have stored less than the merge produced.
    await drain(pipe);
    await producer;
    if (producerError !== undefined || file.size !== encodedSize) {
      await o.client.deleteLtxFiles([file]).catch(() => undefined);
      const err = producerError?.err ?? new CompactionError(`the replica stored ${file.size} bytes of a ${encodedSize}-byte file`);
      throw describe(o, minTxid, maxTxid, err);
    }
    return { file, localReads };
  } finally {
    controller.abort();
    o.signal?.removeEventListener('abort', onAbort);
    await Promise.all(opened.map((inp) => inp.it.return?.().catch(() => undefined)));
  }
}

/**
 * The local input an error is about: one that failed to decode (the decoder
 * names it), or one that vanished while being read (a replicator resetting
 * its local state); -1 for any other error.
 */
function damagedLocalInput(opened: readonly OpenedInput[], err: unknown): number {
  if (err instanceof LtxError) return opened.findIndex((inp) => inp.local && inp.name === err.file);
  if (err instanceof ReplicaFileNotFoundError) {
    return opened.findIndex((inp) => inp.local && inp.file.minTxid === err.minTxid && inp.file.maxTxid === err.maxTxid);
  }
  return -1;
}

/**
 * Reads and discards what is left in the pipe, so a producer waiting on a
 * full pipe (an upload that failed before reading) can run to its end or
 * its failure.
 */
async function drain(pipe: BytePipe): Promise<void> {
  try {
    for await (const _ of pipe) {
      // discarded
    }
  } catch {
    // The producer's failure is reported from its own promise.
  }
}

function describe(o: WriteMergedOptions, minTxid: bigint, maxTxid: bigint, err: unknown): unknown {
  if (o.signal?.aborted === true && err === o.signal.reason) return err;
  const levels = [...new Set(o.inputs.map((f) => f.level))].join(',');
  const detail = err instanceof Error ? err.message : String(err);
  return new CompactionError(
    `merging ${o.inputs.length} file(s) of level ${levels} into level ${o.dstLevel} as ${formatTxid(minTxid)}-${formatTxid(maxTxid)}: ${detail}`,
    { cause: err },
  );
}
