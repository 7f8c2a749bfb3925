/**
 * The one seam between tidemark and where replicas live. Every backend
 * (directory, S3, Azure, GCS, SFTP, WebDAV, NATS) implements this interface and
 * passes the shared conformance suite in test/storage/conformance.ts.
 */

/** One LTX file on a replica. */
export interface LtxFileInfo {
  /** 0 = L0 (one file per sync), 1..8 = compaction levels, 9 = snapshots. */
  level: number;
  minTxid: bigint;
  maxTxid: bigint;
  /** Size in bytes. */
  size: number;
  /**
   * When the file was created. With `useMetadata` the LTX header timestamp the
   * backend stored alongside the file; otherwise whatever the backend has cheaply
   * (a directory replica always has the header timestamp, as the file's mtime).
   */
  createdAt: Date;
}

export interface ListOptions {
  /** Ask for the original LTX timestamps even where that costs extra requests. */
  useMetadata?: boolean;
  signal?: AbortSignal;
}

export interface OpenOptions {
  /** Byte offset to start reading at (default 0). */
  offset?: number;
  /** Bytes to read; undefined or 0 means to the end of the file. */
  size?: number;
  signal?: AbortSignal;
}

export interface ReplicaClient {
  /** Backend name as it appears in URLs and config: 'file', 's3', … */
  readonly type: string;

  /** Connects or validates; idempotent. */
  init(signal?: AbortSignal): Promise<void>;

  /**
   * Files of one level with MinTXID >= seek, in ascending (MinTXID, MaxTXID)
   * order. Names that are not `%016x-%016x.ltx` are skipped.
   */
  ltxFiles(level: number, seek?: bigint, opts?: ListOptions): AsyncIterable<LtxFileInfo>;

  /**
   * Streams a file's bytes, optionally a byte range. Rejects with
   * ReplicaFileNotFoundError when the file does not exist. Each chunk handed
   * out belongs to the caller from then on (restore keeps chunks in its
   * read-ahead), so a client must not reuse a chunk's memory.
   */
  openLtxFile(level: number, minTxid: bigint, maxTxid: bigint, opts?: OpenOptions): Promise<AsyncIterable<Uint8Array>>;

  /**
   * Stores a complete LTX file from a stream. The file appears under its final
   * name only once all of it is durable; its header timestamp is kept as
   * createdAt. Resolves the stored file's info.
   */
  writeLtxFile(level: number, minTxid: bigint, maxTxid: bigint, data: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<LtxFileInfo>;

  /** Deletes files; a file that is already gone is not an error. */
  deleteLtxFiles(files: readonly LtxFileInfo[], signal?: AbortSignal): Promise<void>;

  /** Deletes everything this client stores under its path. */
  deleteAll(signal?: AbortSignal): Promise<void>;
}
