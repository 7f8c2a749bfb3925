import { formatFilename } from '../ltx/file-name.js';
import { hex64 } from '../ltx/header.js';
import type { RestoreResult, RestoreSourcePlan } from '../restore/restore.js';
import { v03SnapshotKey, v03WalSegmentKey } from '../storage/v03-replica-client.js';
import { formatTable, rfc3339 } from './cli-config.js';

/** Where a dry run would restore from and to, as `restore -dry-run` prints it. */
export interface PlanContext {
  /** The argument the user gave: a replica URL or a database path. */
  source: string;
  outputPath: string;
  /** The replica's backend type (`file`, `s3`, …), as Litestream prints it. */
  replicaType: string;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * The dry-run report in both forms. For LTX plans the text and the JSON
 * fields are Litestream v0.5.16's (`source`, `target_path`, `replica`,
 * `min_txid`, `max_txid`, `files`), with tidemark's `format`, `txid`,
 * `bytes` and `gap` added; a plan from Litestream v0.3 backups, which
 * Litestream's dry run does not show, lists its objects in the same way.
 */
export function describeRestorePlan(source: RestoreSourcePlan, ctx: PlanContext): { text: string; json: object } {
  const head = ['Restore plan:', `  source: ${ctx.source}`, `  target: ${ctx.outputPath}`, `  replica: ${ctx.replicaType}`];
  if (source.format === 'ltx') {
    const { files, txid, gap } = source.plan;
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const rows = files.map((f) => ({
      level: f.level,
      name: formatFilename(f.minTxid, f.maxTxid),
      min_txid: hex64(f.minTxid),
      max_txid: hex64(f.maxTxid),
      size: f.size,
      timestamp: rfc3339(f.createdAt),
    }));
    const text = [
      ...head,
      `  txid range: ${rows[0]?.min_txid ?? ''} - ${rows.at(-1)?.max_txid ?? ''}`,
      `  fetch: ${plural(files.length, 'file')}, ${plural(bytes, 'byte')}`,
      ...(gap === undefined ? [] : [`  gap: no files for TXIDs ${hex64(gap.from)}-${hex64(gap.to)}; the plan stops before it`]),
      '',
      'Files to fetch:',
      formatTable([
        ['level', 'file', 'min_txid', 'max_txid', 'size', 'timestamp'],
        ...rows.map((r) => [String(r.level), r.name, r.min_txid, r.max_txid, String(r.size), r.timestamp]),
      ]),
    ].join('\n');
    const json = {
      source: ctx.source,
      target_path: ctx.outputPath,
      replica: ctx.replicaType,
      min_txid: rows[0]?.min_txid ?? '',
      max_txid: rows.at(-1)?.max_txid ?? '',
      files: rows,
      format: 'ltx',
      txid: hex64(txid),
      bytes,
      ...(gap === undefined ? {} : { gap: { from_txid: hex64(gap.from), to_txid: hex64(gap.to) } }),
    };
    return { text, json };
  }
  const { generation, snapshot, indexes } = source.plan;
  const objects = [
    { name: v03SnapshotKey(generation, snapshot.index), size: snapshot.size, timestamp: rfc3339(snapshot.createdAt) },
    ...indexes.flatMap((ix) => ix.segments.map((s) => ({ name: v03WalSegmentKey(generation, s.index, s.offset), size: s.size, timestamp: rfc3339(s.createdAt) }))),
  ];
  const bytes = objects.reduce((n, o) => n + o.size, 0);
  const last = indexes.at(-1)?.index;
  const text = [
    ...head,
    `  format: Litestream v0.3, generation ${generation}, snapshot index ${hex8(snapshot.index)}${last === undefined ? ', no WAL' : `, WAL up to index ${hex8(last)}`}`,
    `  fetch: ${plural(objects.length, 'file')}, ${plural(bytes, 'byte')}`,
    '',
    'Files to fetch:',
    formatTable([['file', 'size', 'timestamp'], ...objects.map((o) => [o.name, String(o.size), o.timestamp])]),
  ].join('\n');
  const json = {
    source: ctx.source,
    target_path: ctx.outputPath,
    replica: ctx.replicaType,
    format: 'v0.3',
    generation,
    snapshot_index: hex8(snapshot.index),
    ...(last === undefined ? {} : { wal_index: hex8(last) }),
    files: objects,
    bytes,
  };
  return { text, json };
}

/**
 * `restore -json`: Litestream v0.5.16's fields (`db_path`, `replica`, `txid`,
 * `duration_ms`, `integrity_check`), then tidemark's own. A v0.3 restore has
 * no TXID, so `txid` is empty, as Litestream prints it then.
 */
export function restoreSummaryJson(result: RestoreResult, ctx: { replicaType: string; integrityCheck: string }): object {
  return {
    db_path: result.outputPath,
    replica: ctx.replicaType,
    txid: result.format === 'ltx' ? hex64(result.txid) : '',
    duration_ms: Math.round(result.durationMs),
    integrity_check: ctx.integrityCheck,
    format: result.format,
    page_size: result.pageSize,
    pages: result.pageCount,
    bytes: result.bytes,
    files: result.files,
    ...(result.gap === undefined ? {} : { gap: { from_txid: hex64(result.gap.from), to_txid: hex64(result.gap.to) } }),
  };
}
