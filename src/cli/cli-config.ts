import type { Command } from 'commander';
import { findDatabase } from '../config/databases.js';
import { loadConfig, resolveConfigPath } from '../config/load-config.js';
import type { ResolvedDatabase, TidemarkConfig } from '../config/types.js';
import { TidemarkError } from '../errors.js';

export interface ConfigFlags {
  config?: string;
  /** Commander's negatable `--no-expand-env`: false when given. */
  expandEnv?: boolean;
}

/** `-config PATH` and `-no-expand-env`, as every config-reading Litestream command has them. */
export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('--config <PATH>', 'configuration file (default: $TIDEMARK_CONFIG, $LITESTREAM_CONFIG, /etc/tidemark.yml, /etc/litestream.yml)')
    .option('--no-expand-env', 'do not expand $VAR and ${VAR} in the configuration file');
}

/** Loads the configuration file the flags and environment point at. */
export async function loadCliConfig(flags: ConfigFlags, options: { checkDirs?: boolean } = {}): Promise<TidemarkConfig> {
  const { path } = resolveConfigPath({ explicit: flags.config });
  // Only the daemon needs each `dir:` to exist; a restore host may not have it yet.
  return loadConfig(path, { expandEnv: flags.expandEnv !== false, checkDirs: options.checkDirs ?? false });
}

/** The database at `dbPath` as the configuration describes it; an error naming the file when it is not there. */
export async function configuredDatabase(flags: ConfigFlags, dbPath: string): Promise<{ config: TidemarkConfig; db: ResolvedDatabase }> {
  const config = await loadCliConfig(flags);
  const db = findDatabase(config, dbPath);
  if (db === undefined) throw new DatabaseNotInConfigError(`database not found in config ${config.file ?? ''}: ${dbPath}`.replace('  ', ' '));
  return { config, db };
}

export class DatabaseNotInConfigError extends TidemarkError {
  override name = 'DatabaseNotInConfigError';
}

/** Columns separated by two spaces and padded to the widest cell, as Go's tabwriter lays Litestream's tables out. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 2))).join('').trimEnd() + '\n').join('');
}

/** Go's time.RFC3339 in UTC: whole seconds, `Z`. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
