import { formatFilename } from '../ltx/file-name.js';
import { ReplicaFileNotFoundError } from '../storage/errors.js';
import { FileReplicaClient } from '../storage/file-replica-client.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';

/**
 * The local copies of L0 files a replicator keeps in `<meta>/ltx/0/`.
 * Compaction reads them in preference to the replica's copies (the replica
 * may not show a fresh upload yet, or hand out a short read); L0 retention
 * hands `delete` the files it deleted from the replica. For a replicator's
 * meta directory that is DbReplicator.releaseLocalL0, which alone decides
 * whether a local copy may go.
 */
export interface LocalL0Files {
  /** Opens the local copy of an L0 file; null when there is none. */
  open?(minTxid: bigint, maxTxid: bigint, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array> | null>;
  /** Deletes local copies; a copy that is already gone is not an error. */
  delete?(files: readonly LtxFileInfo[]): Promise<void>;
  /** How a local copy is named in error messages; its last path segment must be the file name. */
  describe?(minTxid: bigint, maxTxid: bigint): string;
  /**
   * The newest local L0 TXID (0 when there is none). Every file reaches the
   * replica after its local copy, so this bounds the replica's newest L0
   * TXID from above without asking the replica.
   */
  maxTxid?(): Promise<bigint>;
}

/**
 * Local L0 files from either a LocalL0Files or a ReplicaClient over the
 * meta directory: `new FileReplicaClient(metaDir)` reads and deletes
 * `<metaDir>/ltx/0/<min>-<max>.ltx`, exactly where a replicator keeps them.
 */
export function toLocalL0Files(local: ReplicaClient | LocalL0Files): LocalL0Files {
  if (!isReplicaClient(local)) return local;
  return {
    async open(minTxid, maxTxid, signal) {
      try {
        return await local.openLtxFile(0, minTxid, maxTxid, signal === undefined ? {} : { signal });
      } catch (err) {
        if (err instanceof ReplicaFileNotFoundError) return null;
        throw err;
      }
    },
    delete: (files) => local.deleteLtxFiles(files.map((f) => ({ ...f, level: 0 }))),
    async maxTxid() {
      let max = 0n;
      for await (const f of local.ltxFiles(0)) if (f.maxTxid > max) max = f.maxTxid;
      return max;
    },
    describe: (minTxid, maxTxid) =>
      local instanceof FileReplicaClient ? `${local.root}/ltx/0/${formatFilename(minTxid, maxTxid)}` : `local ltx/0/${formatFilename(minTxid, maxTxid)}`,
  };
}

function isReplicaClient(x: ReplicaClient | LocalL0Files): x is ReplicaClient {
  return typeof (x as ReplicaClient).openLtxFile === 'function' && typeof (x as ReplicaClient).ltxFiles === 'function';
}
