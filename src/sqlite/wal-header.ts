import { walChecksum, WAL_CHECKSUM_SEED, type WalChecksum } from './wal-checksum.js';
import { WalFormatError } from './wal-errors.js';

/*
 * The 32-byte WAL header. Every field is a big-endian u32; only the checksum's
 * word order varies, and the magic's low bit says which it is.
 *   0 magic   4 format version   8 page size   12 checkpoint sequence
 *   16 salt-1 20 salt-2          24 checksum-1 28 checksum-2
 */

export const WAL_HEADER_SIZE = 32;
/**
 * Frame header, big-endian u32s: pgno, commit size (database pages after the
 * transaction, non-zero only on its last frame), salt-1, salt-2, checksum-1,
 * checksum-2. The page follows.
 */
export const WAL_FRAME_HEADER_SIZE = 24;
export const WAL_FRAME_COMMIT_OFFSET = 4;
export const WAL_FRAME_SALT1_OFFSET = 8;
export const WAL_FRAME_SALT2_OFFSET = 12;
export const WAL_FRAME_CHECKSUM1_OFFSET = 16;
export const WAL_FRAME_CHECKSUM2_OFFSET = 20;
/** The running checksum covers the frame header's pgno and commit size (not salts or checksums), then the page. */
export const WAL_FRAME_CHECKSUMMED_HEADER_BYTES = 8;
/** Magic of a WAL whose checksums read little-endian words. */
export const WAL_MAGIC_LITTLE_ENDIAN = 0x377f0682;
/** Magic of a WAL whose checksums read big-endian words. */
export const WAL_MAGIC_BIG_ENDIAN = 0x377f0683;
/** The only WAL format version SQLite has written (3.7.0). */
export const WAL_FORMAT_VERSION = 3007000;
export const WAL_MIN_PAGE_SIZE = 512;
/** SQLite's largest page size; the WAL header stores it as-is (the database header's 16-bit field needs the code 1). */
export const WAL_MAX_PAGE_SIZE = 65536;

const VERSION_OFFSET = 4;
const PAGE_SIZE_OFFSET = 8;
const CHECKPOINT_SEQ_OFFSET = 12;
const SALT1_OFFSET = 16;
const SALT2_OFFSET = 20;
const CHECKSUM1_OFFSET = 24;
const CHECKSUM2_OFFSET = 28;
/** The header checksum covers every field before it. */
const HEADER_CHECKSUMMED_BYTES = CHECKSUM1_OFFSET;

/** The pair of random values that tags every frame of one WAL generation. */
export interface WalSalts {
  readonly salt1: number;
  readonly salt2: number;
}

export interface WalHeader extends WalSalts {
  readonly magic: number;
  /** True when checksums read big-endian words (magic 0x377f0683). */
  readonly bigEndianChecksum: boolean;
  readonly version: number;
  readonly pageSize: number;
  /** Checkpoint sequence number: SQLite bumps it each time the WAL restarts. */
  readonly checkpointSeq: number;
  readonly checksum: WalChecksum;
}

export interface WalParseOptions {
  /** Name used in error messages. */
  file?: string;
}

export function isValidWalPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= WAL_MIN_PAGE_SIZE && n <= WAL_MAX_PAGE_SIZE && (n & (n - 1)) === 0;
}

/** Bytes one frame takes in the WAL: its header plus one page. */
export function walFrameSize(pageSize: number): number {
  return WAL_FRAME_HEADER_SIZE + pageSize;
}

export function sameSalts(a: WalSalts, b: WalSalts): boolean {
  return a.salt1 === b.salt1 && a.salt2 === b.salt2;
}

/** Salts as printed in messages: two 8-digit hex words. */
export function formatSalts(s: WalSalts): string {
  return `${hex8(s.salt1)}/${hex8(s.salt2)}`;
}

/**
 * Parses and validates a WAL header. The checks run in the order SQLite's
 * recovery makes them: magic and page size, then the checksum, then the version.
 * A `header-checksum` failure is what a torn header write leaves, and SQLite
 * reads such a WAL as holding no frames; the error code lets callers do the same.
 */
export function parseWalHeader(bytes: Uint8Array, options: WalParseOptions = {}): WalHeader {
  const { file } = options;
  if (bytes.length < WAL_HEADER_SIZE) {
    throw new WalFormatError('short-header', `WAL header is ${bytes.length} bytes, shorter than ${WAL_HEADER_SIZE}`, { file, offset: 0 });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, WAL_HEADER_SIZE);
  const magic = view.getUint32(0);
  if (magic !== WAL_MAGIC_LITTLE_ENDIAN && magic !== WAL_MAGIC_BIG_ENDIAN) {
    throw new WalFormatError('bad-magic', `bad WAL magic 0x${magic.toString(16).padStart(8, '0')}`, { file, offset: 0 });
  }
  const pageSize = view.getUint32(PAGE_SIZE_OFFSET);
  if (!isValidWalPageSize(pageSize)) {
    throw new WalFormatError('bad-page-size', `invalid WAL page size ${pageSize}`, { file, offset: PAGE_SIZE_OFFSET });
  }
  const bigEndianChecksum = magic === WAL_MAGIC_BIG_ENDIAN;
  const checksum: WalChecksum = { s0: view.getUint32(CHECKSUM1_OFFSET), s1: view.getUint32(CHECKSUM2_OFFSET) };
  const computed = walChecksum(bytes, bigEndianChecksum, WAL_CHECKSUM_SEED, 0, HEADER_CHECKSUMMED_BYTES);
  if (computed.s0 !== checksum.s0 || computed.s1 !== checksum.s1) {
    throw new WalFormatError(
      'header-checksum',
      `WAL header checksum mismatch (stored ${hex8(checksum.s0)}/${hex8(checksum.s1)}, computed ${hex8(computed.s0)}/${hex8(computed.s1)})`,
      { file, offset: CHECKSUM1_OFFSET },
    );
  }
  const version = view.getUint32(VERSION_OFFSET);
  if (version !== WAL_FORMAT_VERSION) {
    throw new WalFormatError('bad-version', `unsupported WAL format version ${version} (expected ${WAL_FORMAT_VERSION})`, {
      file,
      offset: VERSION_OFFSET,
    });
  }
  return {
    magic,
    bigEndianChecksum,
    version,
    pageSize,
    checkpointSeq: view.getUint32(CHECKPOINT_SEQ_OFFSET),
    salt1: view.getUint32(SALT1_OFFSET),
    salt2: view.getUint32(SALT2_OFFSET),
    checksum,
  };
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
