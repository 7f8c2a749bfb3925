import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CompactionLevels } from '../compaction/compaction-levels.js';
import { enforceSnapshotRetention } from '../compaction/snapshot-retention.js';
import { ConfigNotFoundError } from '../config/errors.js';
import { replicaNameOf, type ReplicaConfig, type ResolvedDatabase, type TidemarkConfig } from '../config/types.js';
import { resolveDatabases } from '../config/databases.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { TidemarkError, UsageError } from '../errors.js';
import { formatTxid } from '../ltx/file-name.js';
import type { Logger } from '../logger.js';
import { DEFAULT_SYNC_INTERVAL_MS, type DbReplicator } from '../replication/db-replicator.js';
import { DirWatcher } from '../store/dir-watcher.js';
import { Store, type StoreCompactionOptions, type StoreDatabase } from '../store/store.js';
import { redactUrl } from '../storage/errors.js';
import { packageVersion } from './version.js';
import { DatabaseWaiter, databaseFileState, type DatabaseFileState } from './database-waiter.js';
import { ReplicaLogNames } from './replica-log-names.js';
import { IsADirectoryError } from './replica-arg.js';
import { isPermanentError } from '../storage/permanent-error.js';
import { createReplicaClient, replicaDisplayName } from '../storage/replica-url.js';
import type { ReplicaClient } from '../storage/replica-client.js';
import { withLocalAgeIdentity } from '../storage/age/age-local-identity.js';
import { addConfigOptions, loadCliConfig, type ConfigFlags } from './cli-config.js';
import { Heartbeat } from '../store/heartbeat.js';
import { MeteredReplicaClient } from '../metrics/metered-replica-client.js';
import { startMetricsServer } from '../metrics/metrics-server.js';
import { ReplicationMetrics } from '../metrics/replication-metrics.js';
import { DEFAULT_SHUTDOWN_SYNC_INTERVAL_MS, DEFAULT_SHUTDOWN_SYNC_TIMEOUT_MS } from '../config/defaults.js';
import { cliLogger, cliLogLevel } from './cli-logger.js';
import { parseDuration } from './duration.js';

/** `replicate -once` could not bring a database's replica up to date. */
export class OnceFailedError extends TidemarkError {
  override name = 'OnceFailedError';
}


interface ReplicateFlags extends ConfigFlags {
  once?: boolean;
  forceSnapshot?: boolean;
  enforceRetention?: boolean;
  exec?: string;
  syncInterval?: string;
  watch?: boolean;
  logLevel?: string;
}

/** What one run replicates: the databases, and for a config, the rest of its settings. */
interface Plan {
  readonly databases: StoreDatabase[];
  readonly watchers: ResolvedDatabase['entry'][];
  readonly compaction: StoreCompactionOptions;
  readonly exec: string | undefined;
  readonly snapshotRetentionMs: number;
  readonly config: TidemarkConfig | undefined;
}

