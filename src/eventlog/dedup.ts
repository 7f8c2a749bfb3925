/**
 * Exact, memory-bounded duplicate detection for 21-byte event records.
 *
 * An event is a duplicate when an identical record (all 21 bytes equal) was
 * accepted less than `windowMs` earlier. Keys are the record bytes
 * themselves, so two distinct events are never confused: there are no false
 * positives, unlike a truncated-hash set.
 *
 * Entries live in two "generations". The current one takes inserts; when it
 * is `windowMs` old it becomes the previous one and the old previous one is
 * cleared. Each entry keeps its arrival time, so the window is exact rather
 * than "somewhere between one and two windows".
 *
 * Memory is bounded by `maxEntries` (both generations together), never by
 * the event rate. When the current generation fills up before its window has
 * passed it is rotated early, dropping the previous generation: from then on
 * a duplicate of a dropped event is stored again (fail-open). A distinct
 * event is never reported as a duplicate.
 */

export const DEFAULT_DEDUP_WINDOW_MS = 30_000;
export const DEFAULT_DEDUP_MAX_ENTRIES = 1_000_000;
/** Highest fill ratio of an index; linear probing degrades past ~0.8. */
const MAX_LOAD = 0.75;
/**
 * A generation keeps its entries in arrival order, 32 bytes each: the 21-byte
 * key as five little-endian words plus the last byte, then the arrival time
 * as a float64. Appending there is sequential. The hash index over them is
 * one 32-bit word per slot (entry number + 1 in the low bits, a tag from the
 * hash in the high bits), sized once for the generation's bound. A new event,
 * the common case, so touches one random word per generation instead of a
 * whole 32-byte slot, and tables never grow or rehash while the log runs.
 */
const ENTRY_WORDS = 8;
const TIME_INDEX = 3; // float64 index within an entry (bytes 24..32)
/** Entries are stored in chunks of this many, allocated as the generation fills. */
const CHUNK_BITS = 14;
const CHUNK_ENTRIES = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_ENTRIES - 1;
/** Below count * this < capacity, a reset clears only the used slots instead of the whole index. */
const SPARSE_CLEAR_FACTOR = 16;

function nextPow2(n: number): number {
  let c = 1024;
  while (c < n) c *= 2;
  return c;
}

function bitsFor(n: number): number {
  let b = 1;
  while (2 ** b <= n) b++;
  return b;
}

class Generation {
  private readonly index: Uint32Array;
  private readonly mask: number;
  /** Low bits of an index word holding entry number + 1; the rest is the tag. */
  private readonly entryBits: number;
  private readonly entryMask: number;
  private readonly words: Uint32Array[] = [];
  private readonly times: Float64Array[] = [];
  private readonly maxEntries: number;
  private storedEntries = 0;
  count = 0;
  epochMs: number;

  constructor(maxEntries: number, epochMs: number) {
    this.maxEntries = maxEntries;
    const capacity = nextPow2(Math.ceil(maxEntries / MAX_LOAD) + 1);
    this.index = new Uint32Array(capacity);
    this.mask = capacity - 1;
    this.entryBits = bitsFor(maxEntries);
    this.entryMask = 2 ** this.entryBits - 1;
    this.epochMs = epochMs;
  }

  get bytes(): number {
    return this.index.byteLength + this.storedEntries * ENTRY_WORDS * 4;
  }

  private tagOf(h: number): number {
    return Math.imul(h, 0x9e3779b1) >>> this.entryBits;
  }

  /** Entry number holding the key, or -(free slot + 1) when absent. */
  find(h: number, w0: number, w1: number, w2: number, w3: number, w4: number, w5: number): number {
    const index = this.index;
    const mask = this.mask;
    const bits = this.entryBits;
    const tag = this.tagOf(h);
    let slot = h & mask;
    for (;;) {
      const v = index[slot]!;
      if (v === 0) return -slot - 1;
      if (v >>> bits === tag) {
        const e = (v & this.entryMask) - 1;
        const w = this.words[e >>> CHUNK_BITS]!;
        const k = (e & CHUNK_MASK) * ENTRY_WORDS;
        if (w[k] === w0 && w[k + 1] === w1 && w[k + 2] === w2 && w[k + 3] === w3 && w[k + 4] === w4 && w[k + 5] === w5) {
          return e;
        }
      }
      slot = (slot + 1) & mask;
    }
  }

  timeAt(e: number): number {
    return this.times[e >>> CHUNK_BITS]![(e & CHUNK_MASK) * (ENTRY_WORDS / 2) + TIME_INDEX]!;
  }

  setTime(e: number, at: number): void {
    this.times[e >>> CHUNK_BITS]![(e & CHUNK_MASK) * (ENTRY_WORDS / 2) + TIME_INDEX] = at;
  }

  /** Adds the key at free slot `slot` (from find) as arriving at `at`. */
  insert(slot: number, h: number, w0: number, w1: number, w2: number, w3: number, w4: number, w5: number, at: number): void {
    const e = this.count++;
    const c = e >>> CHUNK_BITS;
    if (c === this.words.length) {
      // The last chunk holds only what the bound leaves, so small bounds stay small.
      const entries = Math.min(CHUNK_ENTRIES, this.maxEntries - c * CHUNK_ENTRIES);
      this.storedEntries += entries;
      const buffer = new ArrayBuffer(entries * ENTRY_WORDS * 4);
      this.words.push(new Uint32Array(buffer));
      this.times.push(new Float64Array(buffer));
    }
    const w = this.words[c]!;
    const k = (e & CHUNK_MASK) * ENTRY_WORDS;
    w[k] = w0;
    w[k + 1] = w1;
    w[k + 2] = w2;
    w[k + 3] = w3;
    w[k + 4] = w4;
    w[k + 5] = w5;
    this.times[c]![(e & CHUNK_MASK) * (ENTRY_WORDS / 2) + TIME_INDEX] = at;
    this.index[slot] = ((this.tagOf(h) << this.entryBits) | (e + 1)) >>> 0;
  }

