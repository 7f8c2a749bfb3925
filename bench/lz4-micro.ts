/**
 * Micro-benchmark for the LZ4 block codec and xxHash32.
 *
 *   node --import tsx bench/lz4-micro.ts [--seconds=S]
 *
 * Throughput is always counted in uncompressed bytes (input of the compressor, output of the
 * decompressor), as the LZ4 project reports it. Each case runs several timed rounds after a
 * warm-up and prints the best and the median round, so that JIT tiers and GC pauses do not
 * dominate short runs.
 */
import { lz4BlockBound, lz4CompressBlock, lz4DecompressBlock, lz4LiteralBlock } from '../src/ltx/lz4-block.js';
import { xxh32 } from '../src/ltx/xxh32.js';

const MB = 1e6;
const PAGE_4K = 4096;
const INPUT_64K = 65536;
const BIG_HASH_INPUT = 16 << 20;
/** Distinct inputs per case, so that branch predictors and caches see some variety. */
const CORPUS_SIZE = 64;
const ROUNDS = 5;
/** Calls between clock reads, so that reading the clock stays out of the figures. */
const CALLS_PER_CLOCK_READ = 16;

const secondsArg = process.argv.find((a) => a.startsWith('--seconds='));
const ROUND_SECONDS = secondsArg ? Number(secondsArg.slice('--seconds='.length)) : 0.4;

/** Small deterministic PRNG (mulberry32) so runs are comparable. */
function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function putVarint(out: number[], v: number): void {
  // SQLite varints are big-endian groups of 7 bits; the values used here fit in 3 groups.
  if (v >= 1 << 14) out.push(0x80 | (v >>> 14), 0x80 | ((v >>> 7) & 0x7f), v & 0x7f);
  else if (v >= 1 << 7) out.push(0x80 | (v >>> 7), v & 0x7f);
  else out.push(v);
}

const FIRST_NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory'];
const LAST_NAMES = ['smith', 'jones', 'taylor', 'brown', 'wilson', 'evans', 'thomas', 'roberts', 'walker'];
const DOMAINS = ['example.com', 'mail.test', 'corp.internal'];
const WORDS = ['pending', 'shipped', 'delivered', 'returned', 'priority', 'standard', 'gift', 'note'];

/**
 * A table b-tree leaf page as SQLite lays it out: 8-byte header, cell pointer array, zero
 * gap, then records (rowid, name, email, age, balance, status, created) packed from the end.
 * Its LZ4 ratio (about 2.07) is close to that of a real SQLite database with this schema and
 * an index (2.06 with liblz4 on 4 KiB pages), so it is not an easy case.
 */
