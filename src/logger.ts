/**
 * Structured logging in the shape Litestream's slog output has (`time=…
 * level=INFO msg="…" db=…`, or one JSON object per line), so log tooling
 * written for one tool reads the other. Written here rather than pulled in:
 * the whole need is a level filter and two line formats.
 */

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'text' | 'json';
export type LogAttrs = Readonly<Record<string, unknown>>;

/** Default threshold, as Litestream's. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export interface Logger {
  log(level: LogLevel, msg: string, attrs?: LogAttrs): void;
  debug(msg: string, attrs?: LogAttrs): void;
  info(msg: string, attrs?: LogAttrs): void;
  warn(msg: string, attrs?: LogAttrs): void;
  error(msg: string, attrs?: LogAttrs): void;
  /** A logger that adds `attrs` to every line. */
  with(attrs: LogAttrs): Logger;
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go (default process.stderr). */
  write?: (line: string) => void;
  now?: () => Date;
}

/** Parses a level name the way Litestream does: case-insensitive, WARNING as WARN. */
export function parseLogLevel(s: string): LogLevel | undefined {
  const l = s.trim().toLowerCase();
  if (l === 'warning') return 'warn';
  return (LOG_LEVELS as readonly string[]).includes(l) ? (l as LogLevel) : undefined;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? DEFAULT_LOG_LEVEL];
  const format = options.format ?? 'text';
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const make = (base: LogAttrs): Logger =>
    withLevelMethods({
      enabled: (level) => RANK[level] >= threshold,
      with: (attrs) => make({ ...base, ...attrs }),
      log(level, msg, attrs) {
        if (RANK[level] < threshold) return;
        const all = attrs === undefined ? base : { ...base, ...attrs };
        write((format === 'json' ? jsonLine : textLine)(now(), level, msg, all) + '\n');
      },
    });
  return make({});
}

/** Discards everything: the default of library code, which never prints unless asked. */
export const silentLogger: Logger = withLevelMethods({
  log() {},
  with: () => silentLogger,
  enabled: () => false,
});

type CoreLogger = Pick<Logger, 'log' | 'with' | 'enabled'>;

function withLevelMethods(core: CoreLogger): Logger {
  return {
    ...core,
    debug: (msg, attrs) => core.log('debug', msg, attrs),
    info: (msg, attrs) => core.log('info', msg, attrs),
    warn: (msg, attrs) => core.log('warn', msg, attrs),
    error: (msg, attrs) => core.log('error', msg, attrs),
  };
}

function textLine(time: Date, level: LogLevel, msg: string, attrs: LogAttrs): string {
  let line = `time=${time.toISOString()} level=${level.toUpperCase()} msg=${textValue(msg)}`;
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) line += ` ${k}=${textValue(v)}`;
  return line;
}

function jsonLine(time: Date, level: LogLevel, msg: string, attrs: LogAttrs): string {
  const o: Record<string, unknown> = { time: time.toISOString(), level: level.toUpperCase(), msg };
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) o[k] = plain(v);
  return JSON.stringify(o);
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return v.message;
  if (v instanceof Date) return v.toISOString();
  return v;
}

/** Quotes a value only when it would not read back as one token, as slog's text handler does. */
function textValue(v: unknown): string {
  const s = String(plain(v));
  return s === '' || /[\s"=\\]/.test(s) || /[^\x21-\x7e]/.test(s) ? JSON.stringify(s) : s;
}

/**
 * Reports a failure that a loop retries: the first failure at once, the same
 * failure again at most every `intervalMs` (with how many times it happened),
 * and the recovery once. A disk that stays full for an hour gives a handful of
 * lines, not thousands.
 */
export class RetryReporter {
  #failures = 0;
  #lastMessage = '';
  #lastLoggedAt = -Infinity;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
    private readonly intervalMs = RETRY_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get failures(): number {
    return this.#failures;
  }

  failed(err: unknown, attrs?: LogAttrs): void {
    this.#failures++;
    const message = err instanceof Error ? err.message : String(err);
    const t = this.now();
    if (message === this.#lastMessage && t - this.#lastLoggedAt < this.intervalMs) return;
    this.#lastMessage = message;
    this.#lastLoggedAt = t;
    this.logger.log('error', `${this.what} failed, will retry`, { ...attrs, error: message, attempts: this.#failures });
  }

  succeeded(attrs?: LogAttrs): void {
    if (this.#failures === 0) return;
    this.logger.log('info', `${this.what} recovered`, { ...attrs, failed_attempts: this.#failures });
    this.#failures = 0;
    this.#lastMessage = '';
    this.#lastLoggedAt = -Infinity;
  }
}

/** Litestream logs a repeating replica error at most every 30 s. */
export const RETRY_LOG_INTERVAL_MS = 30_000;
