import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { YAMLMap } from 'yaml';
import { DEFAULT_LOG_LEVEL, parseLogLevel, type LogLevel } from '../logger.js';
import { defaultMetaDir } from '../replication/local-meta.js';
import {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  DEFAULT_DB_BUSY_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_L0_RETENTION_CHECK_INTERVAL_MS,
  DEFAULT_L0_RETENTION_MS,
  DEFAULT_LEVEL_INTERVALS_MS,
  DEFAULT_MIN_CHECKPOINT_PAGE_N,
  DEFAULT_MONITOR_INTERVAL_MS,
  DEFAULT_SHUTDOWN_SYNC_INTERVAL_MS,
  DEFAULT_SHUTDOWN_SYNC_TIMEOUT_MS,
  DEFAULT_SNAPSHOT_INTERVAL_MS,
  DEFAULT_SNAPSHOT_RETENTION_MS,
  DEFAULT_SOCKET_PATH,
  DEFAULT_SOCKET_PERMISSIONS,
  DEFAULT_TRUNCATE_PAGE_N,
  MAX_COMPACTION_LEVELS,
  MIN_HEARTBEAT_INTERVAL_MS,
} from './defaults.js';
import { expandEnvLikeGo, type ExpandedText } from './env-expand.js';
import { ConfigError, ValueSyntaxError } from './errors.js';
import { GlobPattern } from './glob-pattern.js';
import { nsToMs } from './go-duration.js';
import { expandPath, type PathContext } from './path-expand.js';
import { buildReplica, readReplicaSettings, toReplicaSettings, type RawReplicaSettings } from './replica-config.js';
import {
  DB_KEYS,
  GLOBAL_KEYS,
  GLOBAL_OWN_KEYS,
  LEVEL_KEYS,
  LOGGING_KEYS,
  REPLICA_KEYS,
  REPLICA_ONLY_KEYS,
  RETENTION_KEYS,
  SNAPSHOT_KEYS,
  SOCKET_KEYS,
  VALIDATION_KEYS,
} from './schema.js';
import type {
  CompactionLevelConfig,
  ConfigWarning,
  DbConfig,
  DirConfig,
  LoggingConfig,
  ReplicaConfig,
  SocketConfig,
  TidemarkConfig,
} from './types.js';
import { replicaNameOf } from './types.js';
import { ConfigSource, Section } from './yaml-source.js';

export interface ParseConfigOptions {
  /** Named in every error; also TidemarkConfig.file. */
  readonly filename?: string;
  /** Expand `$VAR` / `${VAR}` in the text before parsing (default true; false is `-no-expand-env`). */
  readonly expandEnv?: boolean;
  /** Variables for expansion and LOG_LEVEL (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Base of relative paths (default process.cwd(), as Litestream). */
  readonly cwd?: string;
  /** What `~` means (default os.homedir()). */
  readonly homeDir?: string;
  /** What `$PID` expands to (default process.pid). */
  readonly pid?: number;
  /** Require every `dir:` to be an existing directory (default true). */
  readonly checkDirs?: boolean;
}

/** Name used in messages for text parsed without a filename. */
export const UNNAMED_CONFIG = '<config>';

const HTTP_URL_RE = /^https?:\/\//;
const LOG_TYPES = ['text', 'json'] as const;
const MAX_SOCKET_PERMISSIONS = 0o7777;

