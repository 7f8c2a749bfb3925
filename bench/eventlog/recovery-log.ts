/**
 * Writes a large, valid event log directly in the on-disk format (much faster
 * than appending it): full segments of 100-event batches, with a checkpoint
 * near the end so that opening replays little and the figure is the scan.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../../src/eventlog/crc32c.js';
import {
  BATCH_HEADER_SIZE,
  RECORD_SIZE,
  RECORD_TYPE_SIGNAL,
  SEGMENT_HEADER_SIZE,
  encodeCheckpoint,
  encodeSegmentHeader,
  writeBatchHeader,
  writeRecord,
} from '../../src/eventlog/format.js';
import { segmentFileName } from '../../src/eventlog/segment.js';

const SEGMENT_SIZE = 16 * 1024 * 1024;
const EVENTS_PER_BATCH = 100;
const REPLAY_TAIL = 1000n;

export interface GeneratedLog {
  bytes: number;
  events: bigint;
  segments: number;
}

export function generateLog(dir: string, targetBytes: number): GeneratedLog {
  const walDir = join(dir, 'wal');
  mkdirSync(walDir, { recursive: true });
  const batchBytes = BATCH_HEADER_SIZE + EVENTS_PER_BATCH * RECORD_SIZE;
  const batchesPerSegment = Math.floor((SEGMENT_SIZE - SEGMENT_HEADER_SIZE) / batchBytes);
  const segBuf = Buffer.alloc(SEGMENT_HEADER_SIZE + batchesPerSegment * batchBytes);
  const view = new DataView(segBuf.buffer, segBuf.byteOffset, segBuf.byteLength);
  // One payload, repeated: scanning cost does not depend on the values.
  const payloadAt = SEGMENT_HEADER_SIZE + BATCH_HEADER_SIZE;
  for (let i = 0; i < EVENTS_PER_BATCH; i++) {
    writeRecord(view, payloadAt + i * RECORD_SIZE, {
      entityId: BigInt(i) * 7919n,
      signalType: i % 256,
      weight: i / 4,
      timestampNanos: 1_600_000_000_000_000_000n + BigInt(i),
    });
  }
  const payloadCrc = crc32c(segBuf, 0, payloadAt, payloadAt + EVENTS_PER_BATCH * RECORD_SIZE);
  for (let b = 1; b < batchesPerSegment; b++) {
    segBuf.copy(segBuf, SEGMENT_HEADER_SIZE + b * batchBytes + BATCH_HEADER_SIZE, payloadAt, payloadAt + EVENTS_PER_BATCH * RECORD_SIZE);
  }
  // Old batches: outside any dedup window, as most of a large log is.
  const stamp = BigInt(Date.now() - 3_600_000) * 1_000_000n;
  let seq = 1n;
  let bytes = 0;
  let segments = 0;
  while (bytes < targetBytes) {
    const firstSeq = seq;
    encodeSegmentHeader({ flags: 0, shard: 0, region: 0, firstSeq, createdNanos: stamp }).copy(segBuf, 0);
    for (let b = 0; b < batchesPerSegment; b++) {
      writeBatchHeader(segBuf, SEGMENT_HEADER_SIZE + b * batchBytes, {
        recordType: RECORD_TYPE_SIGNAL,
        shard: 0,
        region: 0,
        count: EVENTS_PER_BATCH,
        firstSeq: seq,
        timestampNanos: stamp,
        writeIndex: 0,
        payloadLength: EVENTS_PER_BATCH * RECORD_SIZE,
        payloadCrc,
      });
      seq += BigInt(EVENTS_PER_BATCH);
    }
    const fd = openSync(join(walDir, segmentFileName(0, firstSeq)), 'w');
    writeSync(fd, segBuf);
    closeSync(fd);
    bytes += segBuf.length;
    segments++;
  }
  const last = seq - 1n;
  writeFileSync(
    join(walDir, 'checkpoint.meta'),
    encodeCheckpoint({ shard: 0, checkpointSeq: last - REPLAY_TAIL, highWaterSeq: last, writtenAtNanos: stamp }),
  );
  return { bytes, events: last, segments };
}
