/**
 * Byte layout of everything the event log writes: 21-byte event records,
 * batch headers, segment headers and the checkpoint file. Pure: bytes in,
 * bytes out. `docs/eventlog-format.md` is the specification this code
 * implements; keep the two in step.
 *
 * All integers are little-endian. Every structure carries its own CRC-32C so
 * that no length or sequence field is used before the bytes holding it have
 * been verified.
 */
import { crc32c } from './crc32c.js';
import type { ReplayedEvent, SignalEvent } from './event.js';

export const FORMAT_VERSION = 1;

// ---- event record -------------------------------------------------------------

export const RECORD_SIZE = 21;
export const RECORD_TYPE_SIGNAL = 1;
const REC_ENTITY = 0;
const REC_TYPE = 8;
const REC_WEIGHT = 9;
const REC_TIMESTAMP = 13;

/** Writes `event` as a 21-byte record at `offset`. The event must already be validated. */
export function writeRecord(view: DataView, offset: number, event: SignalEvent): void {
  view.setBigUint64(offset + REC_ENTITY, event.entityId, true);
  view.setUint8(offset + REC_TYPE, event.signalType);
  view.setFloat32(offset + REC_WEIGHT, event.weight, true);
  view.setBigUint64(offset + REC_TIMESTAMP, event.timestampNanos, true);
}

export function readRecord(view: DataView, offset: number, seq: bigint): ReplayedEvent {
  return {
    entityId: view.getBigUint64(offset + REC_ENTITY, true),
    signalType: view.getUint8(offset + REC_TYPE),
    weight: view.getFloat32(offset + REC_WEIGHT, true),
    timestampNanos: view.getBigUint64(offset + REC_TIMESTAMP, true),
    seq,
  };
}

// ---- batch --------------------------------------------------------------------

/** "TMLB" as it appears on disk. */
export const BATCH_MAGIC = Buffer.from('TMLB', 'latin1');
const BATCH_MAGIC_U32 = BATCH_MAGIC.readUInt32LE(0);
export const BATCH_HEADER_SIZE = 48;
/** Largest event count a batch header may declare; bounds what a reader must buffer. */
export const MAX_BATCH_EVENTS = 65_536;
export const MAX_BATCH_PAYLOAD = MAX_BATCH_EVENTS * RECORD_SIZE;

const BH_MAGIC = 0;
const BH_VERSION = 4;
const BH_RECORD_TYPE = 5;
const BH_FLAGS = 6;
const BH_SHARD = 8;
const BH_REGION = 10;
const BH_COUNT = 12;
const BH_FIRST_SEQ = 16;
const BH_TIMESTAMP = 24;
const BH_WRITE_INDEX = 32;
const BH_PAYLOAD_LENGTH = 36;
const BH_PAYLOAD_CRC = 40;
const BH_HEADER_CRC = 44;

export interface BatchHeader {
  recordType: number;
  shard: number;
  region: number;
  count: number;
  firstSeq: bigint;
  /** Wall-clock time the batch was opened, in nanoseconds since the Unix epoch. */
  timestampNanos: bigint;
  /**
   * Events that precede this batch in the same write (0 for the first batch
   * of a write). Recovery uses it to tell a torn last write from damage to
   * data that had already been synced.
   */
  writeIndex: number;
  payloadLength: number;
  payloadCrc: number;
}

/**
 * Writes a complete batch header at `offset` (the payload must already be in
 * place right after it when `payloadCrc` is computed by the caller).
 */
export function writeBatchHeader(buf: Buffer, offset: number, h: BatchHeader): void {
  buf.writeUInt32LE(BATCH_MAGIC_U32, offset + BH_MAGIC);
  buf[offset + BH_VERSION] = FORMAT_VERSION;
  buf[offset + BH_RECORD_TYPE] = h.recordType;
  buf.writeUInt16LE(0, offset + BH_FLAGS);
  buf.writeUInt16LE(h.shard, offset + BH_SHARD);
  buf.writeUInt16LE(h.region, offset + BH_REGION);
  buf.writeUInt32LE(h.count, offset + BH_COUNT);
  buf.writeBigUInt64LE(h.firstSeq, offset + BH_FIRST_SEQ);
  buf.writeBigUInt64LE(h.timestampNanos, offset + BH_TIMESTAMP);
  buf.writeUInt32LE(h.writeIndex, offset + BH_WRITE_INDEX);
  buf.writeUInt32LE(h.payloadLength, offset + BH_PAYLOAD_LENGTH);
  buf.writeUInt32LE(h.payloadCrc, offset + BH_PAYLOAD_CRC);
  buf.writeUInt32LE(crc32c(buf, 0, offset, offset + BH_HEADER_CRC), offset + BH_HEADER_CRC);
}

/**
 * Rewrites only the write index of a header already in `buf` and refreshes
 * its header CRC. The writer learns where a write starts only when it lays
 * batches out over segments, after the batches were sealed.
 */
export function setBatchWriteIndex(buf: Buffer, offset: number, writeIndex: number): void {
  buf.writeUInt32LE(writeIndex, offset + BH_WRITE_INDEX);
  buf.writeUInt32LE(crc32c(buf, 0, offset, offset + BH_HEADER_CRC), offset + BH_HEADER_CRC);
}

