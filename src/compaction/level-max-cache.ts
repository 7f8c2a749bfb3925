import { MAX_COMPACTION_LEVEL } from './compaction-levels.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';

export interface LevelMaxCacheOptions {
  /**
   * The replica's newest L0 TXID as the replicator knows it (its upload
   * position, e.g. `() => replicator.status().replicatedTxid`); 0 or
   * undefined when it does not know.
   */
  readonly l0MaxTxid?: () => bigint | undefined;
}

/** What a retention run found, so that the next run can tell nothing has changed. */
export interface RetentionMemo {
  /** The newest TXIDs of the levels the run depended on, as known when it started. */
  readonly key: string;
  /** From this time on, files may have aged into deletion: run again. */
  readonly recheckAt: number;
}

/**
 * The newest file (highest MaxTXID) of each level, as last written or
 * listed, so that checks on an idle database make no replica request:
 * compaction notes each file it writes, and "nothing new" is decided from
 * memory. Levels 1..8 are written by compaction alone, so an empty listing
 * of one is remembered too.
 *
 * L0 is the replicator's to write, so a listing of L0 is never cached. The
 * newest L0 TXID is known only from the `l0MaxTxid` option or from note()
 * calls for each upload; without either, L0 is listed when needed (or
 * bounded by the local copies) rather than answered from a stale entry that
 * would stall compaction. Retention keeps each level's newest file, so it
 * never makes an entry stale. Clear the cache when the replica is changed
 * behind its back (reset, deleteAll).
 */
export class LevelMaxCache {
  readonly #byLevel = new Map<number, LtxFileInfo>();
  readonly #empty = new Set<number>();
  readonly #l0MaxTxid: (() => bigint | undefined) | undefined;
  readonly #memos = new Map<string, RetentionMemo>();

  constructor(options: LevelMaxCacheOptions = {}) {
    this.#l0MaxTxid = options.l0MaxTxid;
  }

  get(level: number): LtxFileInfo | undefined {
    return this.#byLevel.get(level);
  }

  /** Records a file written to a level; an older one than what is known is ignored. */
  note(info: LtxFileInfo): void {
    const cur = this.#byLevel.get(info.level);
    if (cur === undefined || info.maxTxid >= cur.maxTxid) this.#byLevel.set(info.level, info);
    this.#empty.delete(info.level);
  }

  /** Records that a compaction level (1..8) was listed empty; other levels are not remembered empty. */
  noteEmpty(level: number): void {
    if (level >= 1 && level <= MAX_COMPACTION_LEVEL && !this.#byLevel.has(level)) this.#empty.add(level);
  }

  /** The newest MaxTXID of a level when known without asking the replica (0 for a level known empty). */
  knownMaxTxid(level: number): bigint | undefined {
    const noted = this.#byLevel.get(level)?.maxTxid;
    if (level === 0) {
      const position = this.#l0MaxTxid?.();
      if (position !== undefined && position > 0n) return noted !== undefined && noted > position ? noted : position;
      return noted;
    }
    return noted ?? (this.#empty.has(level) ? 0n : undefined);
  }

  memo(name: string): RetentionMemo | undefined {
    return this.#memos.get(name);
  }

  setMemo(name: string, memo: RetentionMemo | undefined): void {
    if (memo === undefined) this.#memos.delete(name);
    else this.#memos.set(name, memo);
  }

  /** Forgets one level, or everything. */
  clear(level?: number): void {
    this.#memos.clear();
    if (level === undefined) {
      this.#byLevel.clear();
      this.#empty.clear();
    } else {
      this.#byLevel.delete(level);
      this.#empty.delete(level);
    }
  }
}

/** The file with the highest MaxTXID on a level (from the cache when it knows), or undefined for an empty level. */
export async function maxFileInfo(
  client: ReplicaClient,
  level: number,
  opts: { cache?: LevelMaxCache | undefined; signal?: AbortSignal | undefined } = {},
): Promise<LtxFileInfo | undefined> {
  const { cache } = opts;
  const cached = cache?.get(level);
  if (cached !== undefined && level !== 0) return cached;
  if (cache?.knownMaxTxid(level) === 0n) return undefined;
  const max = maxOfListing(await listLevel(client, level, 0n, opts.signal));
  if (level !== 0) {
    if (max === undefined) cache?.noteEmpty(level);
    else cache?.note(max);
  }
  return max;
}

/** The newest MaxTXID of a level: from the cache when it knows, otherwise listed (0 for an empty level). */
export async function maxTxidOf(
  client: ReplicaClient,
  level: number,
  opts: { cache?: LevelMaxCache | undefined; signal?: AbortSignal | undefined } = {},
): Promise<bigint> {
  return opts.cache?.knownMaxTxid(level) ?? (await maxFileInfo(client, level, opts))?.maxTxid ?? 0n;
}

/** Notes what a full listing of a level showed (levels 1.. only; L0 listings are never cached). */
export function noteListing(cache: LevelMaxCache | undefined, level: number, files: readonly LtxFileInfo[]): void {
  if (cache === undefined || level === 0) return;
  const max = maxOfListing(files);
  if (max === undefined) cache.noteEmpty(level);
  else cache.note(max);
}

function maxOfListing(files: readonly LtxFileInfo[]): LtxFileInfo | undefined {
  let max: LtxFileInfo | undefined;
  for (const f of files) if (max === undefined || f.maxTxid > max.maxTxid) max = f;
  return max;
}

/** Every file of a level, in listing order (ascending MinTXID, MaxTXID). Metadata only. */
export async function listLevel(client: ReplicaClient, level: number, seek = 0n, signal?: AbortSignal): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for await (const f of client.ltxFiles(level, seek, signal === undefined ? {} : { signal })) out.push(f);
  return out;
}
