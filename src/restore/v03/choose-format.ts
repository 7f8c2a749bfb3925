import { SNAPSHOT_LEVEL } from '../plan.js';
import type { LtxFileInfo, ReplicaClient } from '../../storage/replica-client.js';
import type { V03Source } from '../../storage/v03-reader.js';
import { isEmptyV03Listing, listV03Backups, v03TimeBounds, type V03Listing } from './listing.js';

/** What the choice between a replica's v0.3 and LTX backups looks at. */
export interface RestoreFormatInputs {
  v03: V03Listing;
  /**
   * LTX files of every level with the backend's cheap createdAt. Without a
   * timestamp all of them are needed (for the newest); with one, any single
   * file is enough to show that LTX backups exist.
   */
  ltxFiles: readonly LtxFileInfo[];
  /**
   * Level-9 files with their original timestamps, in listing order; needed
   * only with a timestamp. Defaults to the level-9 entries of `ltxFiles`.
   */
  ltxSnapshots?: readonly LtxFileInfo[];
}

/**
 * Whether a restore (without a target TXID) should use the replica's v0.3
 * backups rather than its LTX files, as Litestream v0.5 decides
 * (`shouldUseV3Restore`):
 *  - no v0.3 object at all: LTX; no LTX file at all: v0.3;
 *  - with a timestamp: v0.3 when its newest snapshot created at or before the
 *    timestamp is newer than the last level-9 LTX snapshot created strictly
 *    before it (or there is no such LTX snapshot);
 *  - without: v0.3 when its newest object is newer than the newest LTX file.
 * Ties go to LTX.
 */
export function shouldUseV03Restore(inputs: RestoreFormatInputs, timestamp?: Date): boolean {
  const v03UpdatedAt = v03TimeBounds(inputs.v03).updatedAt;
  if (v03UpdatedAt === undefined) return false;
  if (inputs.ltxFiles.length === 0) return true;

  if (timestamp !== undefined) {
    const t = timestamp.getTime();
    let v03Snapshot: Date | undefined;
    for (const g of inputs.v03.generations) {
      for (const s of g.snapshots) {
        if (s.createdAt.getTime() <= t && (v03Snapshot === undefined || s.createdAt.getTime() >= v03Snapshot.getTime())) v03Snapshot = s.createdAt;
      }
    }
    if (v03Snapshot === undefined) return false;
    const l9 = inputs.ltxSnapshots ?? inputs.ltxFiles.filter((f) => f.level === SNAPSHOT_LEVEL);
    // Litestream takes the last qualifying file in listing (TXID) order, not the newest by time.
    let ltxSnapshot: Date | undefined;
    for (const f of l9) if (f.createdAt.getTime() < t) ltxSnapshot = f.createdAt;
    return ltxSnapshot === undefined || v03Snapshot.getTime() > ltxSnapshot.getTime();
  }

  let ltxUpdatedAt = inputs.ltxFiles[0]!.createdAt;
  for (const f of inputs.ltxFiles) if (f.createdAt.getTime() > ltxUpdatedAt.getTime()) ltxUpdatedAt = f.createdAt;
  return v03UpdatedAt.getTime() > ltxUpdatedAt.getTime();
}

export interface RestoreFormatChoice {
  format: 'ltx' | 'v0.3';
  /** The v0.3 listing read to decide, so a v0.3 restore need not list again. */
  v03: V03Listing;
}

/**
 * Lists what shouldUseV03Restore needs and decides. A replica without v0.3
 * objects (the common case) costs one listing of `generations/` and no LTX
 * listing at all.
 */
export async function chooseRestoreFormat(
  client: ReplicaClient & V03Source,
  opts: { timestamp?: Date; signal?: AbortSignal } = {},
): Promise<RestoreFormatChoice> {
  const { timestamp, signal } = opts;
  const v03 = await listV03Backups(client, { signal });
  if (isEmptyV03Listing(v03)) return { format: 'ltx', v03 };

  const ltxFiles: LtxFileInfo[] = [];
  for (let level = SNAPSHOT_LEVEL; level >= 0; level--) {
    for await (const f of client.ltxFiles(level, 0n, { signal })) {
      ltxFiles.push(f);
      // With a timestamp only the existence of LTX files matters here.
      if (timestamp !== undefined) break;
    }
    if (timestamp !== undefined && ltxFiles.length > 0) break;
  }
  let ltxSnapshots: LtxFileInfo[] | undefined;
  if (timestamp !== undefined && ltxFiles.length > 0) {
    ltxSnapshots = [];
    for await (const f of client.ltxFiles(SNAPSHOT_LEVEL, 0n, { useMetadata: true, signal })) ltxSnapshots.push(f);
  }
  return { format: shouldUseV03Restore({ v03, ltxFiles, ltxSnapshots }, timestamp) ? 'v0.3' : 'ltx', v03 };
}
