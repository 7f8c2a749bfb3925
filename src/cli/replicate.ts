import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { DbReplicator, DEFAULT_SYNC_INTERVAL_MS } from '../replication/index.js';
import { createReplicaClient } from '../storage/index.js';
import type { Logger } from '../logger.js';
import { cliLogger } from './cli-logger.js';
import { parseDuration } from './duration.js';

/** How long a shutdown waits for the final sync to reach the replica (a second signal cuts it short). */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

interface ReplicateFlags {
  config?: string;
  once?: boolean;
  exec?: string;
  syncInterval?: string;
  watch?: boolean;
  logLevel?: string;
}

export function registerReplicate(program: Command): void {
  program
    .command('replicate')
    .description('replicate a SQLite database continuously to a replica until a signal (or the -exec child) stops it')
    .argument('[DB_PATH]', 'SQLite database to replicate')
    .argument('[REPLICA_URL...]', 'replica: a directory path or file:///path')
    .option('--config <PATH>', 'configuration file (not supported yet: give DB_PATH and REPLICA_URL)')
    .option('--once', 'sync once, upload, and exit')
    .option('--exec <CMD>', 'run CMD through the shell; stop replicating when it exits, with its exit code')
    .option('--sync-interval <DURATION>', 'how often to look for new WAL frames', `${DEFAULT_SYNC_INTERVAL_MS}ms`)
    .option('--watch', 'also sync as soon as the WAL changes, for sub-second replication')
    .option('--log-level <LEVEL>', 'trace, debug, info, warn or error (default: $LOG_LEVEL, else info)')
    .action(async (dbPath: string | undefined, urls: string[], flags: ReplicateFlags) => {
      if (flags.config !== undefined) throw new UsageError('-config is not supported yet: use tidemark replicate DB_PATH REPLICA_URL');
      if (dbPath === undefined) throw new UsageError('replicate needs DB_PATH and REPLICA_URL');
      if (urls.length === 0) throw new UsageError(`must specify a replica URL for ${dbPath}`);
      if (urls.length > 1) throw new UsageError('more than one replica per database is not supported yet');
      if (flags.once && flags.exec !== undefined) throw new UsageError('-once cannot be combined with -exec');
      const syncIntervalMs = parseDuration(flags.syncInterval ?? `${DEFAULT_SYNC_INTERVAL_MS}ms`, '-sync-interval');
      const logger = cliLogger({ flag: flags.logLevel });
      const url = urls[0]!;
      const client = createReplicaClient(url);
      await client.init();
      const replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs, logger });

      if (flags.once) {
        const txid = await replicator.syncAndWait();
        await replicator.close();
        logger.info('synced', { db: dbPath, replica: url, txid: txid.toString(16).padStart(16, '0') });
        return;
      }

      replicator.start({ watch: flags.watch ?? false });
      logger.info('replicating', { db: dbPath, replica: url });
      process.exitCode = await runUntilStopped(replicator, flags.exec, logger);
    });
}

/**
 * Waits for SIGINT/SIGTERM or the exec child's exit, then closes the
 * replicator (final sync and upload). A second signal abandons the wait.
 */
async function runUntilStopped(replicator: DbReplicator, exec: string | undefined, logger: Logger): Promise<number> {
  let signals = 0;
  let childCode = 0;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        logger.info('signal received, syncing before exit (send it again to stop at once)', { signal: sig });
        resolve();
      } else {
        logger.warn('signal received again, exiting without waiting for the replica', { signal: sig });
        process.exit(1);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (exec !== undefined) {
      const child = spawn(exec, { shell: true, stdio: 'inherit' });
      child.on('exit', (code, signal) => {
        childCode = code ?? (signal ? 128 : 1);
        logger.info('child exited', { code: code ?? undefined, signal: signal ?? undefined });
        resolve();
      });
      child.on('error', (err) => {
        childCode = 1;
        logger.error('could not run the -exec command', { exec, error: err.message });
        resolve();
      });
    }
  });
  await stopped;
  try {
    await replicator.close({ timeoutMs: SHUTDOWN_TIMEOUT_MS });
  } catch (err) {
    logger.error('final sync failed', { error: err instanceof Error ? err.message : String(err) });
    return childCode || 1;
  }
  return childCode;
}
