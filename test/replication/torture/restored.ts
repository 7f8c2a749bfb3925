/**
 * Reading databases for the checks: a restore of the replica (at a TXID or
 * the latest) or a copy of the source, read and then removed again, and the
 * logical comparison of two of them.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { restore } from '../../../src/restore/restore.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import { logicalDump, type LogicalDump } from '../helpers.js';
import type { RunContext } from './context.js';
import { readDbState, type DbState } from './db-state.js';

/** Lines of a logical-dump difference shown. */
const DUMP_DIFF_LINES = 8;

let scratchSeq = 0;

/** A fresh path in the run's scratch directory. */
export function scratchPath(ctx: RunContext, what: string): string {
  return join(ctx.scratchDir, `${what}-${scratchSeq++}.db`);
}

export interface Restored {
  readonly state: DbState;
  readonly dump: LogicalDump | undefined;
  readonly txid: bigint;
}

/**
 * Restores the replica (at `txid`, or the latest), reads the result, and
 * removes it again. The latest restore also runs the library's own
 * integrity check; per TXID, readDbState's PRAGMA integrity_check is the same
 * check without the library's worker thread, which costs ten times as much
 * when it runs from the TypeScript sources.
 */
export async function restoreState(ctx: RunContext, txid: bigint | undefined): Promise<Restored | { error: string }> {
  const out = scratchPath(ctx, 'restore');
  ctx.stats.restores++;
  try {
    const latest = txid === undefined;
    let res;
    try {
      res = await restore({ client: new FileReplicaClient(ctx.replicaDir), outputPath: out, integrityCheck: latest ? 'full' : 'none', ...(latest ? {} : { txid }) });
    } catch (err) {
      return { error: `restore failed: ${(err as Error).name}: ${(err as Error).message}` };
    }
    if (txid !== undefined && res.txid !== txid) return { error: `restore of TXID ${txid} reports TXID ${res.txid}` };
    try {
      return { state: readDbState(out), dump: latest ? dumpOf(out) : undefined, txid: res.txid };
    } catch (err) {
      return { error: `it restores, but SQLite cannot read the result: ${(err as Error).name}: ${(err as Error).message}` };
    }
  } finally {
    await removeDb(out);
  }
}

export function dumpOf(path: string): LogicalDump {
  const db = new Database(path, { fileMustExist: true });
  try {
    return logicalDump(db);
  } finally {
    db.close();
  }
}

/** The first differences between two logical dumps, as lines. */
export function dumpDiff(got: LogicalDump, want: LogicalDump): string[] {
  const out: string[] = [];
  if (JSON.stringify(got.schema) !== JSON.stringify(want.schema)) out.push(`schema: restored ${JSON.stringify(got.schema)} vs source ${JSON.stringify(want.schema)}`);
  for (const name of new Set([...Object.keys(got.rows), ...Object.keys(want.rows)])) {
    const a = got.rows[name] ?? [];
    const b = want.rows[name] ?? [];
    if (a.length !== b.length) out.push(`table ${name}: ${a.length} rows restored, ${b.length} in the source`);
    const i = a.findIndex((row, k) => row !== b[k]);
    if (i >= 0) out.push(`table ${name}: first differing row at position ${i}: restored ${a[i]!.slice(0, 80)}… vs source ${(b[i] ?? '(none)').slice(0, 80)}…`);
  }
  return out.slice(0, DUMP_DIFF_LINES);
}

export async function removeDb(path: string): Promise<void> {
  for (const suffix of ['', '-wal', '-shm', '-journal']) await rm(`${path}${suffix}`, { force: true });
}