function sqliteLikePage(pageSize: number, seed: number, fill = 0.85): Uint8Array {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const page = new Uint8Array(pageSize);
  const enc = new TextEncoder();
  const cells: number[][] = [];
  let used = 8;
  let rowid = 1 + Math.floor(r() * 10000);
  for (;;) {
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    const name = enc.encode(`${first} ${last}`);
    const email = enc.encode(`${first}.${last}${Math.floor(r() * 100)}@${pick(DOMAINS)}`);
    const status = enc.encode(`${pick(WORDS)} ${pick(WORDS)}`);
    const created = enc.encode(`2024-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 10)} 12:${10 + Math.floor(r() * 50)}:00`);
    const age = 18 + Math.floor(r() * 60);
    const balance = Math.round(r() * 1e6) / 100;

    const header: number[] = [];
    const body: number[] = [];
    header.push(0); // rowid alias column stored as NULL
    for (const text of [name, email]) {
      putVarint(header, 13 + 2 * text.length);
      body.push(...text);
    }
    header.push(1);
    body.push(age);
    header.push(7);
    const f = new DataView(new ArrayBuffer(8));
    f.setFloat64(0, balance);
    for (let i = 0; i < 8; i++) body.push(f.getUint8(i));
    for (const text of [status, created]) {
      putVarint(header, 13 + 2 * text.length);
      body.push(...text);
    }
    const record = [header.length + 1, ...header, ...body];
    const cell: number[] = [];
    putVarint(cell, record.length);
    putVarint(cell, rowid);
    cell.push(...record);
    if (used + 2 + cell.length > pageSize * fill) break;
    used += 2 + cell.length;
    cells.push(cell);
    rowid += 1 + Math.floor(r() * 3);
  }
  let content = pageSize;
  const pointers: number[] = [];
  for (const cell of cells) {
    content -= cell.length;
    page.set(cell, content);
    pointers.push(content);
  }
  page[0] = 0x0d;
  page[3] = cells.length >>> 8;
  page[4] = cells.length & 0xff;
  page[5] = (content >>> 8) & 0xff;
  page[6] = content & 0xff;
  pointers.forEach((p, i) => {
    page[8 + 2 * i] = p >>> 8;
    page[9 + 2 * i] = p & 0xff;
  });
  return page;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** 64 KiB of SQLite-like content: sixteen 4 KiB pages back to back. */
function sqliteLike64k(seed: number): Uint8Array {
  const out = new Uint8Array(INPUT_64K);
  for (let i = 0; i < INPUT_64K / PAGE_4K; i++) out.set(sqliteLikePage(PAGE_4K, seed * 100 + i), i * PAGE_4K);
  return out;
}

interface Rate {
  best: number;
  median: number;
}

/** Runs fn over and over in ROUNDS rounds of about ROUND_SECONDS each; MB/s per round. */
function measure(bytesPerCall: number, fn: (i: number) => void): Rate {
  const warmEnd = performance.now() + ROUND_SECONDS * 500;
  let i = 0;
  while (performance.now() < warmEnd) fn(i++);
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const end = performance.now() + ROUND_SECONDS * 1000;
    let calls = 0;
    const t0 = performance.now();
    let t1 = t0;
    while (t1 < end) {
      for (let k = 0; k < CALLS_PER_CLOCK_READ; k++) fn(i++);
      calls += CALLS_PER_CLOCK_READ;
      t1 = performance.now();
    }
    rates.push((bytesPerCall * calls) / MB / ((t1 - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return { best: rates[rates.length - 1]!, median: rates[rates.length >> 1]! };
}

function fmt(r: Rate): string {
  return `${r.best.toFixed(0).padStart(6)} (${r.median.toFixed(0).padStart(6)})`;
}

interface Row {
  name: string;
  ratio: string;
  compress: Rate;
  decompress: Rate;
}

function benchCodec(name: string, corpus: Uint8Array[]): Row {
  const n = corpus[0]!.length;
  const packed = corpus.map((input) => {
    const buf = new Uint8Array(lz4BlockBound(n));
    let len = lz4CompressBlock(input, buf);
    if (len === 0) len = lz4LiteralBlock(input, buf);
    return buf.subarray(0, len);
  });
  const out = new Uint8Array(n);
  for (let i = 0; i < corpus.length; i++) {
    const got = lz4DecompressBlock(packed[i]!, out);
    if (got !== n || !Buffer.from(out).equals(Buffer.from(corpus[i]!))) throw new Error(`${name}: round trip failed`);
  }
  const scratch = new Uint8Array(lz4BlockBound(n));
  let sink = 0;
  const compress = measure(n, (i) => {
    sink += lz4CompressBlock(corpus[i % CORPUS_SIZE]!, scratch);
  });
  const decompress = measure(n, (i) => {
    sink += lz4DecompressBlock(packed[i % CORPUS_SIZE]!, out);
  });
  if (sink === -1) console.log(sink);
  const totalIn = corpus.reduce((a, b) => a + b.length, 0);
  const totalOut = packed.reduce((a, b) => a + b.length, 0);
  return { name, ratio: (totalIn / totalOut).toFixed(2), compress, decompress };
}

function corpusOf(make: (seed: number) => Uint8Array): Uint8Array[] {
  return Array.from({ length: CORPUS_SIZE }, (_, i) => make(i + 1));
}

const rows: Row[] = [
  benchCodec('4 KiB SQLite-like page', corpusOf((s) => sqliteLikePage(PAGE_4K, s))),
  benchCodec('4 KiB random page', corpusOf((s) => randomBytes(PAGE_4K, s))),
  benchCodec('64 KiB SQLite-like', corpusOf(sqliteLike64k)),
  benchCodec('64 KiB random', corpusOf((s) => randomBytes(INPUT_64K, s))),
];

console.log(`node ${process.version}; ${ROUNDS} rounds of ${ROUND_SECONDS}s: best (median) MB/s, MB = 10^6 uncompressed bytes`);
console.log('input                      ratio    compress MB/s   decompress MB/s');
for (const r of rows) {
  console.log(`${r.name.padEnd(26)} ${r.ratio.padStart(5)}  ${fmt(r.compress)}   ${fmt(r.decompress).padStart(15)}`);
}

const hashSmall = corpusOf((s) => sqliteLikePage(PAGE_4K, s));
const hashBig = randomBytes(BIG_HASH_INPUT, 7);
let hsink = 0;
const xxSmall = measure(PAGE_4K, (i) => {
  hsink ^= xxh32(hashSmall[i % CORPUS_SIZE]!);
});
const xxBig = measure(BIG_HASH_INPUT, () => {
  hsink ^= xxh32(hashBig);
});
if (hsink === -1) console.log(hsink);
console.log(`xxh32 4 KiB                       ${fmt(xxSmall)}`);
console.log(`xxh32 16 MiB                      ${fmt(xxBig)}`);