export function registerReplicate(program: Command): void {
  addConfigOptions(
    program
      .command('replicate')
      .description('replicate SQLite databases continuously to their replicas until a signal (or the -exec child) stops it')
      .argument('[DB_PATH]', 'SQLite database to replicate (without it, the databases of the configuration file)')
      .argument('[REPLICA_URL...]', 'replica: a directory path, file:///path or s3://bucket/path')
      .option('--once', 'sync once, upload, and exit')
      .option('--force-snapshot', 'with -once: also write a level-9 snapshot')
      .option('--enforce-retention', 'with -once: also apply snapshot retention')
      .option('--exec <CMD>', 'run CMD through the shell; stop replicating when it exits, with its exit code')
      .option('--sync-interval <DURATION>', 'how often to look for new WAL frames (with DB_PATH)', `${DEFAULT_SYNC_INTERVAL_MS}ms`)
      .option('--watch', 'also sync as soon as a WAL changes, for sub-second replication')
      .option('--log-level <LEVEL>', 'trace, debug, info, warn or error (default: $LOG_LEVEL, the config, else info)'),
  ).action(async (dbPath: string | undefined, urls: string[], flags: ReplicateFlags) => {
    if (flags.once && flags.exec !== undefined) throw new UsageError('-once cannot be combined with -exec');
    if (!flags.once && (flags.forceSnapshot || flags.enforceRetention)) {
      throw new UsageError(`${flags.forceSnapshot ? '-force-snapshot' : '-enforce-retention'} requires -once`);
    }
    const plan = dbPath === undefined ? await planFromConfig(flags) : await planFromArgs(dbPath, urls, flags);
    const loggerOptions = {
      flag: flags.logLevel,
      configLevel: plan.config?.logging.levelSource === 'config' ? plan.config.logging.level : undefined,
      format: plan.config?.logging.type,
    };
    const names = new ReplicaLogNames();
    for (const db of plan.databases) names.register(db);
    const logger = names.wrap(cliLogger(loggerOptions));
    // A path that cannot be a database is the one line of output, before any log line.
    const states = new Map<string, DatabaseFileState>();
    for (const db of plan.databases) states.set(db.path, await usableDatabaseState(db.path));
    // As Litestream, the version comes first; -once stays quiet about it, so that a failure is its one line of output.
    logger.log(flags.once ? 'debug' : 'info', 'tidemark', { version: packageVersion(), level: cliLogLevel(loggerOptions) });
    for (const w of plan.config?.warnings ?? []) logger.warn(w.message, { config: `${w.location.file}:${w.location.line}` });

    if (flags.once) {
      await runOnce(plan, flags, logger, names);
      return;
    }
    // Listening before anything starts: a signal that arrives while databases open is not lost.
    const signalled = onStopSignals(logger);
    const store = new Store({ logger, watch: flags.watch ?? false, compaction: plan.compaction });
    const addr = plan.config?.addr;
    const metrics = addr === undefined ? undefined : new ReplicationMetrics(() => store.status());
    // Listening before any database opens: an address in use is the one error, and nothing has started.
    const metricsServer = addr === undefined ? undefined : await startMetricsServer(addr, metrics!, logger);
    if (metricsServer !== undefined) logger.info('serving metrics', { addr: metricsServer.address, path: '/metrics' });
    const start = async (db: StoreDatabase): Promise<void> => {
      names.register(db);
      await addDatabase(store, metrics === undefined ? db : metered(db, metrics), logger);
    };
    const waiter = new DatabaseWaiter({ logger, start });
    const watchers = plan.watchers.map(
      (entry) =>
        new DirWatcher({
          entry,
          logger,
          onAdd: (db) => start(storeDatabase(db)),
          onRemove: (path) => store.remove(path, { timeoutMs: 0, finalSync: false }),
        }),
    );
    try {
      for (const db of plan.databases) {
        // Litestream replicates a database that does not exist yet from the moment it appears.
        if (states.get(db.path) === 'missing') waiter.add(db);
        else await start(db);
      }
      for (const w of watchers) await w.start();
    } catch (err) {
      await waiter.stop();
      for (const w of watchers) await w.stop().catch(() => undefined);
      await store.close({ timeoutMs: 0 }).catch(() => undefined);
      await metricsServer?.close();
      throw err;
    }
    if (plan.databases.length === 0 && watchers.length === 0) logger.warn('no databases to replicate');
    const hb = plan.config?.heartbeat;
    const heartbeat = hb?.url === undefined ? undefined : new Heartbeat({ url: hb.url, intervalMs: hb.intervalMs, databases: () => store.status(), logger });
    if (heartbeat !== undefined) {
      heartbeat.start();
      // The URL of a monitoring service usually carries its secret: only the host is logged.
      logger.info('heartbeat enabled', { host: new URL(hb!.url!).host, interval: `${heartbeat.intervalMs / 1000}s` });
    }
    try {
      const shutdown = {
        timeoutMs: plan.config?.shutdownSyncTimeoutMs ?? DEFAULT_SHUTDOWN_SYNC_TIMEOUT_MS,
        intervalMs: plan.config?.shutdownSyncIntervalMs ?? DEFAULT_SHUTDOWN_SYNC_INTERVAL_MS,
      };
      process.exitCode = await runUntilStopped(store, watchers, waiter, plan.exec, signalled, logger, shutdown);
    } finally {
      await heartbeat?.stop();
      await metricsServer?.close();
    }
  });
}

