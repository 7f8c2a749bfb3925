import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isErrno } from '../io/durable-fs.js';
import { ConfigError, ConfigNotFoundError, ValueSyntaxError } from './errors.js';
import { expandPath, type PathContext } from './path-expand.js';
import { parseConfig, type ParseConfigOptions } from './parse-config.js';
import type { TidemarkConfig } from './types.js';

/** Looked for first when neither -config nor an environment variable names a file. */
export const DEFAULT_TIDEMARK_CONFIG_PATH = '/etc/tidemark.yml';
/** Litestream's default, used when /etc/tidemark.yml does not exist. */
export const DEFAULT_LITESTREAM_CONFIG_PATH = '/etc/litestream.yml';
export const TIDEMARK_CONFIG_ENV = 'TIDEMARK_CONFIG';
export const LITESTREAM_CONFIG_ENV = 'LITESTREAM_CONFIG';

export type ConfigPathSource = 'flag' | typeof TIDEMARK_CONFIG_ENV | typeof LITESTREAM_CONFIG_ENV | 'default';

export interface ResolvedConfigPath {
  readonly path: string;
  /** What chose it, for "using config X (from Y)" messages. */
  readonly source: ConfigPathSource;
}

export interface ResolveConfigPathOptions {
  /** The -config flag; '' counts as not given. */
  readonly explicit?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Whether a file exists (default fs.existsSync); only asked about the default paths. */
  readonly exists?: (path: string) => boolean;
}

/**
 * Which configuration file a command reads: `-config`, else $TIDEMARK_CONFIG,
 * else $LITESTREAM_CONFIG, else /etc/tidemark.yml when it exists, else
 * /etc/litestream.yml (which may not exist; loading it then fails clearly).
 */
export function resolveConfigPath(options: ResolveConfigPathOptions = {}): ResolvedConfigPath {
  const env = options.env ?? process.env;
  const exists = options.exists ?? existsSync;
  if (options.explicit !== undefined && options.explicit !== '') return { path: options.explicit, source: 'flag' };
  const tidemark = env[TIDEMARK_CONFIG_ENV];
  if (tidemark !== undefined && tidemark !== '') return { path: tidemark, source: TIDEMARK_CONFIG_ENV };
  const litestream = env[LITESTREAM_CONFIG_ENV];
  if (litestream !== undefined && litestream !== '') return { path: litestream, source: LITESTREAM_CONFIG_ENV };
  if (exists(DEFAULT_TIDEMARK_CONFIG_PATH)) return { path: DEFAULT_TIDEMARK_CONFIG_PATH, source: 'default' };
  return { path: DEFAULT_LITESTREAM_CONFIG_PATH, source: 'default' };
}

export type LoadConfigOptions = Omit<ParseConfigOptions, 'filename'>;

/**
 * Reads and parses a configuration file. The path itself may use `~` and be
 * relative to the working directory. Throws ConfigNotFoundError when the file
 * is missing and ConfigError for anything wrong inside it.
 */
export async function loadConfig(path: string, options: LoadConfigOptions = {}): Promise<TidemarkConfig> {
  const paths: PathContext = { cwd: options.cwd ?? process.cwd(), homeDir: options.homeDir ?? homedir() };
  let file: string;
  try {
    file = expandPath(path, paths);
  } catch (err) {
    if (err instanceof ValueSyntaxError) throw new ConfigError({ file: path, keyPath: '' }, err.message, { cause: err });
    throw err;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ConfigNotFoundError(file, { cause: err });
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError({ file, keyPath: '' }, `cannot read config file${code === undefined ? '' : ` (${code})`}`, { cause: err });
  }
  return parseConfig(text, { ...options, filename: file });
}
