import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readLockHolder, type LockHolder } from '../io/owner-lock.js';
import { REPLICATOR_LOCK_FILE } from '../replication/replicator-lock.js';
import { loadValidation, type SavedValidation } from '../replication/validation-file.js';
import type { Command } from 'commander';
import { ConfigNotFoundError } from '../config/errors.js';
import { replicaNameOf, type ReplicaConfig, type ResolvedDatabase } from '../config/types.js';
import { resolveDatabases } from '../config/databases.js';
import { formatTxid } from '../ltx/file-name.js';
import { defaultMetaDir, LocalMeta } from '../replication/local-meta.js';
import { createReplicaClient, replicaDisplayName } from '../storage/replica-url.js';
import { hasAgeOptions } from '../storage/age/age-settings.js';
import { addConfigOptions, configuredDatabase, formatTable, loadCliConfig, type ConfigFlags } from './cli-config.js';

/** How long `status` waits for each replica before reporting it unreachable. */
export const STATUS_REPLICA_TIMEOUT_MS = 5000;
/** Levels listed for the replica's newest TXID. */
const LEVELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

interface StatusFlags extends ConfigFlags {
  json?: boolean;
  offline?: boolean;
}

interface DbStatus {
  database: string;
  status: 'ok' | 'no database' | 'not initialized' | 'error';
  localTxid: bigint | undefined;
  walSize: number;
  replicatedTxid: bigint | undefined;
  replicaError: string | undefined;
  error: string | undefined;
  /** Who replicates the database now, from its lock file. */
  replicator: LockHolder | undefined;
  /** The replicator's last check of the replica and the database. */
  check: SavedValidation | undefined;
  /** Each replica (the first is the one the fields above describe). */
  replicas: ReplicaRow[];
}

interface ReplicaRow {
  name: string;
  url: string;
  replicatedTxid: bigint | undefined;
  replicaError: string | undefined;
  check: SavedValidation | undefined;
  /** The replica's objects are age-encrypted (Litestream v0.5 cannot read it). */
  encrypted: boolean;
}

