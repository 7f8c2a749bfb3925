import { formatTxid } from '../ltx/file-name.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import type { CompactionLevels } from './compaction-levels.js';
import type { CompactionCounters } from './counters.js';

export type LevelIssueKind = 'unsorted' | 'gap' | 'overlap';

/** Something wrong between two neighbouring files of a level. */
export interface LevelIssue {
  readonly level: number;
  readonly kind: LevelIssueKind;
  /** The TXIDs concerned: missing ones for a gap, doubly covered ones for an overlap, the out-of-order span for unsorted. */
  readonly from: bigint;
  readonly to: bigint;
  readonly prev: LtxFileInfo;
  readonly file: LtxFileInfo;
  readonly message: string;
}

export interface ValidateOptions {
  readonly signal?: AbortSignal | undefined;
  readonly counters?: CompactionCounters | undefined;
}

/**
 * Checks that a level's files, in listing order, are sorted and contiguous,
 * as Litestream's ValidateLevel does: a file whose MinTXID is below the
 * previous one's is `unsorted`; otherwise MinTXID must be exactly the
 * previous MaxTXID + 1, above it is a `gap`, below it an `overlap`. The
 * snapshot level is not contiguous by nature and is not meant to be checked.
 */
export async function validateLevel(client: ReplicaClient, level: number, opts: ValidateOptions = {}): Promise<LevelIssue[]> {
  const issues: LevelIssue[] = [];
  let prev: LtxFileInfo | undefined;
  for await (const f of client.ltxFiles(level, 0n, opts.signal === undefined ? {} : { signal: opts.signal })) {
    if (prev !== undefined) {
      const issue = compare(level, prev, f);
      if (issue !== undefined) issues.push(issue);
    }
    prev = f;
  }
  if (opts.counters) {
    opts.counters.validationIssues[level] = issues.length;
    opts.counters.validationIssuesTotal += issues.length;
  }
  return issues;
}

/** validateLevel over every configured level 0..maxLevel (not the snapshot level). */
export async function validateLevels(client: ReplicaClient, levels: CompactionLevels, opts: ValidateOptions = {}): Promise<LevelIssue[]> {
  const all: LevelIssue[] = [];
  for (const l of levels.levels) all.push(...(await validateLevel(client, l.level, opts)));
  return all;
}

function compare(level: number, prev: LtxFileInfo, f: LtxFileInfo): LevelIssue | undefined {
  const range = (a: bigint, b: bigint): string => `${formatTxid(a)}-${formatTxid(b)}`;
  const names = `${range(prev.minTxid, prev.maxTxid)} then ${range(f.minTxid, f.maxTxid)}`;
  if (f.minTxid < prev.minTxid) {
    return { level, kind: 'unsorted', from: f.minTxid, to: prev.minTxid, prev, file: f, message: `level ${level}: files out of order: ${names}` };
  }
  const expected = prev.maxTxid + 1n;
  if (f.minTxid > expected) {
    const to = f.minTxid - 1n;
    return { level, kind: 'gap', from: expected, to, prev, file: f, message: `level ${level}: no file covers TXIDs ${range(expected, to)} (${names})` };
  }
  if (f.minTxid < expected) {
    const to = f.maxTxid < prev.maxTxid ? f.maxTxid : prev.maxTxid;
    return { level, kind: 'overlap', from: f.minTxid, to, prev, file: f, message: `level ${level}: TXIDs ${range(f.minTxid, to)} are in two files (${names})` };
  }
  return undefined;
}
