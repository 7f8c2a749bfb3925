import { pageChecksum } from '../ltx/checksum.js';
import { CHECKSUM_FLAG, lockPgno } from '../ltx/constants.js';

/** Initial room in the page table; it doubles as the database grows. */
const INITIAL_CAPACITY_PAGES = 1024;

/**
 * What the replica holds at the newest TXID published: the LTX checksum of
 * every page (CRC-64 of the page number and content, as LTX defines it) and
 * their rolling XOR, the database checksum. It is updated with exactly the
 * pages of each L0 file, so it mirrors what a restore of the replica at that
 * TXID produces, and comparing it with the live database proves the replica
 * right or finds where it went wrong.
 *
 * It costs 8 bytes per database page (2 MiB per GiB of database).
 */
export class DatabaseModel {
  readonly pageSize: number;
  /** The TXID this model describes. */
  txid: bigint;
  #commit = 0;
  #sums: BigUint64Array;
  #checksum = CHECKSUM_FLAG;
  readonly #lock: number;

  constructor(pageSize: number, txid = 0n, capacity = INITIAL_CAPACITY_PAGES) {
    this.pageSize = pageSize;
    this.txid = txid;
    this.#sums = new BigUint64Array(Math.max(1, capacity));
    this.#lock = lockPgno(pageSize);
  }

  /** Database size in pages. */
  get commit(): number {
    return this.#commit;
  }

  /** The rolling database checksum (CHECKSUM_FLAG | XOR of every page checksum). */
  get checksum(): bigint {
    return this.#checksum;
  }

  /** The checksum of page `pgno`; 0n for the lock page and pages past the end. */
  pageSum(pgno: number): bigint {
    return pgno >= 1 && pgno <= this.#commit ? this.#sums[pgno - 1]! : 0n;
  }

  /** Records a page's new content, given as its checksum (pageChecksum). */
  setSum(pgno: number, sum: bigint): void {
    if (pgno === this.#lock) return;
    if (!Number.isInteger(pgno) || pgno < 1 || pgno > this.#commit) {
      throw new RangeError(`page ${pgno} is outside the modelled database of ${this.#commit} pages`);
    }
    const old = this.#sums[pgno - 1]!;
    this.#sums[pgno - 1] = sum;
    this.#checksum = CHECKSUM_FLAG | (this.#checksum ^ old ^ sum);
  }

  /** Records a page's new content. */
  setPage(pgno: number, data: Uint8Array): void {
    if (pgno === this.#lock) return;
    this.setSum(pgno, pageChecksum(pgno, data));
  }

  /**
   * Sets the database size, as a file's commit field does: pages past it are
   * dropped. Growing leaves the new pages unset (0n) until setSum; callers
   * set every page up to the new size (an L0 file that grows the database
   * carries every page above the old size).
   */
  setCommit(commit: number): void {
    if (commit < this.#commit) {
      for (let p = commit + 1; p <= this.#commit; p++) {
        const old = this.#sums[p - 1]!;
        this.#checksum = CHECKSUM_FLAG | (this.#checksum ^ old);
        this.#sums[p - 1] = 0n;
      }
      this.#commit = commit;
    } else if (commit > this.#commit) {
      this.#grow(commit);
    }
  }

  /** Pages in 1..commit (lock page excluded) that have no checksum yet: they would be missing from a restore. */
  unsetPages(limit = Infinity): number[] {
    const out: number[] = [];
    for (let p = 1; p <= this.#commit && out.length < limit; p++) {
      if (p !== this.#lock && this.#sums[p - 1] === 0n) out.push(p);
    }
    return out;
  }

  /** A copy, for holding the state of one TXID while the model moves on. */
  clone(): DatabaseModel {
    const m = new DatabaseModel(this.pageSize, this.txid, this.#commit);
    m.#sums.set(this.#sums.subarray(0, this.#commit));
    m.#commit = this.#commit;
    m.#checksum = this.#checksum;
    return m;
  }

  /** The page checksums 1..commit (a view; copy it to keep it). */
  sums(): BigUint64Array {
    return this.#sums.subarray(0, this.#commit);
  }

  /** Builds a model from page checksums 1..sums.length (lock page entry ignored). */
  static fromSums(pageSize: number, txid: bigint, sums: BigUint64Array): DatabaseModel {
    const m = new DatabaseModel(pageSize, txid, sums.length);
    m.#commit = sums.length;
    m.#sums.set(sums);
    let x = CHECKSUM_FLAG;
    for (let p = 1; p <= sums.length; p++) {
      if (p === m.#lock) {
        m.#sums[p - 1] = 0n;
        continue;
      }
      x ^= sums[p - 1]!;
    }
    m.#checksum = CHECKSUM_FLAG | x;
    return m;
  }

  #grow(commit: number): void {
    if (commit > this.#sums.length) {
      let cap = this.#sums.length;
      while (cap < commit) cap *= 2;
      const next = new BigUint64Array(cap);
      next.set(this.#sums.subarray(0, this.#commit));
      this.#sums = next;
    }
    this.#commit = commit;
  }
}

/**
 * The pages one L0 file sets, gathered while it is written and applied to
 * the model only once the file is durable. A full image starts a model of
 * its own; anything else is a delta on the model before it.
 */
export class ModelChange {
  readonly #fresh: DatabaseModel | undefined;
  readonly #pgnos: number[] = [];
  readonly #sums: bigint[] = [];

  constructor(
    readonly pageSize: number,
    readonly commit: number,
    readonly full: boolean,
  ) {
    if (full) {
      this.#fresh = new DatabaseModel(pageSize, 0n, commit);
      this.#fresh.setCommit(commit);
    }
  }

  add(pgno: number, data: Uint8Array): void {
    if (this.#fresh !== undefined) this.#fresh.setPage(pgno, data);
    else {
      this.#pgnos.push(pgno);
      this.#sums.push(pageChecksum(pgno, data));
    }
  }

  /** Pages a delta sets, in the order added. */
  get pages(): readonly number[] {
    return this.#pgnos;
  }

  /** The model after this change: `base` itself, updated (a delta), or a new one (a full image). */
  applyTo(base: DatabaseModel | null, txid: bigint): DatabaseModel {
    if (this.#fresh !== undefined) {
      this.#fresh.txid = txid;
      return this.#fresh;
    }
    if (base === null) throw new Error('a delta needs the model it applies to');
    base.setCommit(this.commit);
    for (let i = 0; i < this.#pgnos.length; i++) base.setSum(this.#pgnos[i]!, this.#sums[i]!);
    base.txid = txid;
    return base;
  }

  /**
   * Pages a delta would leave without content: those above the base's size
   * and at or below the new one that it does not carry (a restore would find
   * them missing). Empty for a full image.
   */
  holesOver(base: DatabaseModel): number[] {
    if (this.#fresh !== undefined || this.commit <= base.commit) return [];
    const lock = lockPgno(this.pageSize);
    const have = new Set(this.#pgnos);
    const out: number[] = [];
    for (let p = base.commit + 1; p <= this.commit; p++) if (p !== lock && !have.has(p)) out.push(p);
    return out;
  }
}
