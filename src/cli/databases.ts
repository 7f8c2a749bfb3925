import type { Command } from 'commander';
import { replicaNameOf } from '../config/types.js';
import { resolveDatabases } from '../config/databases.js';
import { addConfigOptions, formatTable, loadCliConfig, type ConfigFlags } from './cli-config.js';

interface DatabasesFlags extends ConfigFlags {
  json?: boolean;
}

export function registerDatabases(program: Command): void {
  addConfigOptions(
    program
      .command('databases')
      .description('list the databases in the configuration file and their replicas (dir entries expanded)')
      .option('--json', 'print JSON'),
  ).action(async (flags: DatabasesFlags) => {
    const config = await loadCliConfig(flags, { checkDirs: true });
    const dbs = await resolveDatabases(config);
    if (flags.json) {
      const out = dbs.map((d) => ({
        path: d.path,
        meta_path: d.metaPath,
        replica: { type: d.replica.type, url: d.replica.url },
        ...(d.replicas.length > 1 ? { replicas: d.replicas.map((r) => ({ name: replicaNameOf(r), type: r.type, url: r.url })) } : {}),
      }));
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    if (dbs.some((d) => d.replicas.length > 1)) {
      // Several replicas: one line each, with its name.
      const rows = dbs.flatMap((d) => d.replicas.map((r) => [d.path, replicaNameOf(r), r.type, r.url]));
      process.stdout.write(formatTable([['path', 'name', 'replica', 'url'], ...rows]));
      return;
    }
    process.stdout.write(formatTable([['path', 'replica', 'url'], ...dbs.map((d) => [d.path, d.replica.type, d.replica.url])]));
  });
}
