/**
 * LTX codec throughput: encode and decode MB/s of page data for 4 KiB pages of
 * real SQLite content and of random content, in both page encodings, plus
 * CRC-64 throughput. Results go to bench/results/ltx.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { LtxEncoder } from '../src/ltx/encoder.js';
import { LtxDecoder } from '../src/ltx/decoder.js';
import { MemorySource } from '../src/ltx/byte-source.js';
import { crc64 } from '../src/ltx/crc64.js';
import { makeHeader } from '../src/ltx/header.js';
import type { PageEncoding } from '../src/ltx/constants.js';
import { machineInfo } from './machine.js';

const PAGE_SIZE = 4096;
/** Pages per measured file: 64 MiB of page data, enough to swamp per-file costs. */
const PAGES = 16384;
const ROUNDS = 7;
/** Untimed rounds first, so the figures describe optimised code rather than the JIT warming up. */
const WARMUP_ROUNDS = 2;
const TARGETS = { encodeMBps: 250, decodeMBps: 400, crc64MBps: 1000 };

const results = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Builds a real SQLite database (tables, indexes, text and blobs) and returns its pages. */
function sqlitePages(): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-'));
  try {
    const path = join(dir, 'bench.db');
    const db = new Database(path);
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma('journal_mode = DELETE');
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, created INTEGER, score REAL, bio TEXT);
             CREATE INDEX users_email ON users(email);
             CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, payload BLOB, at INTEGER);
             CREATE INDEX events_user ON events(user_id, at);`);
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau'.split(' ');
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const addUser = db.prepare('INSERT INTO users (email, name, created, score, bio) VALUES (?, ?, ?, ?, ?)');
    const addEvent = db.prepare('INSERT INTO events (user_id, kind, payload, at) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 60000; i++) {
        const name = `${words[rnd(words.length)]} ${words[rnd(words.length)]}`;
        const bio = Array.from({ length: 4 + rnd(20) }, () => words[rnd(words.length)]).join(' ');
        addUser.run(`user${i}@example.com`, name, 1700000000 + rnd(1e7), rnd(10000) / 100, bio);
      }
      for (let i = 0; i < 120000; i++) {
        addEvent.run(1 + rnd(60000), words[rnd(6)], randomBytes(8 + rnd(40)), 1700000000000 + i * 37);
      }
    })();
    db.close();
    const bytes = readFileSync(path);
    const pages: Uint8Array[] = [];
    for (let off = 0; off + PAGE_SIZE <= bytes.length; off += PAGE_SIZE) {
      pages.push(new Uint8Array(bytes.subarray(off, off + PAGE_SIZE)));
    }
    return pages;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function randomPages(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => new Uint8Array(randomBytes(PAGE_SIZE)));
}

/** Encodes PAGES pages (cycling through the sample) into one snapshot file held in memory. */
async function encodeOnce(sample: Uint8Array[], encoding: PageEncoding, parallel: boolean): Promise<{ seconds: number; bytes: Uint8Array }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const enc = new LtxEncoder(
    { write: (c) => void (chunks.push(c), (total += c.length)) },
    makeHeader({ pageSize: PAGE_SIZE, commit: PAGES, minTxid: 1n, maxTxid: 1n }),
    { encoding, parallel },
  );
  const start = process.hrtime.bigint();
  for (let p = 1; p <= PAGES; p++) await enc.writePage(p, sample[(p - 1) % sample.length]!);
  await enc.finish();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { seconds, bytes };
}

async function decodeOnce(bytes: Uint8Array): Promise<number> {
  const start = process.hrtime.bigint();
  const dec = new LtxDecoder(new MemorySource(bytes), { reusePageBuffer: true });
  await dec.readHeader();
  let n = 0;
  for (;;) {
    const p = await dec.readPage();
    if (!p) break;
    n++;
  }
  await dec.finish();
  if (n !== PAGES) throw new Error(`decoded ${n} pages, expected ${PAGES}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(name: string, sample: Uint8Array[], encoding: PageEncoding) {
  const dataMB = (PAGES * PAGE_SIZE) / 1e6;
  const enc: number[] = [];
  const encParallel: number[] = [];
  const dec: number[] = [];
  let fileBytes = 0;
  for (let r = 0; r < WARMUP_ROUNDS; r++) await decodeOnce((await encodeOnce(sample, encoding, r % 2 === 1)).bytes);
  for (let r = 0; r < ROUNDS; r++) {
    const e = await encodeOnce(sample, encoding, false);
    enc.push(dataMB / e.seconds);
    encParallel.push(dataMB / (await encodeOnce(sample, encoding, true)).seconds);
    fileBytes = e.bytes.length;
    dec.push(dataMB / (await decodeOnce(e.bytes)));
  }
  return {
    content: name,
    encoding,
    pageSize: PAGE_SIZE,
    pages: PAGES,
    fileBytes,
    compressionRatio: +(fileBytes / (PAGES * PAGE_SIZE)).toFixed(3),
    encodeMBps: +median(enc).toFixed(1),
    encodeParallelMBps: +median(encParallel).toFixed(1),
    decodeMBps: +median(dec).toFixed(1),
  };
}

