import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { formatTxid } from '../ltx/file-name.js';
import { listV03Backups, v03ListingRows, type V03ListingRow } from '../restore/v03/listing.js';
import type { LtxFileInfo } from '../storage/replica-client.js';
import { createReplicaClient } from '../storage/replica-url.js';
import { canReadV03 } from '../storage/v03-reader.js';
import { addConfigOptions, formatTable, rfc3339, type ConfigFlags } from './cli-config.js';
import { checkReplicaDirectory, resolveReplicaArgument } from './replica-arg.js';

/** Levels a replica can hold: 0 (L0) to 9 (snapshots). */
const MAX_LEVEL = 9;

interface LtxFlags extends ConfigFlags {
  level?: string;
  json?: boolean;
  replica?: string;
}

function parseLevels(s: string | undefined): number[] {
  if (s === undefined) return [0];
  if (s === 'all') return Array.from({ length: MAX_LEVEL + 1 }, (_, i) => i);
  if (!/^\d+$/.test(s)) throw new UsageError(`-level ${s}: invalid level: must be 0-9 or "all"`);
  const n = Number(s);
  if (n > MAX_LEVEL) throw new UsageError(`-level ${s}: level must be between 0 and 9`);
  return [n];
}

export function registerLtx(program: Command): void {
  addConfigOptions(
    program
      .command('ltx')
      .description('list the LTX files of a replica: level, TXID range, size and creation time (with -level all, Litestream v0.3 backups too)')
      .argument('<DB_PATH|REPLICA_URL>', 'a database of the configuration file, or a replica (directory, file:///path, s3://bucket/path)')
      .option('--level <N>', 'level 0-9, or "all"', '0')
      .option('--json', 'print JSON')
      .option('--replica <NAME>', 'of a database with several replicas, list this one (default: each)'),
  ).action(async (target: string, flags: LtxFlags) => {
    const levels = parseLevels(flags.level);
    const { replicas } = await resolveReplicaArgument(target, flags);
    if (replicas.length === 1) await checkReplicaDirectory(replicas[0]!.url);
    const several = replicas.length > 1;
    const files: (LtxFileInfo & { replica: string })[] = [];
    const v03: (V03ListingRow & { replica: string })[] = [];
    for (const r of replicas) {
      const client = createReplicaClient(r.url, r.options);
      await client.init();
      for (const level of levels) for await (const f of client.ltxFiles(level, 0n, { useMetadata: true })) files.push({ ...f, replica: r.name });
      if (levels.length > 1 && canReadV03(client)) for (const row of v03ListingRows(await listV03Backups(client))) v03.push({ ...row, replica: r.name });
    }
    if (flags.json) {
      // An LTX file's fields and their form are Litestream's (v0.5.16 `ltx -json`); rows for several replicas and for v0.3 backups are tidemark's own.
      const out = [
        ...files.map((f) => ({
          ...(several ? { replica: f.replica } : {}),
          level: f.level,
          min_txid: formatTxid(f.minTxid),
          max_txid: formatTxid(f.maxTxid),
          size: f.size,
          timestamp: rfc3339(f.createdAt),
        })),
        ...v03.map((r) => ({
          ...(several ? { replica: r.replica } : {}),
          format: r.format,
          kind: r.kind,
          generation: r.generation,
          index: r.index,
          offset: r.offset,
          size: r.size,
          timestamp: rfc3339(r.createdAt),
          key: r.key,
        })),
      ];
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    const rows = files.map((f) => [...(several ? [f.replica] : []), String(f.level), formatTxid(f.minTxid), formatTxid(f.maxTxid), String(f.size), rfc3339(f.createdAt)]);
    process.stdout.write(formatTable([[...(several ? ['replica'] : []), 'level', 'min_txid', 'max_txid', 'size', 'created'], ...rows]));
    if (v03.length > 0) {
      const v03Rows = v03.map((r) => [...(several ? [r.replica] : []), r.kind, r.generation, String(r.index), String(r.offset), String(r.size), rfc3339(r.createdAt)]);
      process.stdout.write('\nLitestream v0.3 backups:\n');
      process.stdout.write(formatTable([[...(several ? ['replica'] : []), 'kind', 'generation', 'index', 'offset', 'size', 'created'], ...v03Rows]));
    }
  });
}
