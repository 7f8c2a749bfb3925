/**
 * Worker-thread entry point for the parallel encoder and decoder: compresses
 * pages into page payloads, or decodes page payloads into pages, so the main
 * thread is left with checksums and assembly. Pure work on transferred buffers.
 */
import { parentPort } from 'node:worker_threads';
import type { PageEncoding } from './constants.js';
import { LtxError } from './errors.js';
import { encodePagePayload, maxPagePayloadSize } from './page-payload-encode.js';
import { decodePagePayloadAt } from './page-payload.js';

export interface CompressJob {
  kind: 'compress';
  id: number;
  /** `count` pages of `pageSize` bytes, back to back. */
  pages: Uint8Array;
  pageSize: number;
  count: number;
  encoding: PageEncoding;
}

export interface CompressResult {
  id: number;
  /** Payloads back to back; payload i is `lengths[i]` bytes. */
  payloads: Uint8Array;
  lengths: Int32Array;
}

export interface DecodeJob {
  kind: 'decode';
  id: number;
  /** Raw file bytes; payload i spans [starts[i], ends[i]). */
  bytes: Uint8Array;
  starts: Int32Array;
  ends: Int32Array;
  flags: Int32Array;
  pgnos: Int32Array;
  pageSize: number;
  /** File offset of bytes[0], so errors name the right place. */
  base: number;
  file?: string;
}

export interface DecodeResult {
  id: number;
  pages: Uint8Array;
  /** 1 where the page's LZ4 frame had a content checksum. */
  contentChecksums: Uint8Array;
  error?: { name: string; reason: string; offset?: number };
}

export type CodecJob = CompressJob | DecodeJob;

function compress(job: CompressJob): CompressResult {
  const payloads = new Uint8Array(job.count * maxPagePayloadSize(job.pageSize));
  const lengths = new Int32Array(job.count);
  let at = 0;
  for (let i = 0; i < job.count; i++) {
    const n = encodePagePayload(job.pages, i * job.pageSize, job.pageSize, job.encoding, payloads, at);
    lengths[i] = n;
    at += n;
  }
  return { id: job.id, payloads: payloads.subarray(0, at), lengths };
}

function decode(job: DecodeJob): DecodeResult {
  const count = job.starts.length;
  const pages = new Uint8Array(count * job.pageSize);
  const contentChecksums = new Uint8Array(count);
  const ctx = job.file === undefined ? {} : { file: job.file };
  for (let i = 0; i < count; i++) {
    try {
      const dst = pages.subarray(i * job.pageSize, (i + 1) * job.pageSize);
      contentChecksums[i] = decodePagePayloadAt(job.bytes, job.starts[i]!, job.ends[i]!, job.flags[i]!, job.pgnos[i]!, dst, ctx, job.base) ? 1 : 0;
    } catch (err) {
      if (!(err instanceof LtxError)) throw err;
      return { id: job.id, pages, contentChecksums, error: { name: err.name, reason: err.reason, ...(err.offset === undefined ? {} : { offset: err.offset }) } };
    }
  }
  return { id: job.id, pages, contentChecksums };
}

parentPort?.on('message', (job: CodecJob) => {
  if (job.kind === 'compress') {
    const r = compress(job);
    parentPort!.postMessage(r, [r.payloads.buffer as ArrayBuffer, r.lengths.buffer as ArrayBuffer]);
  } else {
    const r = decode(job);
    parentPort!.postMessage(r, [r.pages.buffer as ArrayBuffer, r.contentChecksums.buffer as ArrayBuffer]);
  }
});
