import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';

/** Compaction and snapshot levels looked at when L0 is empty, to find where a replica stands. */
const HIGHER_LEVELS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/**
 * The newest TXID the replica holds: the highest MaxTXID of its L0 files, or,
 * when L0 is empty, of any level (compaction and retention may have removed
 * every L0 file, but never the TXIDs the higher levels hold). 0 for an
 * empty replica.
 */
export async function replicaMaxTxid(client: ReplicaClient, signal?: AbortSignal): Promise<bigint> {
  const l0 = await replicaNewestL0(client, signal);
  if (l0 !== undefined) return l0.maxTxid;
  return maxTxidOfLevels(client, HIGHER_LEVELS, signal);
}

/** The highest MaxTXID of any level; 0 for an empty replica. Lists every level: for when L0 alone looks wrong. */
export function replicaMaxTxidAllLevels(client: ReplicaClient, signal?: AbortSignal): Promise<bigint> {
  return maxTxidOfLevels(client, [0, ...HIGHER_LEVELS], signal);
}

/** The replica's L0 file with the highest MaxTXID; undefined when it has none. */
export async function replicaNewestL0(client: ReplicaClient, signal?: AbortSignal): Promise<LtxFileInfo | undefined> {
  let max: LtxFileInfo | undefined;
  for await (const f of client.ltxFiles(0, 0n, signal === undefined ? {} : { signal })) if (max === undefined || f.maxTxid > max.maxTxid) max = f;
  return max;
}

async function maxTxidOfLevels(client: ReplicaClient, levels: readonly number[], signal: AbortSignal | undefined): Promise<bigint> {
  let max = 0n;
  for (const level of levels) {
    for await (const f of client.ltxFiles(level, 0n, signal === undefined ? {} : { signal })) if (f.maxTxid > max) max = f.maxTxid;
  }
  return max;
}

/** What a listing of the replica showed, compared with what was uploaded to it. */
export type PositionCheck =
  /** The first listing: the position is now known. */
  | { readonly kind: 'first'; readonly newest: LtxFileInfo | undefined }
  /** The replica holds what was uploaded (or more of it: an upload that failed landed after all). */
  | { readonly kind: 'current'; readonly newest: LtxFileInfo | undefined }
  /** Fewer TXIDs than were uploaded: files were deleted behind the replicator's back. The position is left as uploaded. */
  | { readonly kind: 'behind'; readonly newest: LtxFileInfo | undefined; readonly listed: bigint; readonly uploaded: bigint }
  /** TXIDs never uploaded from here: another writer's. The position is left as it was. */
  | { readonly kind: 'ahead'; readonly newest: LtxFileInfo | undefined; readonly listed: bigint; readonly ours: bigint };

/**
 * Where one replica stands: the newest TXID it is known to hold. The one
 * place that knows it; the uploader, the replicator's status, local L0
 * pruning and compaction's caches read it from here. It moves only through
 * what happened to the replica: a listing, an upload, a position taken over
 * after a re-baseline or a snapshot.
 */
export class ReplicaPosition {
  readonly client: ReplicaClient;
  /** Undefined until the replica is first listed or a position is taken over. */
  #known: bigint | undefined;
  /** The highest TXID an upload was started for: it may be on the replica even when the call failed. */
  #attempted = 0n;
  #checkedAt = -Infinity;
  readonly #listeners = new Set<(txid: bigint) => void>();

  constructor(client: ReplicaClient) {
    this.client = client;
  }

  /** The replica's TXID as last seen; 0 until first known. */
  get txid(): bigint {
    return this.#known ?? 0n;
  }

  get known(): boolean {
    return this.#known !== undefined;
  }

  /** The highest TXID that may be on the replica because of this replicator: uploaded, or attempted. */
  get ours(): bigint {
    const known = this.#known ?? 0n;
    return this.#attempted > known ? this.#attempted : known;
  }

  /** Whether a listing is due: never listed, marked stale, or last listed more than `intervalMs` ago. */
  checkDue(intervalMs: number, now = Date.now()): boolean {
    return this.#known === undefined || now - this.#checkedAt >= intervalMs;
  }

  /** Lists the replica again before the next upload. */
  markStale(): void {
    this.#checkedAt = -Infinity;
  }

  /** Called with the new TXID each time the position moves. */
  onChange(listener: (txid: bigint) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The replica's newest TXID at any level, listed now; the position does not move (see adopt). */
  list(signal?: AbortSignal): Promise<bigint> {
    return replicaMaxTxid(this.client, signal);
  }

  /**
   * Lists where the replica stands and compares it with what was uploaded;
   * `localTxid` is the newest TXID there is locally, so a replica past it is
   * another writer's.
   */
  async check(localTxid: bigint, signal?: AbortSignal): Promise<PositionCheck> {
    const newest = await replicaNewestL0(this.client, signal);
    let listed = newest?.maxTxid ?? (this.#known === undefined ? await replicaMaxTxid(this.client, signal) : 0n);
    // A replica brought up to date by a snapshot has no L0 file at that TXID yet; the higher levels tell.
    if (this.#known !== undefined && listed < this.#known) listed = await replicaMaxTxidAllLevels(this.client, signal);
    this.#checkedAt = Date.now();
    if (this.#known === undefined) {
      if (listed > this.#attempted) this.#attempted = listed;
      this.#move(listed);
      return { kind: 'first', newest };
    }
    const ours = this.ours;
    if (listed > ours || listed > localTxid) return { kind: 'ahead', newest, listed, ours };
    if (listed < this.#known) return { kind: 'behind', newest, listed, uploaded: this.#known };
    this.#move(listed);
    return { kind: 'current', newest };
  }

  /** An upload of `txid` is starting. */
  attempting(txid: bigint): void {
    if (txid > this.#attempted) this.#attempted = txid;
  }

  /** The replica acknowledged `txid`. */
  uploaded(txid: bigint): void {
    this.#move(txid);
  }

  /** An upload failed: the file may be on the replica all the same, so the next pass lists first. */
  uploadFailed(): void {
    this.markStale();
  }

  /** Takes `txid` as the replica's position (after a re-baseline or a catch-up with a replica that was ahead). */
  adopt(txid: bigint): void {
    if (txid > this.#attempted) this.#attempted = txid;
    this.#checkedAt = Date.now();
    this.#move(txid);
  }

  #move(txid: bigint): void {
    this.#known = txid;
    for (const l of this.#listeners) l(txid);
  }
}
