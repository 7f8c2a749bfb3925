/**
 * `tidemark/ltx`: the LTX file codec (docs/ltx-format.md). Pure encoding,
 * decoding, verification, compaction and restore of LTX files into a
 * database image, byte-compatible with Litestream v0.5. Documented in
 * docs/api.md; recorded in docs/api-report.md.
 */
export { HEADER_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE, HEADER_FLAG_NO_CHECKSUM, type PageEncoding } from './constants.js';
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
export { makeHeader, encodeHeader, decodeHeader, type LtxHeader, type DecodedLtxHeader } from './header.js';
export { crc64 } from './crc64.js';
export { pageChecksum, DatabaseChecksum } from './checksum.js';
export { formatFilename, parseFilename, formatTxid, parseTxid } from './file-name.js';
export { MemorySource, type ByteSource } from './byte-source.js';
export { MemorySink, type ByteSink } from './byte-sink.js';
export { withFileSource, type FileSource } from '../io/file-source.js';
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
export { readPageMap, fetchPage, type RandomAccessFile, type LtxPageMap } from './random-access.js';
export type { PageIndexEntry } from './page-index.js';
export { compactLtx, type LtxInput, type MergeOptions, type CompactOptions } from './compactor.js';
export { decodeDatabase, restoreDatabase, type DecodeDatabaseResult } from './database.js';
export { inspectLtxFile, type LtxInspection } from './inspect.js';
