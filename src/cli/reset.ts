import { rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { TidemarkError } from '../errors.js';
import { fsyncDir } from '../io/durable-fs.js';
import { defaultMetaDir } from '../replication/local-meta.js';
import { addConfigOptions, configuredDatabase, type ConfigFlags } from './cli-config.js';
import { describeLockHolder, readLockHolder } from '../io/owner-lock.js';
import { modelPath } from '../replication/model-file.js';
import { REPLICATOR_LOCK_FILE } from '../replication/replicator-lock.js';

export function registerReset(program: Command): void {
  addConfigOptions(
    program
      .command('reset')
      .description("delete a database's local replication state; the next sync writes a fresh full image (the database is not touched)")
      .argument('<DB_PATH>', 'the database'),
  ).action(async (dbPath: string, flags: ConfigFlags) => {
    const path = resolve(dbPath);
    try {
      await stat(path);
    } catch (err) {
      throw new TidemarkError(`database does not exist: ${path}`, { cause: err });
    }
    // As Litestream: a config is read only when -config names one, for a custom meta-path.
    const meta = flags.config === undefined ? defaultMetaDir(path) : (await configuredDatabase(flags, path)).db.metaPath;
    const holder = await readLockHolder(join(meta, REPLICATOR_LOCK_FILE));
    if (holder.state === 'held' && holder.holder.liveness !== 'dead') {
      // The running replicator keeps what it knows in memory; deleting its files would only confuse it.
      throw new TidemarkError(`${path} is being replicated (${describeLockHolder(holder.holder)}): stop that replicator before resetting its state`);
    }
    const ltxDir = join(meta, 'ltx');
    try {
      await stat(ltxDir);
    } catch {
      process.stdout.write(`No local state to reset for ${path} (${meta} has none).\n`);
      return;
    }
    await rm(ltxDir, { recursive: true, force: true });
    await rm(modelPath(meta), { force: true });
    await fsyncDir(meta);
    process.stdout.write(`Reset complete for ${path}. The next replication sync will write a fresh full image.\n`);
  });
}
