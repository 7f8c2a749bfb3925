import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { parseTxid } from '../ltx/file-name.js';
import { hex64 } from '../ltx/header.js';
import {
  DEFAULT_RESTORE_PARALLELISM,
  INTEGRITY_CHECK_MODES,
  NoBackupsError,
  restore,
  type IntegrityCheckMode,
} from '../restore/index.js';
import { createReplicaClient, isUrl } from '../storage/index.js';

interface RestoreFlags {
  o?: string;
  output?: string;
  txid?: string;
  timestamp?: string;
  parallelism?: string;
  ifDbNotExists?: boolean;
  ifReplicaExists?: boolean;
  integrityCheck?: string;
  config?: string;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('restore a database from a replica: the latest state, a TXID, or a point in time')
    .argument('<REPLICA_URL>', 'replica: a directory path or file:///path')
    .option('-o, --output <PATH>', 'where to write the restored database (must not exist)')
    .option('--txid <HEX>', 'restore up to this transaction ID (16 hex digits)')
    .option('--timestamp <RFC3339>', 'restore the state as of this time, e.g. 2026-01-02T15:04:05Z (LTX or Litestream v0.3 backups)')
    .option('--parallelism <N>', 'how many replica files to fetch at once', String(DEFAULT_RESTORE_PARALLELISM))
    .option('--if-db-not-exists', 'do nothing (exit 0) if the output already exists')
    .option('--if-replica-exists', 'do nothing (exit 0) if the replica holds no backups')
    .option('--integrity-check <MODE>', `check the result before putting it in place: ${INTEGRITY_CHECK_MODES.join(', ')}`, 'none')
    .option('--config <PATH>', 'configuration file (not supported yet: give a REPLICA_URL and -o)')
    .action(async (replica: string, flags: RestoreFlags) => {
      if (flags.config !== undefined) throw new UsageError('-config is not supported yet: use tidemark restore -o OUTPUT REPLICA_URL');
      const output = flags.output ?? flags.o;
      if (output === undefined) throw new UsageError('output path required: pass -o PATH');
      if (!isUrl(replica) && replica.endsWith('.db')) {
        throw new UsageError(`restoring ${replica} by database path needs a config file, which is not supported yet; pass the replica URL`);
      }
      if (flags.txid !== undefined && flags.timestamp !== undefined) throw new UsageError('cannot specify both -txid and -timestamp');
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

      const client = createReplicaClient(replica);
      await client.init();
      try {
        const result = await restore({
          client,
          outputPath: output,
          parallelism,
          integrityCheck: mode as IntegrityCheckMode,
          replicaName: replica,
          ifDbNotExists: flags.ifDbNotExists ?? false,
          ...(txid === undefined ? {} : { txid }),
          ...(timestamp === undefined ? {} : { timestamp }),
        });
        if (result.skipped) {
          say(`database already exists at ${output}, skipping`);
          return;
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
        if (err instanceof NoBackupsError && flags.ifReplicaExists) {
          say(`no backups found in ${replica}, skipping`);
          return;
        }
        throw err;
      }
    });
}
