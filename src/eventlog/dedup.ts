/**
 * Exact, memory-bounded duplicate detection for 21-byte event records.
 *
 * An event is a duplicate when an identical record (all 21 bytes equal) was
 * accepted less than `windowMs` earlier. Keys are the record bytes
 * themselves, so two distinct events are never confused: there are no false
 * positives, unlike a truncated-hash set.
 *
 * Entries live in two open-addressing hash tables ("generations") held in
 * typed arrays: no per-entry objects, no GC pressure, 34 bytes per slot.
 * Tables start small and double as needed, moving their entries over a few
 * at a time so that no single append pays for a whole rehash. The current generation
 * takes inserts; when it is `windowMs` old it becomes the previous one and
 * the old previous one is cleared. Each entry keeps its arrival time, so the
 * window is exact rather than "somewhere between one and two windows".
 *
 * Memory is bounded by `maxEntries` (both generations together), never by
 * the event rate. When the current generation fills up before its window has
 * passed it is rotated early, dropping the previous generation: from then on
 * a duplicate of a dropped event is stored again (fail-open). A distinct
 * event is never reported as a duplicate.
 */

export const DEFAULT_DEDUP_WINDOW_MS = 30_000;
export const DEFAULT_DEDUP_MAX_ENTRIES = 1_000_000;
/** Smallest table allocated; tables double up to what `maxEntries` needs. */
const MIN_CAPACITY = 1024;
/** Highest fill ratio before a table grows; linear probing degrades past ~0.8. */
const MAX_LOAD = 0.75;
/**
 * A slot is 32 bytes: the 21-byte key as five full little-endian words plus
 * the last byte, then the arrival time as a float64, so key and time share a
 * cache line. A separate array of 16-bit tags (derived from the hash, never
 * 0) marks occupied slots; probes walk the tags, which are small enough to
 * stay in cache, and touch a slot only when its tag matches. A new event, the
 * common case, therefore usually costs no cache miss to look up, and clearing
 * a generation only clears the tags.
 */
const SLOT_WORDS = 8;
const TIME_INDEX = 3; // float64 index within a slot (bytes 24..32)
/**
 * Old-table slots moved per operation while a table grows. Growing doubles
 * the table, so the move finishes long before the new table can fill, and no
 * single operation rehashes more than this many entries.
 */
const MIGRATE_PER_OP = 64;

