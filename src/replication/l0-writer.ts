import { HEADER_FLAG_NO_CHECKSUM } from '../ltx/constants.js';
import { LtxEncoder } from '../ltx/encoder.js';
import { makeHeader, type LtxHeader } from '../ltx/header.js';
import type { WalSalts } from '../sqlite/wal-header.js';
import { DB_READ_CHUNK_BYTES } from './database-state.js';
import { ModelChange, type DatabaseModel } from './db-model.js';
import { PublishGuardError } from './errors.js';
import type { LocalMeta } from './local-meta.js';

/** What one L0 file holds: its pages come from `emit`, in ascending order. */
export interface L0Content {
  readonly txid: bigint;
  readonly pageSize: number;
  /** Database size in pages after the file. */
  readonly commit: number;
  /** True when the file carries every page of the database (a full image). */
  readonly full: boolean;
  /** The WAL stretch the file stands for, recorded in its header as Litestream does. */
  readonly walOffset: number;
  readonly walSize: number;
  readonly salts: WalSalts;
  /** Why the file is what it is, for the guard's messages. */
  readonly what: string;
  readonly emit: (write: (pgno: number, data: Uint8Array) => Promise<void>) => Promise<void>;
}

export interface WrittenL0 {
  readonly header: LtxHeader;
  readonly size: number;
  readonly pageCount: number;
  /** Apply with `change.applyTo(model, txid)` now that the file is durable. */
  readonly change: ModelChange;
}

/**
 * Writes L0 file `txid` durably to the meta directory, after checking it
 * against what the replicator knows (the model of the TXID before it): the
 * TXID follows the model's, and a file that grows the database carries every
 * page above the old size. A file that fails a check is never published.
 */
export async function writeL0(meta: LocalMeta, content: L0Content, model: DatabaseModel | null, now: () => number = Date.now): Promise<WrittenL0> {
  if (model !== null && content.txid !== model.txid + 1n) {
    throw new PublishGuardError(`${content.what}: TXID ${content.txid} does not follow the published TXID ${model.txid}`);
  }
  if (!content.full && model === null) throw new PublishGuardError(`${content.what}: an incremental file needs the model of the TXID before it`);
  const header = makeHeader({
    flags: HEADER_FLAG_NO_CHECKSUM,
    pageSize: content.pageSize,
    commit: content.commit,
    minTxid: content.txid,
    maxTxid: content.txid,
    timestamp: now(),
    walOffset: content.walOffset,
    walSize: content.walSize,
    walSalt1: content.salts.salt1,
    walSalt2: content.salts.salt2,
  });
  const change = new ModelChange(content.pageSize, content.commit, content.full);
  const path = meta.pathOf(content.txid);
  const result = await meta.write(content.txid, async (sink) => {
    const enc = new LtxEncoder(sink, header, { file: path, parallel: content.full && content.commit * content.pageSize > DB_READ_CHUNK_BYTES });
    await content.emit(async (pgno, data) => {
      await enc.writePage(pgno, data);
      change.add(pgno, data);
    });
    if (model !== null) {
      const holes = change.holesOver(model);
      if (holes.length > 0) {
        throw new PublishGuardError(
          `${content.what}: the database grows from ${model.commit} to ${content.commit} pages but ${holes.length} of the new pages are not in the file (first: ${holes.slice(0, 5).join(', ')})`,
        );
      }
    }
    return enc.finish();
  });
  return { header, size: result.size, pageCount: result.pageCount, change };
}
