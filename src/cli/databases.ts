import type { Command } from 'commander';
import { resolveDatabases } from '../config/index.js';
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
      const out = dbs.map((d) => ({ path: d.path, meta_path: d.metaPath, replica: { type: d.replica.type, url: d.replica.url } }));
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    process.stdout.write(formatTable([['path', 'replica', 'url'], ...dbs.map((d) => [d.path, d.replica.type, d.replica.url])]));
  });
}
