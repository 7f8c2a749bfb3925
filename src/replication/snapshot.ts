import { open, stat } from 'node:fs/promises';
import { BytePipe } from '../io/byte-pipe.js';
import { isErrno } from '../io/durable-fs.js';
import { HEADER_FLAG_NO_CHECKSUM } from '../ltx/constants.js';
import { LtxEncoder } from '../ltx/encoder.js';
import { makeHeader } from '../ltx/header.js';
import { sameSalts, WAL_HEADER_SIZE, type WalSalts } from '../sqlite/wal-header.js';
import { walPageMap, type WalPageMap } from '../sqlite/wal-page-map.js';
import { WalFrameReader } from '../sqlite/wal-reader.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { WalChangedError } from './errors.js';
import { DB_READ_CHUNK_BYTES, writeFullImage } from './l0-writer.js';

/** Litestream's snapshot level: full images named `1-<txid>` at level 9. */
export const SNAPSHOT_LEVEL = 9;

export interface SnapshotInput {
  readonly client: ReplicaClient;
  readonly dbPath: string;
  readonly walPath: string;
  readonly pageSize: number;
  /** The TXID the snapshot stands for: the last one synced. */
  readonly txid: bigint;
  /** End of the WAL stretch that TXID covers, and the salts of that WAL generation. */
  readonly walEnd: number;
  readonly salts: WalSalts;
  readonly now?: () => number;
}

/**
 * Streams a full image of the database as of `txid` to the replica as the
 * level-9 file `1-<txid>`, built from the database file and the WAL up to
 * `walEnd` only. Frames committed after that are left out, so the file holds
 * exactly the TXID its name gives. The caller must keep the WAL from being
 * checkpointed and restarted while this runs (its read transaction and no
 * checkpoints of its own); other connections cannot move pages the map does
 * not cover.
 */
export async function writeSnapshot(input: SnapshotInput): Promise<LtxFileInfo> {
  const { pageSize } = input;
  let wal;
  try {
    wal = await open(input.walPath, 'r');
  } catch (err) {
    if (!isErrno(err, 'ENOENT') || input.walEnd > WAL_HEADER_SIZE) throw err;
  }
  try {
    let map: WalPageMap | null = null;
    if (wal !== undefined && input.walEnd > WAL_HEADER_SIZE) {
      const reader = await WalFrameReader.open(wal, { file: input.walPath });
      if (!sameSalts(reader.header, input.salts)) {
        throw new WalChangedError(`${input.walPath}: the WAL restarted since TXID ${input.txid} was synced; the snapshot is retried after the next sync`);
      }
      map = await walPageMap(reader, { until: input.walEnd });
      if (map.maxOffset !== input.walEnd) {
        throw new WalChangedError(`${input.walPath}: committed WAL ends at ${map.maxOffset}, expected ${input.walEnd} for TXID ${input.txid}`);
      }
    }
    const commit = map !== null && map.commit > 0 ? map.commit : Math.floor((await stat(input.dbPath)).size / pageSize);
    const header = makeHeader({
      flags: HEADER_FLAG_NO_CHECKSUM,
      pageSize,
      commit,
      minTxid: 1n,
      maxTxid: input.txid,
      timestamp: (input.now ?? Date.now)(),
      walOffset: map?.offset ?? 0,
      walSize: map === null ? 0 : map.maxOffset - map.offset,
      walSalt1: map?.salt1 ?? 0,
      walSalt2: map?.salt2 ?? 0,
    });
    const pipe = new BytePipe();
    const upload = input.client.writeLtxFile(SNAPSHOT_LEVEL, 1n, input.txid, pipe);
    const encode = (async () => {
      try {
        const enc = new LtxEncoder(pipe, header, { file: `snapshot 1-${input.txid}`, parallel: commit * pageSize > DB_READ_CHUNK_BYTES });
        const emptyMap: WalPageMap = map ?? { ...EMPTY_MAP, pageSize };
        await writeFullImage(enc, wal, input, emptyMap, commit);
        await enc.finish();
        pipe.end();
      } catch (err) {
        pipe.fail(err);
        throw err;
      }
    })();
    // The upload's own error says more than the encoder's "reader stopped"; an encoder error fails the upload.
    const [up, en] = await Promise.allSettled([upload, encode]);
    if (up.status === 'rejected') throw up.reason;
    if (en.status === 'rejected') throw en.reason;
    return up.value;
  } finally {
    await wal?.close();
  }
}

const EMPTY_MAP: Omit<WalPageMap, 'pageSize'> = {
  pages: new Map(),
  offset: WAL_HEADER_SIZE,
  maxOffset: WAL_HEADER_SIZE,
  commit: 0,
  frames: 0,
  uncommittedFrames: 0,
  checksum: { s0: 0, s1: 0 },
  endReason: 'end-of-file',
  salt1: 0,
  salt2: 0,
};
