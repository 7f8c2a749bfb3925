/**
 * The checker's model: the expected state hash after every seq, and a way to
 * rebuild the full expected state at any seq for a failure's diagnostics.
 * Sized for long soaks: 8 bytes per seq, and a bounded number of snapshots.
 */
import { Model, type ModelSnapshot } from './model.js';
import type { WorkloadConfig } from './schema.js';

/** A snapshot of the model is kept this often, so rebuilding a recent state replays at most this many transactions. */
const SNAPSHOT_EVERY_SEQS = 1000;
/** Snapshots kept besides seq 0's (older states, needed only to diff old TXIDs, replay from seq 0). */
const MAX_SNAPSHOTS = 32;
const INITIAL_CAPACITY = 1 << 16;

export class ModelHistory {
  readonly model: Model;
  #hashes = new BigUint64Array(INITIAL_CAPACITY);
  readonly #snapshots = new Map<number, ModelSnapshot>();

  constructor(readonly cfg: WorkloadConfig) {
    this.model = Model.initial(cfg, true);
    this.#hashes[0] = this.model.hash;
    this.#snapshots.set(0, this.model.toSnapshot());
  }

  get seq(): number {
    return this.model.seq;
  }

  /** Replays the model to `seq`, recording the hash after each transaction. */
  advanceTo(seq: number): void {
    while (this.model.seq < seq) {
      this.model.advanceTo(this.model.seq + 1);
      const s = this.model.seq;
      if (s >= this.#hashes.length) {
        const bigger = new BigUint64Array(this.#hashes.length * 2);
        bigger.set(this.#hashes);
        this.#hashes = bigger;
      }
      this.#hashes[s] = this.model.hash;
      if (s % SNAPSHOT_EVERY_SEQS === 0) this.#keepSnapshot(s);
    }
  }

  hashAt(seq: number): bigint {
    if (seq < 0 || seq > this.model.seq) throw new Error(`no model hash for seq ${seq} (model is at ${this.model.seq})`);
    return this.#hashes[seq]!;
  }

  /** The newest seq whose state has this hash, if any (a scan: only failures ask). */
  seqWithHash(hash: bigint): number | undefined {
    for (let s = this.model.seq; s >= 0; s--) if (this.#hashes[s] === hash) return s;
    return undefined;
  }

  /** The full expected state after `seq` (for diagnostics; replays from the nearest snapshot kept). */
  modelAt(seq: number): Model {
    this.advanceTo(seq);
    let base = 0;
    for (const s of this.#snapshots.keys()) if (s <= seq && s > base) base = s;
    const m = Model.fromSnapshot(this.cfg, this.#snapshots.get(base)!, true);
    m.advanceTo(seq);
    return m;
  }

  #keepSnapshot(seq: number): void {
    this.#snapshots.set(seq, this.model.toSnapshot());
    if (this.#snapshots.size > MAX_SNAPSHOTS + 1) {
      let oldest = Infinity;
      for (const s of this.#snapshots.keys()) if (s > 0 && s < oldest) oldest = s;
      this.#snapshots.delete(oldest);
    }
  }
}
