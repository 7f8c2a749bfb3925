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
