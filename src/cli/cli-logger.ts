import { UsageError } from '../errors.js';
import { createLogger, DEFAULT_LOG_LEVEL, LOG_LEVELS, parseLogLevel, type LogFormat, type Logger, type LogLevel } from '../logger.js';

/** Environment variable that sets the log level, as Litestream's LOG_LEVEL does. */
export const LOG_LEVEL_ENV = 'LOG_LEVEL';

export interface CliLoggerOptions {
  /** The `-log-level` flag, which wins over the environment and the config. */
  flag?: string | undefined;
  /** `logging.level` from a config file. */
  configLevel?: LogLevel | undefined;
  format?: LogFormat | undefined;
  env?: NodeJS.ProcessEnv;
}

/** The daemon's log level: -log-level, else LOG_LEVEL, else the config, else INFO. */
export function cliLogLevel(options: CliLoggerOptions = {}): LogLevel {
  const env = options.env ?? process.env;
  let level: LogLevel = options.configLevel ?? DEFAULT_LOG_LEVEL;
  const fromEnv = env[LOG_LEVEL_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const parsed = parseLogLevel(fromEnv);
    if (parsed === undefined) throw new UsageError(`${LOG_LEVEL_ENV}=${fromEnv}: unknown log level (one of ${LOG_LEVELS.join(', ')})`);
    level = parsed;
  }
  if (options.flag !== undefined) {
    const parsed = parseLogLevel(options.flag);
    if (parsed === undefined) throw new UsageError(`-log-level ${options.flag}: unknown log level (one of ${LOG_LEVELS.join(', ')})`);
    level = parsed;
  }
  return level;
}

/** The daemon's logger, at cliLogLevel's level; lines go to stderr. */
export function cliLogger(options: CliLoggerOptions = {}): Logger {
  return createLogger({ level: cliLogLevel(options), format: options.format ?? 'text' });
}