/**
 * Parses litestream.yml text into a validated TidemarkConfig. Throws
 * ConfigError naming file, line, column and key for the first problem.
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): TidemarkConfig {
  const file = options.filename ?? UNNAMED_CONFIG;
  const env = options.env ?? process.env;
  const pid = options.pid ?? process.pid;
  const expanded: ExpandedText =
    options.expandEnv === false
      ? { text, toSourceOffset: (o) => o }
      : expandEnvLikeGo(text, (name) => (name === 'PID' ? String(pid) : (env[name] ?? '')));
  const src = new ConfigSource(file, text, expanded);
  const parser = new ConfigParser(src, {
    paths: { cwd: options.cwd ?? process.cwd(), homeDir: options.homeDir ?? safeHomedir() },
    env,
    checkDirs: options.checkDirs ?? true,
  });
  return parser.parse(options.filename);
}

function safeHomedir(): string {
  try {
    return homedir();
  } catch {
    return '';
  }
}

interface ParserContext {
  readonly paths: PathContext;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly checkDirs: boolean;
}

/** Top-level keys accepted so a Litestream configuration loads, whose feature does not exist in tidemark yet. */
const INERT_KEYS: readonly (readonly [string, string])[] = [
  ['mcp-addr', 'tidemark serves no MCP tools'],
];

class ConfigParser {
  readonly #warnings: ConfigWarning[] = [];

  constructor(
    readonly src: ConfigSource,
    readonly ctx: ParserContext,
  ) {}

  parse(filename: string | undefined): TidemarkConfig {
    const root = this.src.root();
    const top =
      root === undefined
        ? new Section(this.src, new YAMLMap(), '', GLOBAL_KEYS)
        : Section.open(this.src, root, '', GLOBAL_KEYS, [
            { keys: DB_KEYS, where: 'in a dbs[] entry' },
            { keys: REPLICA_ONLY_KEYS, where: 'under dbs[].replica' },
          ]);

    const replicaDefaults = readReplicaSettings(top, this.ctx.paths);
    const sync = replicaDefaults.get('sync-interval');
    if (sync !== undefined && (sync.value as number) <= 0) {
      throw new ConfigError(sync.location, 'sync interval must be greater than 0');
    }

    const config: TidemarkConfig = {
      file: filename,
      addr: this.#addr(top, 'addr'),
      mcpAddr: nonEmpty(top.string('mcp-addr')),
      exec: nonEmpty(top.string('exec')),
      socket: this.#socket(top),
      levels: this.#levels(top),
      ...this.#snapshot(top),
      validation: { intervalMs: this.#optionalMs(top.section('validation', VALIDATION_KEYS), 'interval', 'nonnegative') },
      l0RetentionMs: this.#ms(top, 'l0-retention', DEFAULT_L0_RETENTION_MS, 'positive'),
      l0RetentionCheckIntervalMs: this.#ms(top, 'l0-retention-check-interval', DEFAULT_L0_RETENTION_CHECK_INTERVAL_MS, 'positive'),
      verifyCompaction: top.bool('verify-compaction') ?? false,
      retention: { enabled: top.section('retention', RETENTION_KEYS)?.bool('enabled') ?? true },
      heartbeat: this.#heartbeat(top),
      logging: this.#logging(top),
      shutdownSyncTimeoutMs: this.#ms(top, 'shutdown-sync-timeout', DEFAULT_SHUTDOWN_SYNC_TIMEOUT_MS, 'nonnegative'),
      shutdownSyncIntervalMs: this.#ms(top, 'shutdown-sync-interval', DEFAULT_SHUTDOWN_SYNC_INTERVAL_MS, 'positive'),
      replicaDefaults: toReplicaSettings(replicaDefaults),
      dbs: this.#dbs(top, replicaDefaults),
      warnings: this.#warnings,
    };
    this.#warnInert(top);
    // In file order, however the checks that found them were ordered.
    this.#warnings.sort((a, b) => (a.location.line ?? 0) - (b.location.line ?? 0) || (a.location.column ?? 0) - (b.location.column ?? 0));
    return config;
  }

  /** Keys read for Litestream compatibility whose feature tidemark does not have yet: named at start, never silently ignored. */
  #warnInert(top: Section): void {
    for (const [key, what] of INERT_KEYS) {
      if (top.has(key)) this.#warn({ message: `${key} has no effect yet: ${what}`, location: top.keyLocationOf(key) });
    }
    const socket = top.section('socket', SOCKET_KEYS);
    if (socket?.bool('enabled') === true) {
      this.#warn({ message: 'socket.enabled has no effect yet: tidemark has no control socket (list, info, sync and the other socket commands)', location: socket.keyLocationOf('enabled') });
    }
  }

