import { lockPgno, HEADER_FLAG_NO_CHECKSUM } from '../ltx/constants.js';
import { LtxEncoder } from '../ltx/encoder.js';
import { formatTxid } from '../ltx/file-name.js';
import { makeHeader } from '../ltx/header.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { BytePipe, PipeClosedError } from './byte-pipe.js';
import { SNAPSHOT_LEVEL } from './compaction-levels.js';
import { bump, type CompactionCounters } from './counters.js';
import { CompactionError, CompactionOptionsError } from './errors.js';
import type { LevelMaxCache } from './level-max-cache.js';

/** One database page; `data` is exactly one page and is not kept after the call that takes it. */
export interface SnapshotPage {
  readonly pgno: number;
  readonly data: Uint8Array;
}

export interface WriteSnapshotOptions {
  readonly client: ReplicaClient;
  /** The TXID the pages are the state of: the newest L0 file's TXID, with every frame it holds and none after. */
  readonly txid: bigint;
  readonly pageSize: number;
  /** Database size in pages. */
  readonly commit: number;
  /** Pages 1..commit in order; the lock page is skipped if present. */
  readonly pages: AsyncIterable<SnapshotPage> | Iterable<SnapshotPage>;
  /** Header timestamp, ms (default: now). It becomes the snapshot's createdAt. */
  readonly timestamp?: number;
  /** Where in the WAL the image ends, as Litestream records it; 0 when read from the database file alone. */
  readonly walOffset?: number;
  readonly walSize?: number;
  readonly walSalt1?: number;
  readonly walSalt2?: number;
  readonly parallel?: boolean;
  readonly cache?: LevelMaxCache;
  readonly counters?: CompactionCounters;
  readonly signal?: AbortSignal;
}

/**
 * Writes a full snapshot, `9/0000000000000001-<txid>.ltx`, from pages the
 * caller reads from the database, streaming them to the replica. The caller
 * owns consistency: the pages must be the database exactly as of `txid`, so
 * they are read while no checkpoint can run and no write can be synced
 * (Litestream's snapshot reader let a checkpoint run mid-read, and took in
 * frames committed after its TXID).
 */
export async function writeSnapshot(o: WriteSnapshotOptions): Promise<LtxFileInfo> {
  if (typeof o.txid !== 'bigint' || o.txid < 1n) throw new CompactionOptionsError(`invalid snapshot TXID ${String(o.txid)}`);
  if (!Number.isSafeInteger(o.commit) || o.commit < 1) throw new CompactionOptionsError(`invalid snapshot size ${String(o.commit)} pages: a snapshot needs at least one page`);
  const header = makeHeader({
    flags: HEADER_FLAG_NO_CHECKSUM,
    pageSize: o.pageSize,
    commit: o.commit,
    minTxid: 1n,
    maxTxid: o.txid,
    timestamp: o.timestamp ?? Date.now(),
    walOffset: o.walOffset ?? 0,
    walSize: o.walSize ?? 0,
    walSalt1: o.walSalt1 ?? 0,
    walSalt2: o.walSalt2 ?? 0,
  });
  const name = `ltx/${SNAPSHOT_LEVEL}/0000000000000001-${formatTxid(o.txid)}.ltx`;
  const pipe = new BytePipe();
  const encoder = new LtxEncoder(pipe, header, { file: name, parallel: o.parallel === true });
  let producerError: { err: unknown } | undefined;
  const lock = lockPgno(o.pageSize);
  const producer = (async () => {
    try {
      for await (const p of o.pages) {
        o.signal?.throwIfAborted();
        if (p.pgno === lock) continue;
        await encoder.writePage(p.pgno, p.data);
      }
      await encoder.finish();
      pipe.end();
    } catch (err) {
      producerError = { err };
      pipe.fail(err);
    }
  })();
  let file: LtxFileInfo;
  try {
    file = await o.client.writeLtxFile(SNAPSHOT_LEVEL, 1n, o.txid, pipe, o.signal);
  } catch (err) {
    pipe.close();
    await producer;
    const root = producerError !== undefined && !(producerError.err instanceof PipeClosedError) ? producerError.err : err;
    if (o.signal?.aborted === true && root === o.signal.reason) throw root;
    throw new CompactionError(`writing snapshot ${name}: ${root instanceof Error ? root.message : String(root)}`, { cause: root });
  }
  pipe.close('the upload finished');
  await producer;
  if (producerError !== undefined) {
    await o.client.deleteLtxFiles([file]).catch(() => undefined);
    const err = producerError.err;
    throw new CompactionError(`writing snapshot ${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  o.cache?.note(file);
  if (o.counters) {
    bump(o.counters.filesWritten, SNAPSHOT_LEVEL);
    bump(o.counters.bytesWritten, SNAPSHOT_LEVEL, file.size);
  }
  return file;
}
