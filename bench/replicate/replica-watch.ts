/** Reads the headers of a file replica's L0 LTX files, to tell when the replica has caught up with the WAL. */
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HEADER_SIZE } from '../../src/ltx/constants.js';
import { parseFilename } from '../../src/ltx/file-name.js';
import { decodeHeader, type LtxHeader } from '../../src/ltx/header.js';
import type { WalEnd } from './wal-end.js';

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class ReplicaWatch {
  readonly #l0Dir: string;
  /** Headers already read, by TXID: L0 files never change once renamed into place. */
  readonly #headers = new Map<bigint, LtxHeader>();

  constructor(replicaDir: string) {
    this.#l0Dir = join(replicaDir, 'ltx', '0');
  }

  /** The replica's L0 headers in TXID order (files removed meanwhile are skipped). */
  l0Headers(): LtxHeader[] {
    let names: string[];
    try {
      names = readdirSync(this.#l0Dir);
    } catch (err) {
      if (isEnoent(err)) return [];
      throw err;
    }
    const out: { txid: bigint; header: LtxHeader }[] = [];
    for (const name of names) {
      // Uploads in progress are temporary files, which do not parse as LTX names.
      const txids = parseFilename(name);
      if (txids === null) continue;
      let header = this.#headers.get(txids.maxTxid);
      if (header === undefined) {
        const read = readHeader(join(this.#l0Dir, name));
        if (read === null) continue;
        header = read;
        this.#headers.set(txids.maxTxid, header);
      }
      out.push({ txid: txids.maxTxid, header });
    }
    out.sort((a, b) => (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : 0));
    return out.map((e) => e.header);
  }

  /**
   * True once the replica holds everything committed up to `end`: an L0 file
   * of that WAL generation reaches its last commit, or a file of a later
   * generation follows one of it (the replicator only lets the WAL restart
   * after syncing all of it, and uploads in TXID order).
   */
  covers(end: WalEnd): boolean {
    let seenGeneration = false;
    for (const h of this.l0Headers()) {
      const same = h.walSalt1 === end.salt1 && h.walSalt2 === end.salt2;
      if (same && h.walOffset + h.walSize >= end.commitEnd) return true;
      if (same) seenGeneration = true;
      else if (seenGeneration) return true;
    }
    return false;
  }
}

function readHeader(path: string): LtxHeader | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isEnoent(err)) return null;
    throw err;
  }
  try {
    const buf = Buffer.alloc(HEADER_SIZE);
    if (readSync(fd, buf, 0, HEADER_SIZE, 0) < HEADER_SIZE) return null;
    return decodeHeader(buf, { file: path });
  } finally {
    closeSync(fd);
  }
}

/** Total bytes of all files under `dir`. */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(path);
    else if (e.isFile()) total += statSync(path).size;
  }
  return total;
}
