import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { parseTxid } from '../ltx/file-name.js';
import { hex64 } from '../ltx/header.js';
import { chooseReplica } from '../restore/choose-replica.js';
import { DEFAULT_TIME_TRAVEL_CACHE_BYTES, openTimeTravel, type SqlRow, type SqlValue, type TimeTravelOptions } from '../restore/time-travel/time-travel.js';
import { parseTimeValue } from '../restore/time-travel/time-value.js';
import { parseByteSize } from '../config/byte-size.js';
import { createReplicaClient, replicaDisplayName } from '../storage/replica-url.js';
import { addConfigOptions, formatTable, type ConfigFlags } from './cli-config.js';
import { checkReplicaDirectory, resolveReplicaArgument } from './replica-arg.js';

interface QueryFlags extends ConfigFlags {
  txid?: string;
  timestamp?: string;
  replica?: string;
  json?: boolean;
  cacheSize?: string;
  readAhead?: string;
  stats?: boolean;
}

/** A value as the text output shows it: blobs as SQL hex literals, NULL as an empty cell (as the sqlite3 shell). */
function cellText(v: SqlValue): string {
  if (v === null) return '';
  if (v instanceof Uint8Array) return `x'${Buffer.from(v).toString('hex')}'`;
  return String(v);
}

/** A value in JSON: integers beyond 2^53 as strings, blobs as hex strings. */
function jsonValue(v: SqlValue): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return v;
}

export function registerQuery(program: Command): void {
  addConfigOptions(
    program
      .command('query')
      .description('run read-only SQL on a database as of now, a TXID or a point in time, straight from its replica (nothing is restored)')
      .argument('<REPLICA_URL|DB_PATH>', 'a replica (directory, file:///path, s3://bucket/path) or a database of the configuration file')
      .argument('<SQL>', 'one or more statements; the rows of the last one that returns columns are printed')
      .option('--txid <HEX>', 'the database as of this transaction ID (16 hex digits)')
      .option('--timestamp <TIME>', "the database as of this time: RFC 3339, or relative such as '5 minutes ago'")
      .option('--replica <NAME>', 'query this replica of the database (default: the one with the newest state)')
      .option('--json', 'print the rows as a JSON array of objects')
      .option('--cache-size <BYTES>', 'memory for fetched pages, e.g. 64MB', String(DEFAULT_TIME_TRAVEL_CACHE_BYTES))
      .option('--read-ahead <PAGES>', 'fetch up to this many following pages in one request when pages are read in order', '0')
      .option('--stats', 'print pages read, fetched and the cache hit rate on stderr'),
  ).action(async (target: string, sql: string, flags: QueryFlags) => {
    if (flags.txid !== undefined && flags.timestamp !== undefined) throw new UsageError('cannot specify both -txid and -timestamp');
    const opts: TimeTravelOptions = {};
    if (flags.txid !== undefined) {
      const txid = parseTxid(flags.txid.toLowerCase());
      if (txid === null || txid === 0n) throw new UsageError(`invalid -txid "${flags.txid}": expected 16 hex digits, e.g. 000000000000002a`);
      opts.txid = txid;
    }
    if (flags.timestamp !== undefined) {
      const t = parseTimeValue(flags.timestamp);
      if (t === null) throw new UsageError(`invalid -timestamp "${flags.timestamp}": expected RFC 3339 (2000-01-01T00:00:00Z), a relative time ('5 minutes ago') or LATEST`);
      if (t !== 'latest' && 'timestamp' in t) opts.timestamp = t.timestamp;
    }
    try {
      opts.cacheBytes = parseByteSize(flags.cacheSize ?? String(DEFAULT_TIME_TRAVEL_CACHE_BYTES));
    } catch (err) {
      throw new UsageError(`invalid -cache-size "${flags.cacheSize}": ${err instanceof Error ? err.message : String(err)}`);
    }
    const readAhead = Number(flags.readAhead ?? '0');
    if (!Number.isInteger(readAhead) || readAhead < 0) throw new UsageError(`invalid -read-ahead "${flags.readAhead}": expected a whole number >= 0`);
    opts.readAheadPages = readAhead;

    const source = await resolveReplicaArgument(target, flags);
    const candidates = source.replicas.map((r) => ({ ...r, display: replicaDisplayName(r.url), client: createReplicaClient(r.url, r.options) }));
    let picked = candidates[0]!;
    if (candidates.length > 1) {
      await Promise.allSettled(candidates.map((c) => c.client.init()));
      picked = (await chooseReplica(candidates, { ...(opts.txid === undefined ? {} : { txid: opts.txid }), ...(opts.timestamp === undefined ? {} : { timestamp: opts.timestamp }) })).chosen;
    } else {
      await checkReplicaDirectory(picked.url);
    }
    await picked.client.init();
    opts.replicaName = picked.display.replace(/\?.*$/s, '');
    const db = await openTimeTravel(picked.client, opts);
    let rows: SqlRow[];
    try {
      rows = await db.query(sql);
    } finally {
      await db.close();
    }
    if (flags.json === true) {
      process.stdout.write(`${JSON.stringify(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, jsonValue(v)]))), null, 2)}\n`);
    } else if (rows.length > 0) {
      const columns = Object.keys(rows[0]!);
      process.stdout.write(formatTable([columns, ...rows.map((r) => columns.map((c) => cellText(r[c] ?? null)))]));
    }
    if (flags.stats === true) {
      const s = db.stats();
      const hitRate = s.pageReads === 0 ? 0 : (100 * s.cacheHits) / s.pageReads;
      process.stderr.write(
        `TXID ${hex64(db.txid)}: ${s.pageReads} page reads, ${s.cacheHits} from cache (${hitRate.toFixed(1)}%), ${s.pagesFetched} pages fetched in ${s.requests} requests (${s.bytesFetched} bytes) of ${db.pageCount}\n`,
      );
    }
  });
}
