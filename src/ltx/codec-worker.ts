/**
 * Worker-thread entry point for the parallel encoder: compresses pages into
 * page payloads, so the main thread is left with checksums and assembly.
 * Pure work on transferred buffers.
 */
import { parentPort } from 'node:worker_threads';
import type { PageEncoding } from './constants.js';
import { encodePagePayload, maxPagePayloadSize } from './page-payload-encode.js';

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

export type CodecJob = CompressJob;

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

parentPort?.on('message', (job: CodecJob) => {
  const r = compress(job);
  parentPort!.postMessage(r, [r.payloads.buffer as ArrayBuffer, r.lengths.buffer as ArrayBuffer]);
});
