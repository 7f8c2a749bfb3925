/**
 * The keys litestream.yml accepts at each level, with the type each value is
 * read as. Names are Litestream's, kebab-case, so a Litestream config loads
 * unchanged; anything else is reported as an unknown key.
 */

/** Replica backends Litestream v0.5 knows. */
export const REPLICA_TYPES = ['file', 's3', 'gs', 'abs', 'sftp', 'webdav', 'nats', 'oss'] as const;
export type ReplicaType = (typeof REPLICA_TYPES)[number];

export type ValueKind = 'string' | 'path' | 'bool' | 'int' | 'duration' | 'size' | 'string-list';

export interface ReplicaSettingSpec {
  readonly kind: ValueKind;
  /** Backends the setting means something to; 'all' for every backend. */
  readonly appliesTo: 'all' | readonly ReplicaType[];
  /**
   * How a top-level value combines with a replica's own: 'default' fills it in
   * when the replica has none; 'or' turns it on even when the replica says
   * false (Litestream's rule for these two booleans).
   */
  readonly inherit: 'default' | 'or';
}

const S3: readonly ReplicaType[] = ['s3'];
const S3_OSS: readonly ReplicaType[] = ['s3', 'oss'];
const ABS: readonly ReplicaType[] = ['abs'];
const SFTP: readonly ReplicaType[] = ['sftp'];
const WEBDAV: readonly ReplicaType[] = ['webdav'];
const NATS: readonly ReplicaType[] = ['nats'];

function spec(
  kind: ValueKind,
  appliesTo: ReplicaSettingSpec['appliesTo'],
  inherit: ReplicaSettingSpec['inherit'] = 'default',
): ReplicaSettingSpec {
  return { kind, appliesTo, inherit };
}

/**
 * Settings a replica takes, which may also be written at the top level of the
 * file as defaults for every replica. `age` (a mapping) is handled apart.
 */
export const REPLICA_SETTINGS: Readonly<Record<string, ReplicaSettingSpec>> = {
  'sync-interval': spec('duration', 'all'),
  'validation-interval': spec('duration', 'all'),
  'auto-recover': spec('bool', 'all'),

  'access-key-id': spec('string', S3_OSS),
  'secret-access-key': spec('string', S3_OSS),
  region: spec('string', S3_OSS),
  bucket: spec('string', ['s3', 'gs', 'abs', 'oss', 'nats']),
  endpoint: spec('string', ['s3', 'abs', 'oss']),
  'force-path-style': spec('bool', S3),
  'sign-payload': spec('bool', S3),
  'require-content-md5': spec('bool', S3),
  'skip-verify': spec('bool', S3, 'or'),
  'part-size': spec('size', S3_OSS),
  concurrency: spec('int', S3_OSS),
  'sse-customer-algorithm': spec('string', S3),
  'sse-customer-key': spec('string', S3),
  'sse-customer-key-path': spec('path', S3),
  'sse-kms-key-id': spec('string', S3),

  'account-name': spec('string', ABS),
  'account-key': spec('string', ABS),
  'sas-token': spec('string', ABS),

  host: spec('string', SFTP),
  user: spec('string', SFTP),
  password: spec('string', ['sftp', 'nats']),
  'key-path': spec('string', SFTP),
  'concurrent-writes': spec('bool', SFTP),
  'host-key': spec('string', SFTP),

  'webdav-url': spec('string', WEBDAV),
  'webdav-username': spec('string', WEBDAV),
  'webdav-password': spec('string', WEBDAV),

  jwt: spec('string', NATS),
  seed: spec('string', NATS),
  creds: spec('string', NATS),
  nkey: spec('string', NATS),
  username: spec('string', NATS),
  token: spec('string', NATS),
  tls: spec('bool', NATS, 'or'),
  'root-cas': spec('string-list', NATS),
  'client-cert': spec('string', NATS),
  'client-key': spec('string', NATS),
  'max-reconnects': spec('int', NATS),
  'reconnect-wait': spec('duration', NATS),
  timeout: spec('duration', NATS),
};

/** Replica settings that become typed fields of ReplicaConfig rather than backend options. */
export const REPLICA_TYPED_SETTINGS = ['sync-interval', 'validation-interval', 'auto-recover'] as const;

/** Settings that name where the replica is; they are folded into ReplicaConfig.url. */
export const REPLICA_LOCATION_SETTINGS = ['bucket', 'host', 'webdav-url'] as const;

export const AGE_KEY = 'age';
export const AGE_KEYS = ['identities', 'recipients'] as const;

/** Keys only a replica section takes (never the top level). */
export const REPLICA_ONLY_KEYS = ['type', 'name', 'path', 'url'] as const;

export const REPLICA_KEYS: readonly string[] = [...REPLICA_ONLY_KEYS, ...Object.keys(REPLICA_SETTINGS), AGE_KEY];

export const DB_KEYS: readonly string[] = [
  'path',
  'dir',
  'pattern',
  'recursive',
  'watch',
  'meta-path',
  'monitor-interval',
  'checkpoint-interval',
  'busy-timeout',
  'min-checkpoint-page-count',
  'truncate-page-n',
  'restore-if-db-not-exists',
  'replica',
  'replicas',
];

/** Top-level keys other than the replica defaults. */
export const GLOBAL_OWN_KEYS: readonly string[] = [
  'addr',
  'socket',
  'levels',
  'snapshot',
  'validation',
  'l0-retention',
  'l0-retention-check-interval',
  'verify-compaction',
  'retention',
  'heartbeat-url',
  'heartbeat-interval',
  'dbs',
  'exec',
  'logging',
  'mcp-addr',
  'shutdown-sync-timeout',
  'shutdown-sync-interval',
];

export const GLOBAL_KEYS: readonly string[] = [...GLOBAL_OWN_KEYS, ...Object.keys(REPLICA_SETTINGS), AGE_KEY];

export const SOCKET_KEYS = ['enabled', 'path', 'permissions'] as const;
export const LEVEL_KEYS = ['interval'] as const;
export const SNAPSHOT_KEYS = ['interval', 'retention'] as const;
export const VALIDATION_KEYS = ['interval'] as const;
export const RETENTION_KEYS = ['enabled'] as const;
export const LOGGING_KEYS = ['level', 'type', 'stderr'] as const;

/**
 * Names people write by mistake, with what they meant: spellings from other
 * tools and from Litestream's own older documentation.
 */
export const KEY_ALIASES: Readonly<Record<string, string>> = {
  'access-key-secret': 'secret-access-key',
  'skip-remote-deletion': 'retention.enabled: false',
  // Litestream v0.3 replica keys; v0.5 moved snapshots and retention to the top level.
  'snapshot-interval': 'snapshot.interval (top level)',
  retention: 'snapshot.retention (top level)',
  'retention-check-interval': 'l0-retention-check-interval (top level)',
  db: 'dbs',
  databases: 'dbs',
};
