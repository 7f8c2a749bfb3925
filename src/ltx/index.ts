/** The LTX codec: pure encoding, decoding, compaction and restore of LTX files. */
export {
  HEADER_SIZE,
  PAGE_HEADER_SIZE,
  TRAILER_SIZE,
  HEADER_FLAG_NO_CHECKSUM,
  PAGE_FLAG_SIZE,
  CHECKSUM_FLAG,
  MIN_PAGE_SIZE,
  MAX_PAGE_SIZE,
  PENDING_BYTE,
  isValidPageSize,
  lockPgno,
  type PageEncoding,
} from './constants.js';
export {
  LtxError,
  LtxHeaderError,
  LtxPageError,
  LtxIndexError,
  LtxChecksumError,
  LtxTruncatedError,
  LtxContentError,
  LtxCompactionError,
  LtxEncodeError,
  type LtxErrorContext,
} from './errors.js';
export {
  makeHeader,
  encodeHeader,
  decodeHeader,
  validateHeader,
  isSnapshot,
  hasNoChecksum,
  type LtxHeader,
  type DecodedLtxHeader,
} from './header.js';
export { Crc64, crc64 } from './crc64.js';
export { xxh32 } from './xxh32.js';
export { pageChecksum, DatabaseChecksum } from './checksum.js';
export { formatFilename, parseFilename, formatTxid, parseTxid } from './file-name.js';
export { MemorySource, IterableSource, BufferedReader, type ByteSource } from './byte-source.js';
export { MemorySink, type ByteSink } from './byte-sink.js';
export { LtxEncoder, type LtxEncoderOptions, type LtxEncodeResult } from './encoder.js';
export {
  LtxDecoder,
  decodeLtx,
  verifyLtx,
  type LtxDecoderOptions,
  type DecodedPage,
  type LtxTrailer,
  type LtxDecodeSummary,
  type DecodedLtxFile,
  type LtxLayout,
} from './decoder.js';
export { encodePageIndex, type PageIndexEntry } from './page-index.js';
export {
  readPageMap,
  fetchPage,
  decodePageData,
  ESTIMATED_PAGE_INDEX_SIZE,
  type RandomAccessFile,
  type LtxPageMap,
} from './random-access.js';
export { LtxMerger, compactLtx, type LtxInput, type MergeOptions, type CompactOptions } from './compactor.js';
export { decodeDatabase, restoreDatabase, type DecodeDatabaseResult } from './database.js';
export { inspectLtxFile, type LtxInspection } from './inspect.js';
