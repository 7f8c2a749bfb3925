import { BytePipe } from '../io/byte-pipe.js';
import { DatabaseChecksum } from '../ltx/checksum.js';
import { HEADER_FLAG_NO_CHECKSUM } from '../ltx/constants.js';
import { LtxEncoder } from '../ltx/encoder.js';
import { formatTxid } from '../ltx/file-name.js';
import { makeHeader } from '../ltx/header.js';
import { WAL_HEADER_SIZE } from '../sqlite/wal-header.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import type { DatabaseFile } from './database-file.js';
import { DatabaseState, DB_READ_CHUNK_BYTES, type GenerationView } from './database-state.js';
import { PublishGuardError } from './errors.js';
import type { WalPosition } from './wal-follower.js';

/** Litestream's snapshot level: full images named `1-<txid>` at level 9. */
export const SNAPSHOT_LEVEL = 9;

export interface SnapshotInput {
  readonly client: ReplicaClient;
  readonly db: DatabaseFile;
  readonly walPath: string;
  readonly pageSize: number;
  /** The TXID the snapshot stands for: the last one published. */
  readonly txid: bigint;
  /** Where the WAL had been read to for that TXID. */
  readonly pos: WalPosition;
  /** The database as of that TXID: its WAL generation's pages and size. */
  readonly view: GenerationView;
  /** The database checksum at that TXID (the model's); the image must add up to it. */
  readonly expectedChecksum?: bigint;
  readonly now?: () => number;
}

/**
 * Streams a full image of the database as of `txid` to the replica as the
 * level-9 file `1-<txid>`, read as the database stood at `pos`. The caller
 * keeps the database pinned where it was for that TXID while this runs (see
 * SqliteSession.hold), so checkpoints cannot copy newer pages into the file.
 * When the image's checksum is not the expected one, the upload is failed
 * before it completes (PublishGuardError): the replica never sees it.
 */
export async function writeSnapshot(input: SnapshotInput): Promise<LtxFileInfo> {
  const { pageSize } = input;
  const state = await DatabaseState.open(input.db, input.walPath, pageSize, input.view);
  try {
    const header = makeHeader({
      flags: HEADER_FLAG_NO_CHECKSUM,
      pageSize,
      commit: state.commit,
      minTxid: 1n,
      maxTxid: input.txid,
      timestamp: (input.now ?? Date.now)(),
      walOffset: input.pos.salts === null ? 0 : WAL_HEADER_SIZE,
      walSize: input.pos.salts === null ? 0 : input.pos.offset - WAL_HEADER_SIZE,
      walSalt1: input.pos.salts?.salt1 ?? 0,
      walSalt2: input.pos.salts?.salt2 ?? 0,
    });
    const pipe = new BytePipe();
    const upload = input.client.writeLtxFile(SNAPSHOT_LEVEL, 1n, input.txid, pipe);
    const encode = (async () => {
      try {
        const enc = new LtxEncoder(pipe, header, { file: `snapshot 1-${formatTxid(input.txid)}`, parallel: state.commit * pageSize > DB_READ_CHUNK_BYTES });
        const sum = new DatabaseChecksum(pageSize);
        await state.forEachPage(async (pgno, data) => {
          sum.toggle(pgno, data);
          await enc.writePage(pgno, data);
        });
        if (input.expectedChecksum !== undefined && sum.digest() !== input.expectedChecksum) {
          throw new PublishGuardError(
            `snapshot 1-${formatTxid(input.txid)}: the database's checksum ${sum.digest().toString(16)} is not the ${input.expectedChecksum.toString(16)} the replica restores to at that TXID`,
          );
        }
        await enc.finish();
        pipe.end();
      } catch (err) {
        pipe.fail(err);
        throw err;
      }
    })();
    // The encoder's error (a guard, a changed WAL) says more than the upload's "stream failed".
    const [up, en] = await Promise.allSettled([upload, encode]);
    if (en.status === 'rejected') throw en.reason;
    if (up.status === 'rejected') throw up.reason;
    return up.value;
  } finally {
    await state.close();
  }
}