/** A database path's state at start; an error naming it when it is a directory or not a SQLite database. */
async function usableDatabaseState(path: string): Promise<DatabaseFileState> {
  const state = await databaseFileState(path);
  if (state === 'directory') throw new IsADirectoryError(`${path}: is a directory, not a SQLite database`);
  if (state === 'not-sqlite') throw new NotADatabaseError(`${path}: not a SQLite database (the file does not start with a SQLite header)`);
  return state;
}

/** A database path names a file that is not a SQLite database. */
export class NotADatabaseError extends TidemarkError {
  override name = 'NotADatabaseError';
}

/** Starts replicating a database, saying so when opening it converted it from a rollback journal to WAL. */
async function addDatabase(store: Store, db: StoreDatabase, logger: Logger): Promise<void> {
  const before = await databaseFileState(db.path);
  await store.add(db);
  if (before === 'rollback') logger.info('converted the database from rollback journal to WAL mode', { db: db.path });
}

async function planFromArgs(dbPath: string, urls: string[], flags: ReplicateFlags): Promise<Plan> {
  if (flags.config !== undefined) throw new UsageError('-config cannot be combined with DB_PATH and REPLICA_URL');
  if (urls.length === 0) throw new UsageError(`must specify a replica URL for ${dbPath}`);
  const syncIntervalMs = parseDuration(flags.syncInterval ?? `${DEFAULT_SYNC_INTERVAL_MS}ms`, '-sync-interval');
  const url = urls[0]!;
  // Several URLs are several replicas, named by type ("s3", then "s3-2", …), as Litestream v0.3 took them.
  const names = new Map<string, number>();
  const replicas = urls.map((u) => {
    const client = createReplicaClient(u);
    const n = (names.get(client.type) ?? 0) + 1;
    names.set(client.type, n);
    return { name: n === 1 ? client.type : `${client.type}-${n}`, client, displayName: replicaDisplayName(u) };
  });
  return {
    databases: [
      urls.length === 1
        ? { path: resolve(dbPath), client: replicas[0]!.client, replicaName: replicaDisplayName(url), replicator: { syncIntervalMs } }
        : { path: resolve(dbPath), replicas, replicator: { syncIntervalMs } },
    ],
    watchers: [],
    compaction: {},
    exec: flags.exec,
    snapshotRetentionMs: new CompactionLevels().snapshotIntervalMs,
    config: undefined,
  };
}

async function planFromConfig(flags: ReplicateFlags): Promise<Plan> {
  let config: TidemarkConfig;
  try {
    config = await loadCliConfig(flags, { checkDirs: true });
  } catch (err) {
    if (!(err instanceof ConfigNotFoundError) || flags.config !== undefined) throw err;
    throw new UsageError(`nothing to replicate: give DB_PATH and REPLICA_URL, or a configuration file with -config PATH (${err.message})`);
  }
  const watched = config.dbs.filter((d) => d.dir?.watch === true);
  const fixed = await resolveDatabases({ ...config, dbs: config.dbs.filter((d) => d.dir?.watch !== true) });
  const levels = new CompactionLevels(
    [{ level: 0, intervalMs: 0 }, ...config.levels.map((l) => ({ level: l.level, intervalMs: l.intervalMs }))],
    config.snapshot.intervalMs,
  );
  return {
    databases: fixed.map(storeDatabase),
    watchers: watched,
    compaction: {
      levels,
      snapshotRetentionMs: config.snapshot.retentionMs,
      l0RetentionMs: config.l0RetentionMs,
      l0RetentionCheckIntervalMs: config.l0RetentionCheckIntervalMs,
      ...(config.validation.intervalMs === undefined ? {} : { validationIntervalMs: config.validation.intervalMs }),
      deleteRemote: config.retention.enabled,
      verify: config.verifyCompaction,
    },
    exec: flags.exec ?? config.exec,
    snapshotRetentionMs: config.snapshot.retentionMs,
    config,
  };
}