/** True when `buf[offset..]` starts with the batch magic (a cheap pre-check before parsing). */
export function hasBatchMagic(buf: Buffer, offset: number): boolean {
  return offset + 4 <= buf.length && buf.readUInt32LE(offset) === BATCH_MAGIC_U32;
}

/**
 * Parses and verifies the header at `offset` (which must have
 * BATCH_HEADER_SIZE bytes available). Returns the header, or a string saying
 * why it is not a valid header. The payload is not checked here.
 */
export function parseBatchHeader(buf: Buffer, offset: number): BatchHeader | string {
  if (buf.readUInt32LE(offset + BH_MAGIC) !== BATCH_MAGIC_U32) return 'bad batch magic';
  const storedCrc = buf.readUInt32LE(offset + BH_HEADER_CRC);
  if (crc32c(buf, 0, offset, offset + BH_HEADER_CRC) !== storedCrc) return 'batch header checksum mismatch';
  const version = buf[offset + BH_VERSION]!;
  if (version !== FORMAT_VERSION) return `unsupported batch format version ${version}`;
  const recordType = buf[offset + BH_RECORD_TYPE]!;
  if (recordType !== RECORD_TYPE_SIGNAL) return `unknown record type ${recordType}`;
  const flags = buf.readUInt16LE(offset + BH_FLAGS);
  if (flags !== 0) return `unknown batch flags 0x${flags.toString(16)}`;
  const count = buf.readUInt32LE(offset + BH_COUNT);
  if (count === 0 || count > MAX_BATCH_EVENTS) return `batch event count ${count} out of range`;
  const payloadLength = buf.readUInt32LE(offset + BH_PAYLOAD_LENGTH);
  if (payloadLength !== count * RECORD_SIZE) {
    return `batch payload length ${payloadLength} does not match ${count} records`;
  }
  return {
    recordType,
    shard: buf.readUInt16LE(offset + BH_SHARD),
    region: buf.readUInt16LE(offset + BH_REGION),
    count,
    firstSeq: buf.readBigUInt64LE(offset + BH_FIRST_SEQ),
    timestampNanos: buf.readBigUInt64LE(offset + BH_TIMESTAMP),
    writeIndex: buf.readUInt32LE(offset + BH_WRITE_INDEX),
    payloadLength,
    payloadCrc: buf.readUInt32LE(offset + BH_PAYLOAD_CRC),
  };
}

export interface EncodeBatchOptions {
  shard?: number;
  region?: number;
  writeIndex?: number;
}

/**
 * Encodes a whole batch (header + records) into a new Buffer. The writer
 * builds batches in place instead; this is the reference encoder used by
 * tests, tools and benchmarks.
 */
export function encodeBatch(
  events: readonly SignalEvent[],
  firstSeq: bigint,
  timestampNanos: bigint,
  options: EncodeBatchOptions = {},
): Buffer {
  if (events.length === 0 || events.length > MAX_BATCH_EVENTS) {
    throw new RangeError(`a batch holds 1..${MAX_BATCH_EVENTS} events, got ${events.length}`);
  }
  const payloadLength = events.length * RECORD_SIZE;
  const buf = Buffer.alloc(BATCH_HEADER_SIZE + payloadLength);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < events.length; i++) {
    writeRecord(view, BATCH_HEADER_SIZE + i * RECORD_SIZE, events[i]!);
  }
  writeBatchHeader(buf, 0, {
    recordType: RECORD_TYPE_SIGNAL,
    shard: options.shard ?? 0,
    region: options.region ?? 0,
    count: events.length,
    firstSeq,
    timestampNanos,
    writeIndex: options.writeIndex ?? 0,
    payloadLength,
    payloadCrc: crc32c(buf, 0, BATCH_HEADER_SIZE, buf.length),
  });
  return buf;
}

// ---- segment header -----------------------------------------------------------

/** "TMLS" as it appears on disk. */
export const SEGMENT_MAGIC = Buffer.from('TMLS', 'latin1');
const SEGMENT_MAGIC_U32 = SEGMENT_MAGIC.readUInt32LE(0);
export const SEGMENT_HEADER_SIZE = 32;
/**
 * Set on a segment that a repair started: the sequence numbers between the
 * end of the previous segment and this segment's first seq were lost.
 */
export const SEGMENT_FLAG_DISCONTINUITY = 0x01;
const KNOWN_SEGMENT_FLAGS = SEGMENT_FLAG_DISCONTINUITY;

const SH_MAGIC = 0;
const SH_VERSION = 4;
const SH_FLAGS = 5;
const SH_SHARD = 6;
const SH_FIRST_SEQ = 8;
const SH_CREATED = 16;
const SH_REGION = 24;
const SH_RESERVED = 26;
const SH_CRC = 28;

export interface SegmentHeader {
  flags: number;
  shard: number;
  region: number;
  firstSeq: bigint;
  createdNanos: bigint;
}

