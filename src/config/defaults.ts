/**
 * Defaults for every litestream.yml setting that has one, with Litestream's
 * values, so a config that leaves a key out behaves the same under both
 * tools. Durations are in milliseconds.
 */
export {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_MIN_CHECKPOINT_PAGE_N,
  DEFAULT_TRUNCATE_PAGE_N,
} from '../replication/checkpointer.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Compaction levels L1, L2, L3 (L0 is implicit; L9 holds snapshots). */
export const DEFAULT_LEVEL_INTERVALS_MS: readonly number[] = [30 * SECOND, 5 * MINUTE, HOUR];
/** Level numbers 1..8 are compaction levels; 9 is the snapshot level. */
export const MAX_COMPACTION_LEVELS = 8;

export const DEFAULT_SNAPSHOT_INTERVAL_MS = 24 * HOUR;
export const DEFAULT_SNAPSHOT_RETENTION_MS = 24 * HOUR;
export const DEFAULT_L0_RETENTION_MS = 5 * MINUTE;
export const DEFAULT_L0_RETENTION_CHECK_INTERVAL_MS = 15 * SECOND;

export const DEFAULT_SHUTDOWN_SYNC_TIMEOUT_MS = 30 * SECOND;
export const DEFAULT_SHUTDOWN_SYNC_INTERVAL_MS = 500;

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5 * MINUTE;
export const MIN_HEARTBEAT_INTERVAL_MS = MINUTE;

/**
 * The control socket. Litestream's is /var/run/litestream.sock; tidemark
 * uses its own name because the daemon removes a stale socket file at start
 * and must never take a running Litestream's.
 */
export const DEFAULT_SOCKET_PATH = '/var/run/tidemark.sock';
export const DEFAULT_SOCKET_PERMISSIONS = 0o600;

/** How often a database's WAL is turned into L0 files; 0 turns the background monitor off. */
export const DEFAULT_MONITOR_INTERVAL_MS = SECOND;
/** SQLite busy_timeout of the replicator's own connection. */
export const DEFAULT_DB_BUSY_TIMEOUT_MS = SECOND;
/** How often a replica's upload loop runs. */
export const DEFAULT_REPLICA_SYNC_INTERVAL_MS = SECOND;

/** NATS server used when a nats replica gives only a bucket (the NATS client's default). */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