/** The database with every replica client counted in the metrics. */
function metered(db: StoreDatabase, metrics: ReplicationMetrics): StoreDatabase {
  if (db.replicas !== undefined) return { ...db, replicas: db.replicas.map((r) => ({ ...r, client: new MeteredReplicaClient(r.client, metrics) })) };
  return db.client === undefined ? db : { ...db, client: new MeteredReplicaClient(db.client, metrics) };
}

function storeDatabase(db: ResolvedDatabase): StoreDatabase {
  const e = db.entry;
  // An encrypted replica's replicator reads its own uploads back (compaction, checks): see docs/encryption.md.
  const clientOf = (r: ReplicaConfig): ReplicaClient =>
    createReplicaClient(r.url, withLocalAgeIdentity(r.options, db.metaPath, `replica ${redactUrl(r.url)}`));
  const replicas =
    db.replicas.length > 1
      ? { replicas: db.replicas.map((r) => ({ name: replicaNameOf(r), client: clientOf(r), displayName: replicaDisplayName(r.url) })) }
      : { client: clientOf(db.replica), replicaName: replicaDisplayName(db.replica.url) };
  return {
    path: db.path,
    metaPath: db.metaPath,
    ...replicas,
    replicator: {
      syncIntervalMs: e.monitorIntervalMs,
      busyTimeoutMs: e.busyTimeoutMs,
      minCheckpointPageN: e.minCheckpointPageN,
      truncatePageN: e.truncatePageN,
      checkpointIntervalMs: e.checkpointIntervalMs,
      ...(db.replica.validationIntervalMs === undefined ? {} : { validationIntervalMs: db.replica.validationIntervalMs }),
    },
  };
}

/**
 * How long `replicate -once` keeps retrying a database that keeps failing
 * for a reason that may pass (a full disk, a network error) before it exits
 * non-zero; an upload that makes progress is never cut short. A failure
 * that cannot pass (a read-only or unwritable replica, access denied) ends
 * it at once.
 */
export const ONCE_FAILING_TIMEOUT_MS = 60_000;
/** Pause between attempts of `-once` after a failure that may pass. */
const ONCE_RETRY_DELAY_MS = 1000;
/** How often `-once` looks at whether the upload is still failing. */
const ONCE_WATCH_INTERVAL_MS = 250;

/** `-once`: one sync and upload per database, then the snapshot and retention asked for, then exit. */
async function runOnce(plan: Plan, flags: ReplicateFlags, logger: Logger, names: ReplicaLogNames): Promise<void> {
  const dbs = [...plan.databases];
  for (const entry of plan.watchers) {
    for (const db of await resolveDatabases({ ...plan.config!, dbs: [entry] })) dbs.push(storeDatabase(db));
  }
  for (const db of dbs) names.register(db);
  // -once checks nothing in the background: validation belongs to the daemon.
  const store = new Store({ logger, compaction: false });
  let failed = false;
  try {
    for (const db of dbs) await addDatabase(store, { ...db, replicator: { ...db.replicator, validationIntervalMs: 0 } }, logger);
    for (const db of dbs) {
      const r = store.replicator(db.path)!;
      const txid = await syncOnce(db.path, r);
      const targets = db.replicas ?? [{ name: db.client!.type, client: db.client!, displayName: db.replicaName }];
      for (const t of targets) logger.info('synced', { db: db.path, replica: t.name, txid: formatTxid(txid) });
      for (const t of targets) {
        const which = targets.length > 1 ? { replica: t.name } : {};
        // The replicator logs the snapshot it writes.
        if (flags.forceSnapshot) await r.snapshot(which);
        if (flags.enforceRetention) {
          const result = await enforceSnapshotRetention({
            client: t.client,
            retentionMs: plan.snapshotRetentionMs,
            ...(plan.compaction.levels === undefined ? {} : { levels: plan.compaction.levels }),
            ...(plan.compaction.deleteRemote === undefined ? {} : { deleteRemote: plan.compaction.deleteRemote }),
          });
          logger.info('retention enforced', {
            db: db.path,
            ...which,
            snapshots_deleted: result.deletedSnapshots.length,
            files_deleted: result.deletedFiles.length,
          });
        }
      }
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // After a failure the replica is not waited for again: closing must not undo the bound.
    await store.close(failed ? { timeoutMs: 0 } : {}).catch((err: unknown) => {
      if (!failed) throw err;
    });
  }
}

/**
 * One database's sync and upload for -once: failures that may pass are
 * retried until they have lasted ONCE_FAILING_TIMEOUT_MS, others end it.
 */
async function syncOnce(path: string, r: DbReplicator): Promise<bigint> {
  let failingSince: number | undefined;
  for (;;) {
    try {
      await r.sync();
      const txid = r.status().localTxid;
      await waitUploaded(r, txid);
      return txid;
    } catch (err) {
      if (err instanceof OnceFailedError) throw err;
      const message = (err as Error).message;
      if (isPermanentError(err)) throw new OnceFailedError(`${path}: ${message}`, { cause: err });
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= ONCE_FAILING_TIMEOUT_MS) {
        throw new OnceFailedError(`${path}: still failing after ${ONCE_FAILING_TIMEOUT_MS / 1000} s: ${message}`, { cause: err });
      }
      await sleep(ONCE_RETRY_DELAY_MS);
    }
  }
}