export function encodeSegmentHeader(h: SegmentHeader): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_SIZE);
  buf.writeUInt32LE(SEGMENT_MAGIC_U32, SH_MAGIC);
  buf[SH_VERSION] = FORMAT_VERSION;
  buf[SH_FLAGS] = h.flags;
  buf.writeUInt16LE(h.shard, SH_SHARD);
  buf.writeBigUInt64LE(h.firstSeq, SH_FIRST_SEQ);
  buf.writeBigUInt64LE(h.createdNanos, SH_CREATED);
  buf.writeUInt16LE(h.region, SH_REGION);
  buf.writeUInt16LE(0, SH_RESERVED);
  buf.writeUInt32LE(crc32c(buf, 0, 0, SH_CRC), SH_CRC);
  return buf;
}

/** Parses a segment header from the first SEGMENT_HEADER_SIZE bytes of `buf`, or says why it is invalid. */
export function parseSegmentHeader(buf: Buffer): SegmentHeader | string {
  if (buf.length < SEGMENT_HEADER_SIZE) return 'segment header is incomplete';
  if (buf.readUInt32LE(SH_MAGIC) !== SEGMENT_MAGIC_U32) return 'bad segment magic';
  if (crc32c(buf, 0, 0, SH_CRC) !== buf.readUInt32LE(SH_CRC)) return 'segment header checksum mismatch';
  const version = buf[SH_VERSION]!;
  if (version !== FORMAT_VERSION) return `unsupported segment format version ${version}`;
  const flags = buf[SH_FLAGS]!;
  if ((flags & ~KNOWN_SEGMENT_FLAGS) !== 0) return `unknown segment flags 0x${flags.toString(16)}`;
  return {
    flags,
    shard: buf.readUInt16LE(SH_SHARD),
    region: buf.readUInt16LE(SH_REGION),
    firstSeq: buf.readBigUInt64LE(SH_FIRST_SEQ),
    createdNanos: buf.readBigUInt64LE(SH_CREATED),
  };
}

// ---- checkpoint file ----------------------------------------------------------

/** "TMLC" as it appears on disk. */
export const CHECKPOINT_MAGIC = Buffer.from('TMLC', 'latin1');
const CHECKPOINT_MAGIC_U32 = CHECKPOINT_MAGIC.readUInt32LE(0);
export const CHECKPOINT_SIZE = 40;

const CP_MAGIC = 0;
const CP_VERSION = 4;
const CP_RESERVED_A = 5;
const CP_SHARD = 6;
const CP_SEQ = 8;
const CP_HIGH_WATER = 16;
const CP_WRITTEN = 24;
const CP_RESERVED_B = 32;
const CP_CRC = 36;

export interface CheckpointRecord {
  shard: number;
  /** Every event with seq <= checkpointSeq has been materialised by the application. */
  checkpointSeq: bigint;
  /**
   * Highest sequence number known to have been made durable. Sequence numbers
   * at or below it are never handed out again, even if the segments holding
   * them are gone.
   */
  highWaterSeq: bigint;
  writtenAtNanos: bigint;
}

export function encodeCheckpoint(c: CheckpointRecord): Buffer {
  const buf = Buffer.alloc(CHECKPOINT_SIZE);
  buf.writeUInt32LE(CHECKPOINT_MAGIC_U32, CP_MAGIC);
  buf[CP_VERSION] = FORMAT_VERSION;
  buf[CP_RESERVED_A] = 0;
  buf.writeUInt16LE(c.shard, CP_SHARD);
  buf.writeBigUInt64LE(c.checkpointSeq, CP_SEQ);
  buf.writeBigUInt64LE(c.highWaterSeq, CP_HIGH_WATER);
  buf.writeBigUInt64LE(c.writtenAtNanos, CP_WRITTEN);
  buf.writeUInt32LE(0, CP_RESERVED_B);
  buf.writeUInt32LE(crc32c(buf, 0, 0, CP_CRC), CP_CRC);
  return buf;
}

export function parseCheckpoint(buf: Buffer): CheckpointRecord | string {
  if (buf.length !== CHECKPOINT_SIZE) return `checkpoint file is ${buf.length} bytes, expected ${CHECKPOINT_SIZE}`;
  if (buf.readUInt32LE(CP_MAGIC) !== CHECKPOINT_MAGIC_U32) return 'bad checkpoint magic';
  if (crc32c(buf, 0, 0, CP_CRC) !== buf.readUInt32LE(CP_CRC)) return 'checkpoint checksum mismatch';
  const version = buf[CP_VERSION]!;
  if (version !== FORMAT_VERSION) return `unsupported checkpoint format version ${version}`;
  const checkpointSeq = buf.readBigUInt64LE(CP_SEQ);
  const highWaterSeq = buf.readBigUInt64LE(CP_HIGH_WATER);
  if (checkpointSeq > highWaterSeq) return `checkpoint seq ${checkpointSeq} is above the high-water seq ${highWaterSeq}`;
  return {
    shard: buf.readUInt16LE(CP_SHARD),
    checkpointSeq,
    highWaterSeq,
    writtenAtNanos: buf.readBigUInt64LE(CP_WRITTEN),
  };
}
