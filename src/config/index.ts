/**
 * Reading litestream.yml (and tidemark.yml, the same format): parsing with
 * positions, environment expansion, validation, defaults, and the list of
 * databases a configuration stands for.
 */
export { loadConfig, resolveConfigPath, DEFAULT_TIDEMARK_CONFIG_PATH, DEFAULT_LITESTREAM_CONFIG_PATH } from './load-config.js';
export type { LoadConfigOptions, ResolveConfigPathOptions, ResolvedConfigPath, ConfigPathSource } from './load-config.js';
export { parseConfig, UNNAMED_CONFIG, type ParseConfigOptions } from './parse-config.js';
export {
  expandDirDatabases,
  resolveDatabases,
  resolvePathDatabase,
  findDatabase,
  findSqliteDatabases,
  isSqliteDatabase,
  dirEntryMetaPath,
  replicaForRelativePath,
  SQLITE_HEADER,
} from './databases.js';
export { ConfigError, ConfigNotFoundError, ValueSyntaxError, formatLocated, type ConfigLocation } from './errors.js';
export { parseGoDuration, formatGoDuration, nsToMs } from './go-duration.js';
export { parseByteSize } from './byte-size.js';
export { expandEnvLikeGo, type ExpandedText } from './env-expand.js';
export { expandPath, stripSqlitePrefix, type PathContext } from './path-expand.js';
export { GlobPattern } from './glob-pattern.js';
export { REPLICA_TYPES, type ReplicaType } from './schema.js';
export * from './defaults.js';
export type {
  TidemarkConfig,
  DbConfig,
  DirConfig,
  ReplicaConfig,
  ReplicaSettings,
  ReplicaOptions,
  ReplicaOptionValue,
  SocketConfig,
  CompactionLevelConfig,
  LoggingConfig,
  ConfigWarning,
  ResolvedDatabase,
} from './types.js';
export { replicaNameOf } from './types.js';
