import {
  CHECKSUM_FLAG,
  HEADER_FLAG_MASK,
  HEADER_FLAG_NO_CHECKSUM,
  HEADER_SIZE,
  MAGIC,
  isValidPageSize,
} from './constants.js';
import { LtxHeaderError, LtxTruncatedError, type LtxErrorContext } from './errors.js';

/** The 100-byte LTX header. All integers are big-endian on disk. */
export interface LtxHeader {
  flags: number;
  pageSize: number;
  /** Database size in pages after this file is applied; 0 means the database is deleted. */
  commit: number;
  minTxid: bigint;
  maxTxid: bigint;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  preApplyChecksum: bigint;
  walOffset: number;
  walSize: number;
  walSalt1: number;
  walSalt2: number;
  nodeId: bigint;
}

/** A header as decoded from bytes, with the reserved area as it was stored. */
export interface DecodedLtxHeader extends LtxHeader {
  reserved: Uint8Array;
}

const RESERVED_OFFSET = 80;
const RESERVED_SIZE = 20;

export function isSnapshot(h: Pick<LtxHeader, 'minTxid'>): boolean {
  return h.minTxid === 1n;
}

export function hasNoChecksum(h: Pick<LtxHeader, 'flags'>): boolean {
  return (h.flags & HEADER_FLAG_NO_CHECKSUM) !== 0;
}

/** Fills in defaults for the fields a caller usually leaves out. */
export function makeHeader(
  h: Partial<LtxHeader> & Pick<LtxHeader, 'pageSize' | 'commit' | 'minTxid' | 'maxTxid'>,
): LtxHeader {
  return {
    flags: h.flags ?? HEADER_FLAG_NO_CHECKSUM,
    pageSize: h.pageSize,
    commit: h.commit,
    minTxid: h.minTxid,
    maxTxid: h.maxTxid,
    timestamp: h.timestamp ?? Date.now(),
    preApplyChecksum: h.preApplyChecksum ?? 0n,
    walOffset: h.walOffset ?? 0,
    walSize: h.walSize ?? 0,
    walSalt1: h.walSalt1 ?? 0,
    walSalt2: h.walSalt2 ?? 0,
    nodeId: h.nodeId ?? 0n,
  };
}

export function encodeHeader(h: LtxHeader, out: Uint8Array = new Uint8Array(HEADER_SIZE), at = 0): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset + at, HEADER_SIZE);
  for (let i = 0; i < 4; i++) dv.setUint8(i, MAGIC.charCodeAt(i));
  dv.setUint32(4, h.flags >>> 0);
  dv.setUint32(8, h.pageSize >>> 0);
  dv.setUint32(12, h.commit >>> 0);
  dv.setBigUint64(16, h.minTxid);
  dv.setBigUint64(24, h.maxTxid);
  dv.setBigInt64(32, BigInt(h.timestamp));
  dv.setBigUint64(40, h.preApplyChecksum);
  dv.setBigInt64(48, BigInt(h.walOffset));
  dv.setBigInt64(56, BigInt(h.walSize));
  dv.setUint32(64, h.walSalt1 >>> 0);
  dv.setUint32(68, h.walSalt2 >>> 0);
  dv.setBigUint64(72, h.nodeId);
  out.fill(0, at + RESERVED_OFFSET, at + RESERVED_OFFSET + RESERVED_SIZE);
  return out;
}

/** Parses the header bytes. Checks the magic only; call validateHeader for the rules. */
export function decodeHeader(buf: Uint8Array, ctx: LtxErrorContext = {}): DecodedLtxHeader {
  if (buf.length < HEADER_SIZE) {
    throw new LtxTruncatedError(`file too short for an LTX header: ${buf.length} of ${HEADER_SIZE} bytes`, {
      ...ctx,
      offset: 0,
    });
  }
  for (let i = 0; i < 4; i++) {
    if (buf[i] !== MAGIC.charCodeAt(i)) {
      throw new LtxHeaderError('invalid LTX file: bad magic (expected "LTX1")', { ...ctx, offset: 0 });
    }
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, HEADER_SIZE);
  return {
    flags: dv.getUint32(4),
    pageSize: dv.getUint32(8),
    commit: dv.getUint32(12),
    minTxid: dv.getBigUint64(16),
    maxTxid: dv.getBigUint64(24),
    timestamp: Number(dv.getBigInt64(32)),
    preApplyChecksum: dv.getBigUint64(40),
    walOffset: Number(dv.getBigInt64(48)),
    walSize: Number(dv.getBigInt64(56)),
    walSalt1: dv.getUint32(64),
    walSalt2: dv.getUint32(68),
    nodeId: dv.getBigUint64(72),
    reserved: buf.slice(RESERVED_OFFSET, RESERVED_OFFSET + RESERVED_SIZE),
  };
}

const HEADER_FIELD_OFFSETS = {
  flags: 4,
  pageSize: 8,
  commit: 12,
  minTxid: 16,
  maxTxid: 24,
  preApplyChecksum: 40,
  walOffset: 48,
  walSize: 56,
  walSalt1: 64,
} as const;

/**
 * The header rules every reader enforces (the Go decoder's `Header.Validate`).
 * Throws LtxHeaderError naming the field and its byte offset.
 */
export function validateHeader(h: LtxHeader, ctx: LtxErrorContext = {}): void {
  const fail = (field: keyof typeof HEADER_FIELD_OFFSETS, reason: string): never => {
    throw new LtxHeaderError(`header: ${reason}`, { ...ctx, offset: HEADER_FIELD_OFFSETS[field] });
  };
  if ((h.flags & ~HEADER_FLAG_MASK) !== 0) fail('flags', `invalid flags: 0x${hex32(h.flags)}`);
  if (!isValidPageSize(h.pageSize)) fail('pageSize', `invalid page size: ${h.pageSize}`);
  if (h.minTxid === 0n) fail('minTxid', 'minimum transaction id required');
  if (h.maxTxid === 0n) fail('maxTxid', 'maximum transaction id required');
  if (h.minTxid > h.maxTxid) {
    fail('minTxid', `transaction ids out of order: min ${hex64(h.minTxid)} > max ${hex64(h.maxTxid)}`);
  }
  if (h.walOffset < 0) fail('walOffset', `WAL offset cannot be negative: ${h.walOffset}`);
  if (h.walSize < 0) fail('walSize', `WAL size cannot be negative: ${h.walSize}`);
  if ((h.walSalt1 !== 0 || h.walSalt2 !== 0) && h.walOffset === 0) {
    fail('walSalt1', 'WAL offset required if salts exist');
  }
  if (h.walOffset === 0 && h.walSize !== 0) fail('walSize', 'WAL offset required if WAL size exists');
  if (isSnapshot(h)) {
    if (h.preApplyChecksum !== 0n) fail('preApplyChecksum', 'pre-apply checksum must be zero on snapshots');
  } else if (hasNoChecksum(h)) {
    if (h.preApplyChecksum !== 0n) fail('preApplyChecksum', 'pre-apply checksum not allowed with no-checksum flag');
  } else {
    if (h.preApplyChecksum === 0n) fail('preApplyChecksum', 'pre-apply checksum required on non-snapshot files');
    if ((h.preApplyChecksum & CHECKSUM_FLAG) === 0n) {
      fail('preApplyChecksum', 'invalid pre-apply checksum format (top bit clear)');
    }
  }
}

export function hex64(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