  #warn = (w: ConfigWarning): void => {
    this.#warnings.push(w);
  };

  /** A duration in ms with a default, checked to be > 0 or >= 0. */
  #ms(sec: Section, key: string, fallback: number, rule: 'positive' | 'nonnegative'): number {
    return this.#optionalMs(sec, key, rule) ?? fallback;
  }

  #optionalMs(sec: Section | undefined, key: string, rule: 'positive' | 'nonnegative'): number | undefined {
    if (sec === undefined) return undefined;
    const ns = sec.duration(key);
    if (ns === undefined) return undefined;
    if (rule === 'positive' && ns <= 0n) throw sec.errorAt(key, `must be greater than 0 (got ${sec.string(key)})`);
    if (rule === 'nonnegative' && ns < 0n) throw sec.errorAt(key, `must not be negative (got ${sec.string(key)})`);
    return nsToMs(ns);
  }

  #addr(sec: Section, key: string): string | undefined {
    const addr = sec.string(key);
    if (addr === undefined || addr === '') return undefined;
    const problem = hostPortProblem(addr);
    if (problem !== undefined) throw sec.errorAt(key, `bind address ${JSON.stringify(addr)}: ${problem}`);
    return addr;
  }

  #socket(top: Section): SocketConfig {
    const sec = top.section('socket', SOCKET_KEYS);
    const permissions = sec?.int('permissions') ?? DEFAULT_SOCKET_PERMISSIONS;
    if (permissions < 0 || permissions > MAX_SOCKET_PERMISSIONS) {
      throw sec!.errorAt('permissions', `file mode ${permissions.toString(8)} is out of range (expected e.g. 0600)`);
    }
    const path = sec?.string('path');
    return {
      enabled: sec?.bool('enabled') ?? false,
      path: path === undefined || path === '' ? DEFAULT_SOCKET_PATH : path,
      permissions,
    };
  }

  #levels(top: Section): CompactionLevelConfig[] {
    // Written as null or [] means no compaction levels at all, as in Litestream.
    if (!top.written('levels')) return DEFAULT_LEVEL_INTERVALS_MS.map((intervalMs, i) => ({ level: i + 1, intervalMs }));
    const items = top.list('levels') ?? [];
    if (items.length > MAX_COMPACTION_LEVELS) {
      const extra = items[MAX_COMPACTION_LEVELS]!;
      throw this.src.error(
        extra.raw,
        extra.keyPath,
        `at most ${MAX_COMPACTION_LEVELS} compaction levels (L1..L${MAX_COMPACTION_LEVELS}); level 9 is the snapshot level`,
      );
    }
    return items.map((item, i) => {
      if (item.node === undefined) throw this.src.error(item.raw, item.keyPath, 'expected a mapping with an interval, got null');
      const sec = Section.open(this.src, item.node, item.keyPath, LEVEL_KEYS);
      const ns = sec.duration('interval');
      if (ns === undefined) throw sec.error('a compaction level needs an interval (e.g. interval: 5m)');
      if (ns <= 0n) throw sec.errorAt('interval', `compaction interval must be greater than 0 (got ${sec.string('interval')})`);
      return { level: i + 1, intervalMs: nsToMs(ns) };
    });
  }

  #snapshot(top: Section): Pick<TidemarkConfig, 'snapshot'> {
    // An empty `snapshot:` section keeps both defaults, as Litestream restores them.
    const sec = top.section('snapshot', SNAPSHOT_KEYS);
    return {
      snapshot: {
        intervalMs: this.#optionalMs(sec, 'interval', 'positive') ?? DEFAULT_SNAPSHOT_INTERVAL_MS,
        retentionMs: this.#optionalMs(sec, 'retention', 'positive') ?? DEFAULT_SNAPSHOT_RETENTION_MS,
      },
    };
  }

  #heartbeat(top: Section): TidemarkConfig['heartbeat'] {
    const url = top.string('heartbeat-url');
    if (url !== undefined && url !== '' && !HTTP_URL_RE.test(url)) {
      throw top.errorAt('heartbeat-url', `heartbeat URL must start with http:// or https:// (got ${JSON.stringify(url)})`);
    }
    const intervalMs = this.#ms(top, 'heartbeat-interval', DEFAULT_HEARTBEAT_INTERVAL_MS, 'positive');
    if (intervalMs < MIN_HEARTBEAT_INTERVAL_MS) {
      throw top.errorAt('heartbeat-interval', `heartbeat interval must be at least 1m (got ${top.string('heartbeat-interval')})`);
    }
    return { url: url === '' ? undefined : url, intervalMs };
  }

  #logging(top: Section): LoggingConfig {
    const sec = top.section('logging', LOGGING_KEYS);
    let level: LogLevel = DEFAULT_LOG_LEVEL;
    let levelSource: LoggingConfig['levelSource'] = 'default';
    const written = sec?.string('level');
    if (written !== undefined && written !== '') {
      const parsed = parseLogLevel(written);
      if (parsed === undefined) {
        throw sec!.errorAt('level', `unknown log level ${JSON.stringify(written)} (expected trace, debug, info, warn or error)`);
      }
      level = parsed;
      levelSource = 'config';
    }
    const fromEnv = this.ctx.env['LOG_LEVEL'];
    if (fromEnv !== undefined && fromEnv !== '') {
      const parsed = parseLogLevel(fromEnv);
      if (parsed === undefined) {
        this.#warn({
          message: `LOG_LEVEL=${JSON.stringify(fromEnv)} is not a log level and is ignored`,
          location: { file: this.src.file, keyPath: 'logging.level' },
        });
      } else {
        level = parsed;
        levelSource = 'LOG_LEVEL';
      }
    }
    const type = sec?.string('type') ?? '';
    if (type !== '' && !(LOG_TYPES as readonly string[]).includes(type)) {
      throw sec!.errorAt('type', `unknown log type ${JSON.stringify(type)} (expected text or json)`);
    }
    return { level, levelSource, type: type === 'json' ? 'json' : 'text', stderr: sec?.bool('stderr') ?? false };
  }

  #dbs(top: Section, replicaDefaults: RawReplicaSettings): DbConfig[] {
    const items = top.list('dbs') ?? [];
    const dbs = items.map((item) => {
      if (item.node === undefined) {
        throw this.src.error(item.raw, item.keyPath, 'expected a database mapping (path: ... and replica: ...), got null');
      }
      const sec = Section.open(this.src, item.node, item.keyPath, DB_KEYS, [
        { keys: REPLICA_KEYS, where: "under 'replica:'" },
        { keys: GLOBAL_OWN_KEYS, where: 'at the top level of the file' },
      ]);
      return this.#db(sec, replicaDefaults);
    });
    checkDistinct(this.src.file, dbs);
    return dbs;
  }

  #db(sec: Section, replicaDefaults: RawReplicaSettings): DbConfig {
    const pathWritten = nonEmpty(sec.string('path'));
    const dirWritten = nonEmpty(sec.string('dir'));
    if (pathWritten !== undefined && dirWritten !== undefined) throw sec.errorAt('dir', "cannot set both 'path' and 'dir'");
    if (pathWritten === undefined && dirWritten === undefined) {
      throw sec.error("a database needs 'path' (a database file) or 'dir' (a directory of databases)");
    }

    let dir: DirConfig | undefined;
    const pattern = sec.string('pattern');
    const recursive = sec.bool('recursive') ?? false;
    const watch = sec.bool('watch') ?? false;
    if (dirWritten !== undefined) {
      if (pattern === undefined || pattern === '') throw sec.errorAt('dir', "'pattern' is required with 'dir' (e.g. pattern: \"*.db\")");
      try {
        GlobPattern.compile(pattern);
      } catch (err) {
        if (err instanceof ValueSyntaxError) throw sec.errorAt('pattern', err.message, err);
        throw err;
      }
      const path = this.#path(sec, 'dir', dirWritten);
      if (this.ctx.checkDirs) checkDirectory(sec, path);
      dir = { path, pattern, recursive, watch, source: sec.locationOf('dir') };
    } else {
      if (watch) throw sec.errorAt('watch', "'watch' only applies to a 'dir' entry");
      for (const key of ['pattern', 'recursive']) {
        if (sec.has(key)) this.#warn({ message: `${key} is ignored without 'dir'`, location: sec.keyLocationOf(key) });
      }
    }

    const metaWritten = nonEmpty(sec.string('meta-path'));
    const monitorIntervalMs = this.#ms(sec, 'monitor-interval', DEFAULT_MONITOR_INTERVAL_MS, 'nonnegative');
    const checkpointIntervalMs = this.#ms(sec, 'checkpoint-interval', DEFAULT_CHECKPOINT_INTERVAL_MS, 'nonnegative');
    const busyTimeoutMs = this.#ms(sec, 'busy-timeout', DEFAULT_DB_BUSY_TIMEOUT_MS, 'nonnegative');
    const minCheckpointPageN = sec.int('min-checkpoint-page-count') ?? DEFAULT_MIN_CHECKPOINT_PAGE_N;
    if (minCheckpointPageN <= 0) throw sec.errorAt('min-checkpoint-page-count', `must be greater than 0 (got ${minCheckpointPageN})`);
    const truncatePageN = sec.int('truncate-page-n') ?? DEFAULT_TRUNCATE_PAGE_N;
    if (truncatePageN < 0) throw sec.errorAt('truncate-page-n', `must not be negative (got ${truncatePageN}; 0 turns it off)`);

    return {
      path: pathWritten === undefined ? undefined : this.#path(sec, 'path', pathWritten),
      dir,
      metaPath: metaWritten === undefined ? undefined : this.#path(sec, 'meta-path', metaWritten),
      monitorIntervalMs,
      checkpointIntervalMs,
      busyTimeoutMs,
      minCheckpointPageN,
      truncatePageN,
      restoreIfDbNotExists: sec.bool('restore-if-db-not-exists') ?? false,
      ...this.#replicaFields(sec, replicaDefaults),
      source: this.src.location(sec.node, sec.keyPath),
    };
  }

  #replicaFields(sec: Section, defaults: RawReplicaSettings): { replica: ReplicaConfig; replicas: ReplicaConfig[] } {
    const replicas = this.#replicas(sec, defaults);
    return { replica: replicas[0]!, replicas };
  }

  #path(sec: Section, key: string, value: string): string {
    try {
      return expandPath(value, this.ctx.paths);
    } catch (err) {
      if (err instanceof ValueSyntaxError) throw sec.errorAt(key, err.message, err);
      throw err;
    }
  }

  /**
   * The replicas: `replica`, or a `replicas` list. A list of one is
   * Litestream v0.5's deprecated form; several are Litestream v0.3's, which
   * tidemark keeps: each replica is named by `name`, else by its type, and
   * the names must differ.
   */
  #replicas(sec: Section, defaults: RawReplicaSettings): ReplicaConfig[] {
    const list = sec.list('replicas');
    const single = sec.entry('replica')?.value;
    if (single !== undefined && list !== undefined && list.length > 0) {
      throw sec.errorAt('replicas', "cannot set both 'replica' and 'replicas'; use 'replica' for one, 'replicas' for several");
    }
    const ctx = { defaults, paths: this.ctx.paths, warn: this.#warn, several: list !== undefined && list.length > 1 };
    if (single !== undefined) {
      return [buildReplica(Section.open(this.src, single, sec.pathOf('replica'), REPLICA_KEYS, replicaElsewhere), ctx)];
    }
    if (list === undefined || list.length === 0) throw sec.error("a database needs a 'replica' (e.g. replica: {url: s3://bucket/path})");
    if (list.length === 1) {
      this.#warn({ message: "'replicas' with one entry is deprecated; use 'replica' (a single mapping)", location: sec.keyLocationOf('replicas') });
    }
    const out: ReplicaConfig[] = [];
    const names = new Map<string, string>();
    for (const item of list) {
      if (item.node === undefined) throw this.src.error(item.raw, item.keyPath, 'expected a replica mapping, got null');
      const r = buildReplica(Section.open(this.src, item.node, item.keyPath, REPLICA_KEYS, replicaElsewhere), ctx);
      const name = replicaNameOf(r);
      const first = names.get(name);
      if (first !== undefined) {
        const reason = `two replicas are named ${JSON.stringify(name)} (the other is ${first}); give each a distinct 'name'`;
        throw this.src.error(item.raw, item.keyPath, reason);
      }
      names.set(name, item.keyPath);
      out.push(r);
    }
    return out;
  }
}

