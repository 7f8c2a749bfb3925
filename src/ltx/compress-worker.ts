/**
 * Worker-thread entry point: compresses a batch of pages into page payloads
 * (see encodePagePayload) so the encoder's main thread only checksums and
 * assembles. Messages are CompressJob in, CompressResult out.
 */
import { parentPort } from 'node:worker_threads';
import type { PageEncoding } from './constants.js';
import { encodePagePayload, maxPagePayloadSize } from './page-payload-encode.js';

export interface CompressJob {
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

parentPort?.on('message', (job: CompressJob) => {
  const payloads = new Uint8Array(job.count * maxPagePayloadSize(job.pageSize));
  const lengths = new Int32Array(job.count);
  let at = 0;
  for (let i = 0; i < job.count; i++) {
    const n = encodePagePayload(job.pages, i * job.pageSize, job.pageSize, job.encoding, payloads, at);
    lengths[i] = n;
    at += n;
  }
  const result: CompressResult = { id: job.id, payloads: payloads.subarray(0, at), lengths };
  parentPort!.postMessage(result, [payloads.buffer, lengths.buffer]);
});