function nextPow2(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

function tagOf(h: number): number {
  return (Math.imul(h, 0x9e3779b1) >>> 16) | 1;
}

class Table {
  readonly tags: Uint16Array;
  readonly slots: Uint32Array;
  readonly times: Float64Array;

  constructor(readonly capacity: number) {
    const buffer = new ArrayBuffer(capacity * SLOT_WORDS * 4);
    this.tags = new Uint16Array(capacity);
    this.slots = new Uint32Array(buffer);
    this.times = new Float64Array(buffer);
  }

  get bytes(): number {
    return this.slots.byteLength + this.tags.byteLength;
  }

  /** Slot index holding the key, or -(insertion slot + 1) when absent. */
  find(h: number, w0: number, w1: number, w2: number, w3: number, w4: number, w5: number): number {
    const mask = this.capacity - 1;
    const tags = this.tags;
    const slots = this.slots;
    const tag = tagOf(h);
    let slot = h & mask;
    for (;;) {
      const t = tags[slot]!;
      if (t === 0) return -slot - 1;
      if (t === tag) {
        const k = slot * SLOT_WORDS;
        if (
          slots[k] === w0 &&
          slots[k + 1] === w1 &&
          slots[k + 2] === w2 &&
          slots[k + 3] === w3 &&
          slots[k + 4] === w4 &&
          slots[k + 5] === w5
        ) {
          return slot;
        }
      }
      slot = (slot + 1) & mask;
    }
  }

  timeAt(slot: number): number {
    return this.times[slot * (SLOT_WORDS / 2) + TIME_INDEX]!;
  }

  setTime(slot: number, at: number): void {
    this.times[slot * (SLOT_WORDS / 2) + TIME_INDEX] = at;
  }

  put(slot: number, h: number, w0: number, w1: number, w2: number, w3: number, w4: number, w5: number, at: number): void {
    const k = slot * SLOT_WORDS;
    const slots = this.slots;
    slots[k] = w0;
    slots[k + 1] = w1;
    slots[k + 2] = w2;
    slots[k + 3] = w3;
    slots[k + 4] = w4;
    slots[k + 5] = w5;
    this.setTime(slot, at);
    this.tags[slot] = tagOf(h);
  }

  /** Copies the entry in `from[slot]` into this table unless it is already here. */
  adopt(from: Table, slot: number): void {
    const k = slot * SLOT_WORDS;
    const s = from.slots;
    const w0 = s[k]!;
    const w1 = s[k + 1]!;
    const w2 = s[k + 2]!;
    const w3 = s[k + 3]!;
    const w4 = s[k + 4]!;
    const w5 = s[k + 5]!;
    const h = hashWords(w0, w1, w2, w3, w4, w5);
    const at = this.find(h, w0, w1, w2, w3, w4, w5);
    if (at < 0) this.put(-at - 1, h, w0, w1, w2, w3, w4, w5, from.timeAt(slot));
  }
}

/**
 * One generation: a table, plus (while it grows) the previous, smaller table
 * whose entries are being moved over a few at a time.
 */
class Generation {
  table: Table;
  private old: Table | null = null;
  private cursor = 0;
  /** Entries held, wherever they are. */
  count = 0;
  epochMs: number;

  constructor(capacity: number, epochMs: number) {
    this.table = new Table(capacity);
    this.epochMs = epochMs;
  }

  get bytes(): number {
    return this.table.bytes + (this.old?.bytes ?? 0);
  }

  reset(epochMs: number): void {
    if (this.count > 0) this.table.tags.fill(0);
    this.old = null;
    this.count = 0;
    this.epochMs = epochMs;
  }

  /** Slot of the key in `table` (moving it there from the old table if needed), or -(insertion slot + 1). */
  find(h: number, w0: number, w1: number, w2: number, w3: number, w4: number, w5: number): number {
    const slot = this.table.find(h, w0, w1, w2, w3, w4, w5);
    if (slot >= 0 || this.old === null) return slot;
    const inOld = this.old.find(h, w0, w1, w2, w3, w4, w5);
    if (inOld < 0) return slot;
    this.table.put(-slot - 1, h, w0, w1, w2, w3, w4, w5, this.old.timeAt(inOld));
    return -slot - 1;
  }

  insert(slot: number, h: number, w0: number, w1: number, w2: number, w3: number, w4: number, w5: number, at: number): void {
    this.table.put(slot, h, w0, w1, w2, w3, w4, w5, at);
    this.count++;
  }

  /** Starts growing into a table twice the size. */
  grow(): void {
    if (this.old) this.migrate(this.old.capacity);
    this.old = this.table;
    this.cursor = 0;
    this.table = new Table(this.old.capacity * 2);
  }

  /** Moves up to `n` slots' worth of the old table. */
  migrate(n: number): void {
    const old = this.old;
    if (!old) return;
    const end = Math.min(old.capacity, this.cursor + n);
    for (let s = this.cursor; s < end; s++) if (old.tags[s] !== 0) this.table.adopt(old, s);
    this.cursor = end;
    if (end === old.capacity) this.old = null;
  }

  get migrating(): boolean {
    return this.old !== null;
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
  private readonly maxCapacity: number;
  private cur: Generation;
  private prev: Generation;
  /** Times the current generation was rotated early because it was full. */
  earlyRotations = 0;

  /** `windowMs` 0 disables deduplication. */
  constructor(windowMs: number, maxEntries: number, nowMs: number) {
    this.windowMs = windowMs;
    this.maxEntries = maxEntries;
    this.perGeneration = Math.max(1, Math.floor(maxEntries / 2));
    this.maxCapacity = nextPow2(Math.ceil(this.perGeneration / MAX_LOAD) + 1);
    this.cur = new Generation(MIN_CAPACITY, nowMs);
    this.prev = new Generation(MIN_CAPACITY, nowMs - windowMs);
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

    if (this.cur.migrating) this.cur.migrate(MIGRATE_PER_OP);
    if (this.prev.migrating) this.prev.migrate(MIGRATE_PER_OP);

    const inCur = this.cur.find(h, w0, w1, w2, w3, w4, w5);
    if (inCur >= 0) {
      const t = this.cur.table.timeAt(inCur);
      if (nowMs - t < window) {
        if (!report && at > t) this.cur.table.setTime(inCur, at);
        return report;
      }
      this.cur.table.setTime(inCur, at);
      return false;
    }
    if (this.prev.count > 0) {
      const inPrev = this.prev.find(h, w0, w1, w2, w3, w4, w5);
      if (inPrev >= 0 && nowMs - this.prev.table.timeAt(inPrev) < window) return report;
    }

    let cur = this.cur;
    let slot = -inCur - 1;
    if (cur.count >= this.perGeneration) {
      this.earlyRotations++;
      this.rotate(nowMs);
      cur = this.cur;
      slot = -cur.find(h, w0, w1, w2, w3, w4, w5) - 1;
    } else if (cur.count + 1 > cur.table.capacity * MAX_LOAD && cur.table.capacity < this.maxCapacity) {
      cur.grow();
      slot = -cur.find(h, w0, w1, w2, w3, w4, w5) - 1;
    }
    cur.insert(slot, h, w0, w1, w2, w3, w4, w5, at);
    return false;
  }
}
