/**
 * tidemark: continuous streaming disaster recovery for SQLite, compatible with
 * Litestream v0.5. This is the library's public surface; the CLI is built on it.
 */
export { TidemarkError, UsageError } from './errors.js';
export * from './ltx/index.js';
export { FileSource, withFileSource, LocalRandomAccessFile } from './io/file-source.js';
export { AtomicFileSink, writeFileAtomic } from './io/atomic-file.js';
export { fsyncDir, writeBytesAtomic } from './io/durable-fs.js';
export { writableSink } from './io/stream-sink.js';
export { checksumDatabaseFile, sqlitePageSize, SqliteFormatError } from './sqlite/database-file.js';
export * from './storage/index.js';
export { parseWalHeader, type WalHeader } from './sqlite/wal-header.js';
export { WalFrameReader, readWalHeader, readWalFrame } from './sqlite/wal-reader.js';
export { walPageMap, type WalPageMap } from './sqlite/wal-page-map.js';
export { detectMissedCheckpoint } from './sqlite/wal-missed-checkpoint.js';
export { WalError, WalFormatError, PrevFrameMismatchError, WalOffsetError } from './sqlite/wal-errors.js';
export * from './replication/index.js';
export * from './restore/index.js';