/** Waits for the replica to hold `txid`, giving up once uploads have failed without a break for ONCE_FAILING_TIMEOUT_MS. */
async function waitUploaded(r: DbReplicator, txid: bigint): Promise<void> {
  const ac = new AbortController();
  let failingSince: number | undefined;
  const watch = setInterval(() => {
    const err = r.status().lastError;
    if (err === undefined) {
      failingSince = undefined;
      return;
    }
    failingSince ??= Date.now();
    if (Date.now() - failingSince >= ONCE_FAILING_TIMEOUT_MS) {
      ac.abort(new OnceFailedError(`${r.dbPath}: the replica upload has failed for ${ONCE_FAILING_TIMEOUT_MS / 1000} s: ${err.message}`, { cause: err }));
    }
  }, ONCE_WATCH_INTERVAL_MS);
  try {
    await r.waitForReplication(txid, { signal: ac.signal, failOnPermanentError: true });
  } finally {
    clearInterval(watch);
  }
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function onStopSignals(logger: Logger): Promise<void> {
  let signals = 0;
  return new Promise<void>((resolve) => {
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
  });
}

/**
 * Waits for a signal or the exec child's exit, then closes the store (final
 * sync and upload of every database).
 */
async function runUntilStopped(
  store: Store,
  watchers: DirWatcher[],
  waiter: DatabaseWaiter,
  exec: string | undefined,
  signalled: Promise<void>,
  logger: Logger,
  shutdown: { timeoutMs: number; intervalMs: number },
): Promise<number> {
  let childCode = 0;
  const stopped = new Promise<void>((resolve) => {
    void signalled.then(resolve);
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
  await waiter.stop();
  for (const db of waiter.waiting) logger.info('stopped waiting for the database', { db });
  for (const w of watchers) await w.stop();
  const replicators = store.paths.map((path) => ({ path, replicator: store.replicator(path)! }));
  try {
    // Litestream's shutdown-sync-timeout: how long to keep retrying, every shutdown-sync-interval; 0 is one attempt.
    await store.close(shutdown.timeoutMs === 0 ? { singleAttempt: true } : { timeoutMs: shutdown.timeoutMs, retryIntervalMs: shutdown.intervalMs });
  } catch (err) {
    logger.error('final sync failed', { error: err instanceof Error ? err.message : String(err) });
    return childCode || 1;
  }
  // Every replica holds the final TXID now: the close above waited for it.
  for (const { path, replicator } of replicators) logger.info('replication stopped', { db: path, txid: formatTxid(replicator.status().replicatedTxid) });
  return childCode;
}
