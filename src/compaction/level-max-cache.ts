import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';

/**
 * The newest file (highest MaxTXID) of each level, as last written or
 * listed. With it, a compaction check on an idle database makes no replica
 * request at all: compaction notes each file it writes, the replicator notes
 * each L0 upload, and "nothing new" is decided from memory.
 *
 * L0 is written by the replicator, not by compaction, so a listing of L0 is
 * never cached: its entry comes only from note() calls, and a replicator
 * that does not note its uploads gets a listing per check instead of a stale
 * answer. Retention never changes a level's newest file. Clear the cache
 * when the replica is changed behind its back (reset, deleteAll).
 */
export class LevelMaxCache {
  readonly #byLevel = new Map<number, LtxFileInfo>();

  get(level: number): LtxFileInfo | undefined {
    return this.#byLevel.get(level);
  }

  /** Records a file written to a level; an older one than what is known is ignored. */
  note(info: LtxFileInfo): void {
    const cur = this.#byLevel.get(info.level);
    if (cur === undefined || info.maxTxid >= cur.maxTxid) this.#byLevel.set(info.level, info);
  }

  /** Forgets one level, or every level. */
  clear(level?: number): void {
    if (level === undefined) this.#byLevel.clear();
    else this.#byLevel.delete(level);
  }
}

/** The file with the highest MaxTXID on a level (from the cache when it knows), or undefined for an empty level. */
export async function maxFileInfo(
  client: ReplicaClient,
  level: number,
  opts: { cache?: LevelMaxCache | undefined; signal?: AbortSignal | undefined } = {},
): Promise<LtxFileInfo | undefined> {
  const cached = opts.cache?.get(level);
  if (cached !== undefined) return cached;
  let max: LtxFileInfo | undefined;
  for await (const f of client.ltxFiles(level, 0n, opts.signal === undefined ? {} : { signal: opts.signal })) {
    if (max === undefined || f.maxTxid > max.maxTxid) max = f;
  }
  if (max !== undefined && level !== 0) opts.cache?.note(max);
  return max;
}

/** Every file of a level, in listing order (ascending MinTXID, MaxTXID). Metadata only. */
export async function listLevel(client: ReplicaClient, level: number, seek = 0n, signal?: AbortSignal): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for await (const f of client.ltxFiles(level, seek, signal === undefined ? {} : { signal })) out.push(f);
  return out;
}
