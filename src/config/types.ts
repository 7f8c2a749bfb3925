import type { LogFormat, LogLevel } from '../logger.js';
import type { ConfigLocation } from './errors.js';
import type { ReplicaType } from './schema.js';

/**
 * The configuration after parsing, validation and normalisation: every path
 * absolute, every duration in milliseconds, every default filled in, and the
 * top-level replica settings already merged into each replica.
 */
export interface TidemarkConfig {
  /** The file it was read from, absolute; undefined when parsed from text without a name. */
  readonly file: string | undefined;
  /** Prometheus metrics bind address (`host:port`). */
  readonly addr: string | undefined;
  readonly mcpAddr: string | undefined;
  /** Child command to run while replicating; replication stops when it exits. */
  readonly exec: string | undefined;
  readonly socket: SocketConfig;
  /** Compaction levels L1..Ln in order (L0 is implicit). */
  readonly levels: readonly CompactionLevelConfig[];
  readonly snapshot: { readonly intervalMs: number; readonly retentionMs: number };
  /** Periodic remote TXID-contiguity check; undefined or 0 is off. */
  readonly validation: { readonly intervalMs: number | undefined };
  readonly l0RetentionMs: number;
  readonly l0RetentionCheckIntervalMs: number;
  readonly verifyCompaction: boolean;
  /** false: remote files are never deleted (a bucket lifecycle rule must do it). */
  readonly retention: { readonly enabled: boolean };
  readonly heartbeat: { readonly url: string | undefined; readonly intervalMs: number };
  readonly logging: LoggingConfig;
  readonly shutdownSyncTimeoutMs: number;
  readonly shutdownSyncIntervalMs: number;
  /** Replica settings written at the top level, as defaults for every replica. */
  readonly replicaDefaults: ReplicaSettings;
  readonly dbs: readonly DbConfig[];
  /** Things that load but deserve attention: deprecated keys, settings that do nothing. */
  readonly warnings: readonly ConfigWarning[];
}

export interface SocketConfig {
  readonly enabled: boolean;
  readonly path: string;
  readonly permissions: number;
}

export interface CompactionLevelConfig {
  /** Level number, 1-based. */
  readonly level: number;
  readonly intervalMs: number;
}

export interface LoggingConfig {
  readonly level: LogLevel;
  /** Where the level came from: the file, the LOG_LEVEL environment variable, or the default. */
  readonly levelSource: 'config' | 'LOG_LEVEL' | 'default';
  readonly type: LogFormat;
  readonly stderr: boolean;
}

export interface DirConfig {
  /** Absolute directory. */
  readonly path: string;
  /** Glob on each file's base name, Go filepath.Match syntax. */
  readonly pattern: string;
  readonly recursive: boolean;
  readonly watch: boolean;
  /** Where the `dir` value is written, for errors found when the directory is scanned. */
  readonly source: ConfigLocation;
}

export interface DbConfig {
  /** Absolute database path; exactly one of path and dir is set. */
  readonly path: string | undefined;
  readonly dir: DirConfig | undefined;
  /**
   * Local state directory as configured, absolute. For a path database it is
   * the directory itself; for a dir entry it is the base under which each
   * database gets `<relDir>/.<file>-tidemark`. undefined: next to the database.
   */
  readonly metaPath: string | undefined;
  readonly monitorIntervalMs: number;
  readonly checkpointIntervalMs: number;
  readonly busyTimeoutMs: number;
  readonly minCheckpointPageN: number;
  readonly truncatePageN: number;
  readonly restoreIfDbNotExists: boolean;
  /** The primary replica: the first of `replicas`. */
  readonly replica: ReplicaConfig;
  /** Every replica, each with a name unique among them (see replicaNameOf). */
  readonly replicas: readonly ReplicaConfig[];
  /** Where the entry is in the file (its `- ` item). */
  readonly source: ConfigLocation;
}

export type ReplicaOptionValue = string | number | boolean;

/**
 * Backend options by their Litestream key names; durations in ms, sizes in
 * bytes, lists (root-cas) comma-separated. Assignable to the storage layer's
 * ReplicaClientOptions, so it can go straight to createReplicaClient.
 */
export type ReplicaOptions = Readonly<Record<string, ReplicaOptionValue>>;

export interface ReplicaSettings {
  readonly syncIntervalMs: number | undefined;
  readonly validationIntervalMs: number | undefined;
  readonly autoRecover: boolean | undefined;
  readonly options: ReplicaOptions;
}

export interface ReplicaConfig {
  readonly type: ReplicaType;
  /**
   * Where the replica is, in the form parseReplicaUrl reads: an absolute
   * directory for `file`, otherwise `scheme://bucket-or-host/path[?query]`.
   * Built from `bucket`/`host`/`webdav-url` + `path` when no `url` is written.
   */
  readonly url: string;
  /** Deprecated in Litestream and ignored; kept for messages. */
  readonly name: string | undefined;
  readonly syncIntervalMs: number;
  /** Accepted and inherited like Litestream, which does not act on it either. */
  readonly validationIntervalMs: number | undefined;
  readonly autoRecover: boolean;
  /**
   * Backend options (explicit, then inherited from the top level), minus the
   * location keys folded into `url`. Options win over the same setting given
   * as a URL query parameter.
   */
  readonly options: ReplicaOptions;
  readonly source: ConfigLocation;
}

export interface ConfigWarning {
  readonly message: string;
  readonly location: ConfigLocation;
}

/** One database to replicate: a `path:` entry, or one file found under a `dir:` entry. */
export interface ResolvedDatabase {
  /** Absolute database path. */
  readonly path: string;
  /** Absolute local state directory. */
  readonly metaPath: string;
  /** The replica, with the database's path relative to `dir` appended for dir entries. */
  readonly replica: ReplicaConfig;
  /** Every replica (the first is `replica`), each with the relative path appended. */
  readonly replicas: readonly ReplicaConfig[];
  /** Path relative to the entry's `dir`, with '/' separators; undefined for `path:` entries. */
  readonly relPath: string | undefined;
  /** The entry it came from, for its checkpoint and monitor settings. */
  readonly entry: DbConfig;
}

/** How a replica is named among its database's replicas: its `name`, else its type (as Litestream v0.3 named them). */
export function replicaNameOf(r: Pick<ReplicaConfig, 'name' | 'type'>): string {
  return r.name ?? r.type;
}
