/**
 * xxHash32 over data that arrives in pieces: the LZ4 content checksum of a
 * frame that may hold gigabytes (a v0.3 snapshot is the whole database),
 * which the one-shot xxh32 in src/ltx cannot cover without the whole input in
 * memory. Gives the same value as xxh32() over the concatenated pieces.
 */

const PRIME1 = 0x9e3779b1 | 0;
const PRIME2 = 0x85ebca77 | 0;
const PRIME3 = 0xc2b2ae3d | 0;
const PRIME4 = 0x27d4eb2f | 0;
const PRIME5 = 0x165667b1 | 0;

/** Bytes consumed by one round of the four accumulators. */
const STRIPE = 16;
const WORD = 4;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, word: number): number {
  return Math.imul(rotl((acc + Math.imul(word, PRIME2)) | 0, 13), PRIME1);
}

export class Xxh32Stream {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private readonly seed: number;
  /** Total bytes hashed, modulo 2^32 as the algorithm adds it. */
  private length = 0;
  /** Whether at least one whole stripe went through the accumulators. */
  private large = false;
  /** Bytes of an unfinished stripe. */
  private readonly tail = new Uint8Array(STRIPE);
  private tailLen = 0;
  private readonly tailView = new DataView(this.tail.buffer);

  constructor(seed = 0) {
    this.seed = seed | 0;
    this.v1 = (((this.seed + PRIME1) | 0) + PRIME2) | 0;
    this.v2 = (this.seed + PRIME2) | 0;
    this.v3 = this.seed;
    this.v4 = (this.seed - PRIME1) | 0;
  }

  update(buf: Uint8Array, start = 0, end: number = buf.length): this {
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= buf.length)) {
      throw new RangeError(`Xxh32Stream.update: invalid range [${start}, ${end}) for a buffer of ${buf.length} bytes`);
    }
    this.length = (this.length + (end - start)) | 0;
    let p = start;
    if (this.tailLen > 0) {
      const take = Math.min(STRIPE - this.tailLen, end - p);
      this.tail.set(buf.subarray(p, p + take), this.tailLen);
      this.tailLen += take;
      p += take;
      if (this.tailLen < STRIPE) return this;
      this.stripe(this.tailView, 0);
      this.tailLen = 0;
    }
    if (end - p >= STRIPE) {
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const last = end - STRIPE;
      let { v1, v2, v3, v4 } = this;
      while (p <= last) {
        v1 = round(v1, view.getInt32(p, true));
        v2 = round(v2, view.getInt32(p + 4, true));
        v3 = round(v3, view.getInt32(p + 8, true));
        v4 = round(v4, view.getInt32(p + 12, true));
        p += STRIPE;
      }
      this.v1 = v1;
      this.v2 = v2;
      this.v3 = v3;
      this.v4 = v4;
      this.large = true;
    }
    if (p < end) {
      this.tail.set(buf.subarray(p, end), 0);
      this.tailLen = end - p;
    }
    return this;
  }

  private stripe(view: DataView, p: number): void {
    this.v1 = round(this.v1, view.getInt32(p, true));
    this.v2 = round(this.v2, view.getInt32(p + 4, true));
    this.v3 = round(this.v3, view.getInt32(p + 8, true));
    this.v4 = round(this.v4, view.getInt32(p + 12, true));
    this.large = true;
  }

  /** The hash of everything passed to update so far, as an unsigned 32-bit number. The state is left as it was. */
  digest(): number {
    let acc: number;
    if (this.large) {
      acc = (rotl(this.v1, 1) + rotl(this.v2, 7)) | 0;
      acc = (acc + rotl(this.v3, 12)) | 0;
      acc = (acc + rotl(this.v4, 18)) | 0;
    } else {
      acc = (this.seed + PRIME5) | 0;
    }
    acc = (acc + this.length) | 0;
    const t = this.tail;
    let p = 0;
    while (p + WORD <= this.tailLen) {
      const w = t[p]! | (t[p + 1]! << 8) | (t[p + 2]! << 16) | (t[p + 3]! << 24);
      acc = Math.imul(rotl((acc + Math.imul(w, PRIME3)) | 0, 17), PRIME4);
      p += WORD;
    }
    while (p < this.tailLen) {
      acc = Math.imul(rotl((acc + Math.imul(t[p]!, PRIME5)) | 0, 11), PRIME1);
      p++;
    }
    acc ^= acc >>> 15;
    acc = Math.imul(acc, PRIME2);
    acc ^= acc >>> 13;
    acc = Math.imul(acc, PRIME3);
    acc ^= acc >>> 16;
    return acc >>> 0;
  }
}