export function registerStatus(program: Command): void {
  addConfigOptions(
    program
      .command('status')
      .description('show each configured database: local TXID, WAL size, and the replica\'s TXID when it is reachable')
      .argument('[DB_PATH]', 'only this database')
      .option('--offline', 'read local files only; do not contact the replicas')
      .option('--json', 'print JSON'),
  ).action(async (dbPath: string | undefined, flags: StatusFlags) => {
    const dbs = dbPath === undefined ? await resolveDatabases(await loadCliConfig(flags)) : [await statusTarget(flags, dbPath)];
    const rows = await Promise.all(dbs.map((d) => dbStatus(d, flags.offline !== true)));
    if (flags.json) {
      const out = rows.map((r) => ({
        database: r.database,
        status: r.status,
        local_txid: r.localTxid === undefined ? null : formatTxid(r.localTxid),
        wal_size: r.walSize,
        replicated_txid: r.replicatedTxid === undefined ? null : formatTxid(r.replicatedTxid),
        // Litestream v0.5 cannot read an age-encrypted replica, so status says which ones are.
        replica_encrypted: r.replicas[0]?.encrypted ?? false,
        ...(r.replicaError === undefined ? {} : { replica_error: r.replicaError }),
        ...(r.error === undefined ? {} : { error: r.error }),
        replicator:
          r.replicator === undefined
            ? null
            : { pid: r.replicator.pid, host: r.replicator.hostname, since: r.replicator.since, running: r.replicator.liveness },
        last_check: r.check ?? null,
        ...(r.replicas.length > 1
          ? {
              replicas: r.replicas.map((x) => ({
                name: x.name,
                url: x.url,
                replicated_txid: x.replicatedTxid === undefined ? null : formatTxid(x.replicatedTxid),
                encrypted: x.encrypted,
                ...(x.replicaError === undefined ? {} : { replica_error: x.replicaError }),
                last_check: x.check ?? null,
              })),
            }
          : {}),
      }));
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    const replicated = (x: Pick<ReplicaRow, 'replicatedTxid' | 'replicaError' | 'encrypted'> | undefined): string =>
      x === undefined
        ? '-'
        : (x.replicatedTxid !== undefined ? formatTxid(x.replicatedTxid) : x.replicaError !== undefined ? `unreachable: ${x.replicaError}` : '-') +
        (x.encrypted ? ' (age-encrypted)' : '');
    const local = (r: DbStatus): string => (r.localTxid === undefined ? '-' : formatTxid(r.localTxid));
    if (rows.some((r) => r.replicas.length > 1)) {
      // Several replicas: one line per replica, named.
      const table = rows.flatMap((r) =>
        r.replicas.map((x) => [r.database, x.name, r.status, local(r), humanBytes(r.walSize), replicated(x), describeReplicator(r.replicator), describeCheck(x.check)]),
      );
      process.stdout.write(formatTable([['database', 'replica', 'status', 'local txid', 'wal size', 'replicated txid', 'replicator', 'last check'], ...table]));
      return;
    }
    const table = rows.map((r) => [r.database, r.status, local(r), humanBytes(r.walSize), replicated(r.replicas[0]), describeReplicator(r.replicator), describeCheck(r.check)]);
    process.stdout.write(formatTable([['database', 'status', 'local txid', 'wal size', 'replicated txid', 'replicator', 'last check'], ...table]));
  });
}

/** What status reports on for DB_PATH: the database as the configuration describes it, or with no configuration file, its local state alone. */
type StatusTarget = Pick<ResolvedDatabase, 'path' | 'metaPath' | 'replicas'>;

async function statusTarget(flags: StatusFlags, dbPath: string): Promise<StatusTarget> {
  try {
    return (await configuredDatabase(flags, dbPath)).db;
  } catch (err) {
    if (!(err instanceof ConfigNotFoundError) || flags.config !== undefined) throw err;
    const path = resolve(dbPath);
    return { path, metaPath: defaultMetaDir(path), replicas: [] };
  }
}

async function dbStatus(d: StatusTarget, online: boolean): Promise<DbStatus> {
  const s: DbStatus = {
    database: d.path,
    status: 'ok',
    localTxid: undefined,
    walSize: 0,
    replicatedTxid: undefined,
    replicaError: undefined,
    error: undefined,
    replicator: undefined,
    check: undefined,
    replicas: [],
  };
  const lock = await readLockHolder(join(d.metaPath, REPLICATOR_LOCK_FILE)).catch(() => undefined);
  if (lock?.state === 'held') s.replicator = lock.holder;
  try {
    await stat(d.path);
  } catch {
    s.status = 'no database';
  }
  if (s.status === 'ok') {
    try {
      const txid = await new LocalMeta(d.metaPath).maxTxid();
      if (txid === 0n) s.status = 'not initialized';
      else s.localTxid = txid;
      s.walSize = await stat(`${d.path}-wal`).then((st) => st.size, () => 0);
    } catch (err) {
      s.status = 'error';
      s.error = (err as Error).message;
    }
  }
  s.replicas = await Promise.all(
    d.replicas.map(async (r, i) => {
      const row: ReplicaRow = {
        name: replicaNameOf(r),
        url: replicaDisplayName(r.url),
        replicatedTxid: undefined,
        replicaError: undefined,
        check: await loadValidation(d.metaPath, i === 0 ? undefined : replicaNameOf(r)),
        encrypted: hasAgeOptions(r.options),
      };
      if (online) {
        try {
          row.replicatedTxid = await replicaMaxTxid(r);
        } catch (err) {
          row.replicaError = (err as Error).message;
        }
      }
      return row;
    }),
  );
  const primary = s.replicas[0];
  s.replicatedTxid = primary?.replicatedTxid;
  s.replicaError = primary?.replicaError;
  s.check = primary?.check;
  return s;
}

/** The newest TXID on the replica over all levels; undefined when it holds nothing. */
async function replicaMaxTxid(r: ReplicaConfig): Promise<bigint | undefined> {
  const signal = AbortSignal.timeout(STATUS_REPLICA_TIMEOUT_MS);
  const client = createReplicaClient(r.url, r.options);
  await client.init(signal);
  let max: bigint | undefined;
  for (const level of LEVELS) {
    for await (const f of client.ltxFiles(level, 0n, { signal })) if (max === undefined || f.maxTxid > max) max = f.maxTxid;
  }
  return max;
}

function describeReplicator(h: LockHolder | undefined): string {
  if (h === undefined) return '-';
  const state = h.liveness === 'dead' ? ', not running (stale lock)' : '';
  return `pid ${h.pid} on ${h.hostname}${state}`;
}

function describeCheck(c: SavedValidation | undefined): string {
  if (c === undefined) return '-';
  const d = c.last_divergence;
  const earlier = c.ok && d !== undefined ? ` (diverged at ${d.at}: ${d.problems.join('; ')}${d.healed_by === undefined ? '' : `; healed by ${d.healed_by}`})` : '';
  if (c.ok) return `ok at ${c.at}${earlier}`;
  return `diverged at ${c.at}: ${c.problems.join('; ')}${c.healed_by === undefined ? '' : `; healed by ${c.healed_by}`}`;
}

/** Sizes as Go's humanize.Bytes prints them (SI units): `0 B`, `4.1 kB`, `12 MB`. */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1000)), units.length - 1);
  const v = n / 1000 ** e;
  return `${v < 10 ? (Math.floor(v * 10 + 0.5) / 10).toFixed(1) : Math.floor(v + 0.5).toFixed(0)} ${units[e]!}`;
}
