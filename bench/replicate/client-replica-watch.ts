/**
 * ReplicaWatch for any replica client (an S3 replica here): reads the headers
 * of the replica's L0 LTX files through the client, to tell when the replica
 * has caught up with the WAL.
 */
import { HEADER_SIZE } from '../../src/ltx/constants.js';
import { decodeHeader, type LtxHeader } from '../../src/ltx/header.js';
import { ReplicaFileNotFoundError } from '../../src/storage/errors.js';
import type { ReplicaClient } from '../../src/storage/replica-client.js';
import type { WalEnd } from './wal-end.js';

/** Highest level a replica uses (snapshots). */
const MAX_LEVEL = 9;

export class ClientReplicaWatch {
  readonly #client: ReplicaClient;
  /** Headers already read, by TXID: L0 files never change once they are on the replica. */
  readonly #headers = new Map<bigint, LtxHeader>();

  constructor(client: ReplicaClient) {
    this.#client = client;
  }

  /** The replica's L0 headers in TXID order (files removed meanwhile are skipped). */
  async l0Headers(): Promise<LtxHeader[]> {
    const out: LtxHeader[] = [];
    for await (const f of this.#client.ltxFiles(0)) {
      let header = this.#headers.get(f.maxTxid);
      if (header === undefined) {
        const read = await this.#readHeader(f.minTxid, f.maxTxid);
        if (read === null) continue;
        header = read;
        this.#headers.set(f.maxTxid, header);
      }
      out.push(header);
    }
    return out;
  }

  async #readHeader(minTxid: bigint, maxTxid: bigint): Promise<LtxHeader | null> {
    const chunks: Uint8Array[] = [];
    try {
      for await (const c of await this.#client.openLtxFile(0, minTxid, maxTxid, { size: HEADER_SIZE })) chunks.push(c);
    } catch (err) {
      if (err instanceof ReplicaFileNotFoundError) return null;
      throw err;
    }
    const bytes = Buffer.concat(chunks);
    return bytes.length < HEADER_SIZE ? null : decodeHeader(bytes);
  }

  /**
   * True once the replica holds everything committed up to `end`: an L0 file
   * of that WAL generation reaches its last commit, or a file of a later
   * generation follows one of it (the replicator only lets the WAL restart
   * after syncing all of it, and uploads in TXID order).
   */
  async covers(end: WalEnd): Promise<boolean> {
    let seenGeneration = false;
    for (const h of await this.l0Headers()) {
      const same = h.walSalt1 === end.salt1 && h.walSalt2 === end.salt2;
      if (same && h.walOffset + h.walSize >= end.commitEnd) return true;
      if (same) seenGeneration = true;
      else if (seenGeneration) return true;
    }
    return false;
  }
}

/** Total bytes of the replica's LTX files on every level. */
export async function replicaBytes(client: ReplicaClient): Promise<number> {
  let total = 0;
  for (let level = 0; level <= MAX_LEVEL; level++) for await (const f of client.ltxFiles(level)) total += f.size;
  return total;
}