  /** Forgets every entry; the entry chunks are kept for reuse. */
  reset(epochMs: number): void {
    if (this.count > 0) {
      if (this.count * SPARSE_CLEAR_FACTOR < this.index.length) this.clearUsedSlots();
      else this.index.fill(0);
    }
    this.count = 0;
    this.epochMs = epochMs;
  }

  /**
   * Zeroes the slot of each entry, found again from its key. Clearing a few
   * slots this way touches only their pages of a large, mostly unused index.
   */
  private clearUsedSlots(): void {
    const slots: number[] = [];
    for (let e = 0; e < this.count; e++) {
      const w = this.words[e >>> CHUNK_BITS]!;
      const k = (e & CHUNK_MASK) * ENTRY_WORDS;
      const h = hashWords(w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!, w[k + 4]!, w[k + 5]!);
      let slot = h & this.mask;
      while ((this.index[slot]! & this.entryMask) !== e + 1) slot = (slot + 1) & this.mask;
      slots.push(slot);
    }
    // Zeroed only after all are found, so that no probe chain is cut short while searching.
    for (const slot of slots) this.index[slot] = 0;
  }
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3-style mixing of the six key words; only spreads keys over slots, equality is exact. */
function hashWords(w0: number, w1: number, w2: number, w3: number, w4: number, w5: number): number {
  let h = mix(mix(mix(mix(mix(mix(0x2545f491, w0), w1), w2), w3), w4), w5);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class DedupIndex {
  readonly windowMs: number;
  readonly maxEntries: number;
  private readonly perGeneration: number;
  private cur: Generation;
  private prev: Generation;
  /** Times the current generation was rotated early because it was full. */
  earlyRotations = 0;

  /** `windowMs` 0 disables deduplication. */
  constructor(windowMs: number, maxEntries: number, nowMs: number) {
    this.windowMs = windowMs;
    this.maxEntries = maxEntries;
    this.perGeneration = Math.max(1, Math.floor(maxEntries / 2));
    // A disabled index never stores anything, so it needs no tables.
    const perGeneration = windowMs > 0 ? this.perGeneration : 1;
    this.cur = new Generation(perGeneration, nowMs);
    this.prev = new Generation(perGeneration, nowMs - windowMs);
  }

  get enabled(): boolean {
    return this.windowMs > 0;
  }

  /** Entries currently held (both generations, including expired ones not yet dropped). */
  get size(): number {
    return this.cur.count + this.prev.count;
  }

  /** Bytes held by the tables. */
  get memoryBytes(): number {
    return this.cur.bytes + this.prev.bytes;
  }

  /**
   * Returns true when the 21-byte record at `view[offset]` is a duplicate at
   * time `nowMs`; otherwise remembers it as accepted at `nowMs` and returns false.
   */
  checkAndInsert(view: DataView, offset: number, nowMs: number): boolean {
    return this.lookup(view, offset, nowMs, nowMs, true);
  }

  /**
   * Remembers a record accepted at `acceptedAtMs` (in the past) without
   * reporting anything: used to rebuild the window from the log on open.
   */
  remember(view: DataView, offset: number, acceptedAtMs: number, nowMs: number): void {
    if (nowMs - acceptedAtMs >= this.windowMs) return;
    this.lookup(view, offset, acceptedAtMs, nowMs, false);
  }

  private rotate(nowMs: number): void {
    const old = this.prev;
    this.prev = this.cur;
    old.reset(nowMs);
    this.cur = old;
  }

  private lookup(view: DataView, offset: number, at: number, nowMs: number, report: boolean): boolean {
    if (this.windowMs <= 0) return false;
    const age = nowMs - this.cur.epochMs;
    if (age >= this.windowMs) {
      this.rotate(nowMs);
      if (age >= 2 * this.windowMs) this.prev.reset(nowMs - this.windowMs);
    }
    const w0 = view.getUint32(offset, true);
    const w1 = view.getUint32(offset + 4, true);
    const w2 = view.getUint32(offset + 8, true);
    const w3 = view.getUint32(offset + 12, true);
    const w4 = view.getUint32(offset + 16, true);
    const w5 = view.getUint8(offset + 20);
    const h = hashWords(w0, w1, w2, w3, w4, w5);
    const window = this.windowMs;

    const inCur = this.cur.find(h, w0, w1, w2, w3, w4, w5);
    if (inCur >= 0) {
      const t = this.cur.timeAt(inCur);
      if (nowMs - t < window) {
        if (!report && at > t) this.cur.setTime(inCur, at);
        return report;
      }
      this.cur.setTime(inCur, at);
      return false;
    }
    if (this.prev.count > 0) {
      const inPrev = this.prev.find(h, w0, w1, w2, w3, w4, w5);
      if (inPrev >= 0 && nowMs - this.prev.timeAt(inPrev) < window) return report;
    }

    let cur = this.cur;
    let slot = -inCur - 1;
    if (cur.count >= this.perGeneration) {
      this.earlyRotations++;
      this.rotate(nowMs);
      cur = this.cur;
      slot = -cur.find(h, w0, w1, w2, w3, w4, w5) - 1;
    }
    cur.insert(slot, h, w0, w1, w2, w3, w4, w5, at);
    return false;
  }
}
