import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { formatFilename, parseTxid } from '../ltx/file-name.js';
import { hex64 } from '../ltx/header.js';
import { DEFAULT_RESTORE_PARALLELISM, planRestore, restore, type RestoreProgress } from '../restore/restore.js';
import { INTEGRITY_CHECK_MODES, type IntegrityCheckMode } from '../restore/integrity-check.js';
import { chooseReplica } from '../restore/choose-replica.js';
import { NoBackupsError } from '../restore/errors.js';
import { createReplicaClient, replicaDisplayName } from '../storage/replica-url.js';
import { addConfigOptions, type ConfigFlags } from './cli-config.js';
import { parseDuration } from './duration.js';
import { followReplica, type AppliedEvent } from '../restore/follow/read-replica.js';
import type { ReplicaClient } from '../storage/replica-client.js';
import { checkReplicaDirectory, ReplicaDirectoryMissingError, resolveReplicaArgument } from './replica-arg.js';
import { describeRestorePlan, restoreSummaryJson } from './restore-report.js';
import { RestoreProgressLine } from './restore-progress.js';

interface RestoreFlags extends ConfigFlags {
  o?: string;
  output?: string;
  txid?: string;
  timestamp?: string;
  parallelism?: string;
  ifDbNotExists?: boolean;
  ifReplicaExists?: boolean;
  integrityCheck?: string;
  replica?: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
  f?: boolean;
  followInterval?: string;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function registerRestore(program: Command): void {
  addConfigOptions(
    program
      .command('restore')
      .description('restore a database from a replica: the latest state, a TXID, or a point in time')
      .argument('<REPLICA_URL|DB_PATH>', 'a replica (directory, file:///path, s3://bucket/path) or a database of the configuration file')
      .option('-o, --output <PATH>', 'where to write the restored database (must not exist; default for DB_PATH: the database path)')
      .option('--txid <HEX>', 'restore up to this transaction ID (16 hex digits)')
      .option('--timestamp <RFC3339>', 'restore the state as of this time, e.g. 2026-01-02T15:04:05Z (LTX or Litestream v0.3 backups)')
      .option('--parallelism <N>', 'how many replica files to fetch at once', String(DEFAULT_RESTORE_PARALLELISM))
      .option('--if-db-not-exists', 'do nothing (exit 0) if the output already exists')
      .option('--if-replica-exists', 'do nothing (exit 0) if the replica holds no backups')
      .option('--integrity-check <MODE>', `check the result before putting it in place: ${INTEGRITY_CHECK_MODES.join(', ')}`, 'none')
      .option('--replica <NAME>', 'restore from this replica of the database (default: the one with the newest state)')
      .option('--dry-run', 'print the restore plan (files, levels, bytes) and exit without writing')
      .option('--force', 'replace an existing output database and its -wal, -shm and -journal files')
      .option('--json', 'print a JSON summary on stdout (with -dry-run: the plan)')
      .option('-f', 'follow: after restoring, keep the database current from the replica until SIGINT/SIGTERM (readers open it read-only)')
      .option('--follow-interval <DURATION>', 'with -f, how often to look for new files', '1s'),
  ).action(async (target: string, flags: RestoreFlags) => {
    if (flags.txid !== undefined && flags.timestamp !== undefined) throw new UsageError('cannot specify both -txid and -timestamp');
    if (flags.f === true) {
      for (const [set, flag] of [
        [flags.txid !== undefined, '-txid'],
        [flags.timestamp !== undefined, '-timestamp'],
        [flags.dryRun === true, '-dry-run'],
        [flags.force === true, '-force'],
        [flags.ifDbNotExists === true, '-if-db-not-exists'],
      ] as const) {
        if (set) throw new UsageError(`cannot use -f with ${flag}: follow mode restores the latest state and keeps it current`);
      }
    }
    const followIntervalMs = parseDuration(flags.followInterval ?? '1s', '-follow-interval');
    let txid: bigint | undefined;
    if (flags.txid !== undefined) {
      const parsed = parseTxid(flags.txid.toLowerCase());
      if (parsed === null || parsed === 0n) throw new UsageError(`invalid -txid "${flags.txid}": expected 16 hex digits, e.g. 000000000000002a`);
      txid = parsed;
    }
    let timestamp: Date | undefined;
    if (flags.timestamp !== undefined) {
      const t = new Date(flags.timestamp);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(flags.timestamp) || Number.isNaN(t.getTime())) {
        throw new UsageError(`invalid -timestamp "${flags.timestamp}": expected RFC 3339, e.g. 2000-01-01T00:00:00Z`);
      }
      timestamp = t;
    }
    const parallelism = Number(flags.parallelism ?? DEFAULT_RESTORE_PARALLELISM);
    if (!Number.isInteger(parallelism) || parallelism < 1) throw new UsageError(`invalid -parallelism "${flags.parallelism}": expected a whole number >= 1`);
    const mode = flags.integrityCheck ?? 'none';
    if (!(INTEGRITY_CHECK_MODES as readonly string[]).includes(mode)) {
      throw new UsageError(`invalid -integrity-check "${mode}": expected one of ${INTEGRITY_CHECK_MODES.join(', ')}`);
    }

    const source = await resolveReplicaArgument(target, flags);
    const output = flags.output ?? flags.o ?? source.dbPath;
    if (output === undefined) throw new UsageError('output path required: pass -o PATH');
    const candidates = source.replicas.map((r) => ({ ...r, display: replicaDisplayName(r.url), client: createReplicaClient(r.url, r.options) }));
    let picked = candidates[0]!;
    if (candidates.length > 1) {
      await Promise.allSettled(candidates.map((c) => c.client.init()));
      const choice = await chooseReplica(candidates, { ...(txid === undefined ? {} : { txid }), ...(timestamp === undefined ? {} : { timestamp }) });
      picked = choice.chosen;
      const others = choice.considered
        .filter((c) => c.name !== picked.name)
        .map((c) => `${c.name}: ${c.txid !== undefined ? `TXID ${hex64(c.txid)}` : (c.error?.message ?? 'unknown')}`);
      if (choice.plan !== undefined) say(`restoring from replica ${picked.name} (TXID ${hex64(choice.plan.txid)}; ${others.join('; ')})`);
    }
    const replica = picked.display;
    const client = picked.client;
    // An existing output that -if-db-not-exists keeps wins over anything the replica could say.
    const outputKept = flags.ifDbNotExists === true && (await stat(output).then(() => true, () => false));
    if (candidates.length === 1 && !outputKept) {
      try {
        await checkReplicaDirectory(picked.url);
      } catch (err) {
        if (!(err instanceof ReplicaDirectoryMissingError) || !flags.ifReplicaExists) throw err;
        say(`${err.message}, skipping`);
        return;
      }
    }
    await client.init();
    const common = {
      client,
      // Object names in errors read <replica>/<key>: without the query string they stay readable.
      replicaName: replica.replace(/\?.*$/s, ''),
      ...(txid === undefined ? {} : { txid }),
      ...(timestamp === undefined ? {} : { timestamp }),
    };
    if (flags.f === true) {
      await follow(client, output, followIntervalMs, replica);
      return;
    }
    if (flags.dryRun === true) {
      const plan = await planRestore(common);
      const text = describeRestorePlan(plan, { source: target, outputPath: resolve(output), replicaType: client.type });
      process.stdout.write(flags.json === true ? `${JSON.stringify(text.json, null, 2)}\n` : text.text);
      return;
    }
    const progress = process.stderr.isTTY && flags.json !== true ? new RestoreProgressLine(process.stderr) : undefined;
    try {
      const result = await restore({
        ...common,
        outputPath: output,
        parallelism,
        integrityCheck: mode as IntegrityCheckMode,
        ifDbNotExists: flags.ifDbNotExists ?? false,
        force: flags.force === true,
        ...(progress === undefined ? {} : { onProgress: (p: RestoreProgress) => progress.update(p) }),
      });
      progress?.clear();
      if (!result.restored) {
        say(`database already exists at ${output}, skipping`);
        return;
      }
      if (result.gap !== undefined) {
        const g = result.gap;
        say(
          `the replica has no files for TXIDs ${hex64(g.from)}-${hex64(g.to)}, though a file from before ${flags.timestamp ?? ''} lies beyond them (level ${g.next.level} ${formatFilename(g.next.minTxid, g.next.maxTxid)}): restored TXID ${hex64(result.txid)}, the newest state that can be built from files before that time`,
        );
      }
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(restoreSummaryJson(result, { replicaType: client.type, integrityCheck: mode }), null, 2)}\n`);
      }
      const size = `${result.pageCount} pages of ${result.pageSize} bytes in ${result.durationMs.toFixed(0)} ms`;
      if (result.v03 !== undefined) {
        const v = result.v03;
        const wal = v.position === undefined ? 'no WAL' : `WAL up to index ${hex8(v.position.index)} offset ${v.position.offset}`;
        say(`restored ${output} from Litestream v0.3 generation ${v.generation} (snapshot index ${hex8(v.snapshotIndex)}, ${wal}, ${v.segments} segment${v.segments === 1 ? '' : 's'}): ${size}`);
        return;
      }
      say(`restored ${output} at TXID ${hex64(result.txid)} from ${result.files} file${result.files === 1 ? '' : 's'}: ${size}`);
    } catch (err) {
      progress?.clear();
      if (err instanceof NoBackupsError && flags.ifReplicaExists) {
        say(`no backups found in ${replica}, skipping`);
        return;
      }
      throw err;
    }
  });
}

/** `restore -f`: restores (or resumes), then applies each new file until SIGINT or SIGTERM. */
async function follow(client: ReplicaClient, output: string, intervalMs: number, replica: string): Promise<void> {
  const stop = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const r = await followReplica({ client, outputPath: output, intervalMs });
  say(`following ${replica} into ${r.outputPath} from TXID ${hex64(r.txid)}, every ${intervalMs} ms`);
  r.on('applied', (e: AppliedEvent) => say(`applied TXID ${hex64(e.fromTxid)}-${hex64(e.txid)} from ${e.file}`));
  r.on('error', (err: Error) => say(`follow: ${err.message}`));
  const signal = await stop;
  await r.close();
  say(`${signal} received: stopped at TXID ${hex64(r.txid)}`);
}