const replicaElsewhere = [
  { keys: DB_KEYS, where: 'in the database entry, one level up' },
  { keys: GLOBAL_OWN_KEYS, where: 'at the top level of the file' },
];

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function checkDirectory(sec: Section, path: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw sec.errorAt('dir', `directory ${path} does not exist or cannot be read`, err);
  }
  if (!isDir) throw sec.errorAt('dir', `${path} is not a directory`);
}

/** Why `addr` is not a usable `host:port`, as Go's net.SplitHostPort sees it; undefined when it is fine. */
function hostPortProblem(addr: string): string | undefined {
  let port: string;
  if (addr.startsWith('[')) {
    const close = addr.indexOf(']');
    if (close < 0) return 'missing ]';
    if (addr[close + 1] !== ':') return 'must specify a port (host:port)';
    port = addr.slice(close + 2);
  } else {
    const colon = addr.lastIndexOf(':');
    if (colon < 0) return 'must specify a port (host:port)';
    if (addr.indexOf(':') !== colon) return 'too many colons (write IPv6 hosts as [::1]:9090)';
    port = addr.slice(colon + 1);
  }
  return port === '' ? 'must specify a port (host:port)' : undefined;
}

/**
 * Two entries for one database, two databases sharing local state, or two
 * databases writing to one replica would corrupt each other's backups.
 */
