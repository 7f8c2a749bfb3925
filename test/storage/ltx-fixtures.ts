import { MemorySink } from '../../src/ltx/byte-sink.js';
import { LtxEncoder } from '../../src/ltx/encoder.js';
import { makeHeader } from '../../src/ltx/header.js';
import { pattern, xorshift } from '../helpers/testdata.js';

export interface LtxFixture {
  minTxid: bigint;
  maxTxid: bigint;
  /** Header timestamp, ms since the epoch. */
  timestamp: number;
  /** Pages 1..pages are stored (default 2). */
  pages?: number;
  pageSize?: number;
  /** Random page content, so the file is about pages × pageSize bytes. */
  incompressible?: boolean;
}

/** A real, valid LTX file from the project's encoder. Different TXIDs give different bytes. */
export async function makeLtxFile(f: LtxFixture): Promise<Uint8Array> {
  const pageSize = f.pageSize ?? 512;
  const pages = f.pages ?? 2;
  const sink = new MemorySink();
  const header = makeHeader({ pageSize, commit: pages, minTxid: f.minTxid, maxTxid: f.maxTxid, timestamp: f.timestamp });
  const enc = new LtxEncoder(sink, header);
  const version = Number(f.maxTxid % 251n);
  for (let pgno = 1; pgno <= pages; pgno++) {
    await enc.writePage(pgno, f.incompressible ? xorshift(pgno * 1000 + version, pageSize) : pattern(pgno, version, pageSize));
  }
  await enc.finish();
  return sink.bytes();
}

/** Streams bytes in chunks of `size` (the last one shorter), copying each so the source stays untouched. */
export async function* chunked(bytes: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

/** Streams the first `failAt` bytes, then throws `error`. */
export async function* failingStream(bytes: Uint8Array, failAt: number, error: Error, size = 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < failAt; at += size) yield bytes.slice(at, Math.min(at + size, failAt));
  throw error;
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function listAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