function crcThroughput(size: number, rounds: number): number {
  const buf = new Uint8Array(randomBytes(size));
  const runs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    crc64(buf);
    runs.push(size / 1e6 / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  return +median(runs).toFixed(1);
}

async function main(): Promise<void> {
  const sql = sqlitePages();
  const rnd = randomPages(1024);
  const rows = [];
  for (const encoding of ['frame', 'block'] as const) {
    rows.push(await measure('sqlite', sql, encoding));
    rows.push(await measure('random', rnd, encoding));
  }
  const crc = { largeBufferMBps: crcThroughput(64 * 1024 * 1024, 7), page4kMBps: 0 };
  {
    const page = new Uint8Array(randomBytes(4096));
    const start = process.hrtime.bigint();
    for (let i = 0; i < 50000; i++) crc64(page);
    crc.page4kMBps = +((50000 * 4096) / 1e6 / (Number(process.hrtime.bigint() - start) / 1e9)).toFixed(1);
  }
  const frameSql = rows.find((r) => r.content === 'sqlite' && r.encoding === 'frame')!;
  const out = {
    benchmark: 'ltx',
    machine: machineInfo(),
    sqliteSamplePages: sql.length,
    results: rows,
    crc64: crc,
    targets: TARGETS,
    meetsTargets: {
      encodeSingleThread: rows.every((r) => r.encodeMBps >= TARGETS.encodeMBps),
      encodeParallel: rows.every((r) => r.encodeParallelMBps >= TARGETS.encodeMBps),
      decodeSingleThread: rows.every((r) => r.decodeMBps >= TARGETS.decodeMBps),
      crc64: crc.largeBufferMBps >= TARGETS.crc64MBps,
    },
    headline: {
      encodeMBps: frameSql.encodeMBps,
      encodeParallelMBps: frameSql.encodeParallelMBps,
      decodeMBps: frameSql.decodeMBps,
      crc64MBps: crc.largeBufferMBps,
    },
  };
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'ltx.json'), JSON.stringify(out, null, 2) + '\n');
  console.log('LTX codec, 4 KiB pages, MB/s of page data (median of %d rounds of %d pages, after %d warm-up rounds)', ROUNDS, PAGES, WARMUP_ROUNDS);
  console.log('content  encoding  ratio  encode  encode(parallel)  decode');
  for (const r of rows) {
    console.log(
      `${r.content.padEnd(8)} ${r.encoding.padEnd(9)} ${r.compressionRatio.toFixed(2).padStart(5)} ${r.encodeMBps.toFixed(0).padStart(7)} ${r.encodeParallelMBps.toFixed(0).padStart(17)} ${r.decodeMBps.toFixed(0).padStart(7)}`,
    );
  }
  console.log(`CRC-64: ${crc.largeBufferMBps} MB/s (64 MiB buffer), ${crc.page4kMBps} MB/s (4 KiB pages)`);
  console.log(`targets: encode >= ${TARGETS.encodeMBps}, decode >= ${TARGETS.decodeMBps}, CRC-64 >= ${TARGETS.crc64MBps}:`, out.meetsTargets);
  console.log(`written to ${join(results, 'ltx.json')}`);
}

await main();
