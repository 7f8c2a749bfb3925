/**
 * Segment file naming and discovery. A segment is named after the sequence
 * number of its first batch, zero-padded to 20 digits (the width of the
 * largest u64) so that lexical order is numeric order:
 *
 *   shard 0:  wal-00000000000000000001.seg
 *   shard n:  wal-s00007-00000000000000000001.seg
 */
import { readdir } from 'node:fs/promises';
import { EventLogCorruptionError } from './errors.js';
import { MAX_U64 } from './event.js';

export const SEGMENT_PREFIX = 'wal-';
export const SEGMENT_SUFFIX = '.seg';
const SEQ_DIGITS = 20;
const SHARD_DIGITS = 5;
export const MAX_SHARD = 0xffff;

const SHARD0_NAME = /^wal-(\d{20})\.seg$/;
const SHARDED_NAME = /^wal-s(\d{5})-(\d{20})\.seg$/;

export function segmentFileName(shard: number, firstSeq: bigint): string {
  const seq = firstSeq.toString().padStart(SEQ_DIGITS, '0');
  if (shard === 0) return `${SEGMENT_PREFIX}${seq}${SEGMENT_SUFFIX}`;
  return `${SEGMENT_PREFIX}s${shard.toString().padStart(SHARD_DIGITS, '0')}-${seq}${SEGMENT_SUFFIX}`;
}

export interface SegmentName {
  name: string;
  shard: number;
  firstSeq: bigint;
}

/** Parses a canonical segment file name; anything else (including non-canonical spellings) gives null. */
export function parseSegmentFileName(name: string): SegmentName | null {
  let shard = 0;
  let digits: string | undefined;
  const m0 = SHARD0_NAME.exec(name);
  if (m0) {
    digits = m0[1];
  } else {
    const m = SHARDED_NAME.exec(name);
    if (!m) return null;
    shard = Number(m[1]);
    digits = m[2];
    if (shard === 0 || shard > MAX_SHARD) return null;
  }
  const firstSeq = BigInt(digits!);
  if (firstSeq > MAX_U64) return null;
  return { name, shard, firstSeq };
}

/**
 * Lists the segments in `walDir`, sorted by first sequence number. Files
 * that look like segments but are not canonically named are reported as
 * corruption rather than skipped: silently ignoring a file could hide data.
 */
export async function listSegments(walDir: string): Promise<SegmentName[]> {
  const out: SegmentName[] = [];
  for (const name of await readdir(walDir)) {
    if (!name.startsWith(SEGMENT_PREFIX) || !name.endsWith(SEGMENT_SUFFIX)) continue;
    const parsed = parseSegmentFileName(name);
    if (!parsed) throw new EventLogCorruptionError(name, 0, 'file name is not a valid segment name');
    out.push(parsed);
  }
  out.sort((a, b) => (a.shard - b.shard) || (a.firstSeq < b.firstSeq ? -1 : a.firstSeq > b.firstSeq ? 1 : 0));
  return out;
}
