import { join, resolve } from 'node:path';
import { ValueSyntaxError } from './errors.js';

/**
 * Paths in litestream.yml are normalised like Litestream's `expand`: a
 * `sqlite://` or `sqlite3://` prefix is dropped, a leading `~` or `~/` is the
 * home directory, and relative paths are made absolute against the current
 * working directory (not the config file's directory).
 */

export interface PathContext {
  readonly cwd: string;
  /** '' when there is no home directory. */
  readonly homeDir: string;
}

const SQLITE_PREFIXES = ['sqlite3://', 'sqlite://'];

export function stripSqlitePrefix(s: string): string {
  for (const prefix of SQLITE_PREFIXES) {
    if (s.startsWith(prefix)) return s.slice(prefix.length);
  }
  return s;
}

/** An absolute, normalised path; throws ValueSyntaxError when `~` is used without a home directory. */
export function expandPath(s: string, ctx: PathContext): string {
  const p = stripSqlitePrefix(s);
  if (p !== '~' && !p.startsWith('~/')) return resolve(ctx.cwd, p);
  if (ctx.homeDir === '') throw new ValueSyntaxError(`cannot expand ${JSON.stringify(p)}: no home directory`);
  return p === '~' ? resolve(ctx.homeDir) : resolve(join(ctx.homeDir, p.slice(2)));
}