function checkDistinct(file: string, dbs: readonly DbConfig[]): void {
  const byPath = new Map<string, DbConfig>();
  const byMeta = new Map<string, DbConfig>();
  const byReplica = new Map<string, DbConfig>();
  const at = (db: DbConfig, key: string): { file: string; line?: number; column?: number; keyPath: string } => ({
    ...db.source,
    file,
    keyPath: `${db.source.keyPath}.${key}`,
  });
  const where = (db: DbConfig): string => `${db.source.keyPath}${db.source.line === undefined ? '' : ` (line ${db.source.line})`}`;
  for (const db of dbs) {
    if (db.path === undefined) continue;
    const first = byPath.get(db.path);
    if (first !== undefined) throw new ConfigError(at(db, 'path'), `database ${db.path} is already configured by ${where(first)}`);
    byPath.set(db.path, db);

    const meta = db.metaPath ?? defaultMetaDir(db.path);
    const sharing = byMeta.get(meta);
    if (sharing !== undefined) throw new ConfigError(at(db, 'meta-path'), `meta-path ${meta} is already used by ${where(sharing)}`);
    byMeta.set(meta, db);

    for (const [i, r] of db.replicas.entries()) {
      const endpoint = r.options['endpoint'];
      const replicaKey = `${r.type} ${r.url} ${typeof endpoint === 'string' ? endpoint : ''}`;
      const same = byReplica.get(replicaKey);
      const key = db.replicas.length > 1 ? `replicas[${i}]` : 'replica';
      if (same === db) throw new ConfigError({ ...r.source, file }, `replica ${r.url} is given twice for this database`);
      if (same !== undefined) {
        const reason = `replica ${r.url} is already the replica of ${where(same)}; each database needs its own`;
        throw new ConfigError(at(db, key), reason);
      }
      byReplica.set(replicaKey, db);
    }
  }
}
