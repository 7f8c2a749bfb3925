/**
 * The two replicators compared, each driven through its own command line:
 * the same commands a user would run, to a directory replica, with default
 * settings (1 s sync interval, Litestream's checkpoint thresholds).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReplicaWatch } from '../replicate/replica-watch.js';
import type { WalEnd } from '../replicate/wal-end.js';
import { LitestreamReplicaWatch } from './litestream-replica-watch.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The built tidemark CLI (npx tsc -p tsconfig.build.json); TIDEMARK_CLI points at another build. */
export const TIDEMARK_CLI = process.env.TIDEMARK_CLI ?? join(root, 'dist', 'cli', 'main.js');
/** Litestream v0.3.13 as the @flydotio/litestream-linux-x64 package ships it; LITESTREAM_BIN overrides. */
export const LITESTREAM_BIN = process.env.LITESTREAM_BIN ?? join(root, 'node_modules', '@flydotio', 'litestream-linux-x64', 'litestream');

export type ToolName = 'tidemark' | 'litestream';

export interface ReplicaProbe {
  covers(end: WalEnd): boolean;
}

export interface Tool {
  name: ToolName;
  /** What `version` prints. */
  version(): string;
  replicateArgv(dbPath: string, replicaDir: string): string[];
  restoreArgv(replicaDir: string, outputPath: string): string[];
  /** A command that only starts the program and exits, to tell start-up cost from restore work. */
  startupArgv(): string[];
  probe(replicaDir: string): ReplicaProbe;
}

function requireFile(path: string, hint: string): string {
  if (!existsSync(path)) throw new Error(`${path} not found: ${hint}`);
  return path;
}

export const TIDEMARK: Tool = {
  name: 'tidemark',
  version: () => execFileSync(process.execPath, [requireFile(TIDEMARK_CLI, 'run npx tsc -p tsconfig.build.json'), 'version'], { encoding: 'utf8' }).trim(),
  replicateArgv: (db, replica) => [process.execPath, TIDEMARK_CLI, 'replicate', db, replica],
  restoreArgv: (replica, out) => [process.execPath, TIDEMARK_CLI, 'restore', '-o', out, replica],
  startupArgv: () => [process.execPath, TIDEMARK_CLI, 'version'],
  probe: (replica) => new ReplicaWatch(replica),
};

export const LITESTREAM: Tool = {
  name: 'litestream',
  version: () => execFileSync(requireFile(LITESTREAM_BIN, 'the @flydotio/litestream-linux-x64 dev dependency is missing'), ['version'], { encoding: 'utf8' }).trim(),
  replicateArgv: (db, replica) => [LITESTREAM_BIN, 'replicate', db, pathToFileURL(replica).href],
  restoreArgv: (replica, out) => [LITESTREAM_BIN, 'restore', '-o', out, pathToFileURL(replica).href],
  startupArgv: () => [LITESTREAM_BIN, 'version'],
  probe: (replica) => new LitestreamReplicaWatch(replica),
};

export const TOOLS: readonly Tool[] = [TIDEMARK, LITESTREAM];
