/**
 * The checks after a catch-up, incremental so a long soak's cost stays
 * bounded (each L0 TXID is restored once, when it is new):
 *
 *  - the source database matches the model (else the harness is wrong);
 *  - (c) the replica's L0 TXIDs run without a gap or repeat up to the newest,
 *    and no `.tmp` file is left anywhere in it;
 *  - (b) every new L0 TXID restores (with `txid`), passes integrity_check,
 *    and is exactly the model's state at its own max(seq): some state the
 *    application committed, never a mix, and never older than the TXID before;
 *  - (a) the latest restore equals the source: the model hash at the source's
 *    max(seq) and a logical comparison of the two files.
 */
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import type { LogicalDump } from '../helpers.js';
import { hex64 } from './blob.js';
import { cycleOfTxid, fail, type RunContext } from './context.js';
import { describeDiff, readDbState, type DbState } from './db-state.js';
import { listL0, tempFiles } from './replica-files.js';
import { dumpDiff, dumpOf, removeDb, restoreState, scratchPath } from './restored.js';

/** Past this many wrong TXIDs in one check, the rest get one line each (a diff replays the model). */
const MAX_DIFFED_TXIDS = 5;

/** What the checks have covered so far. */
export interface CheckCursor {
  /** Newest L0 TXID checked, and the max(seq) it restored to. */
  lastTxid: bigint;
  lastSeq: number;
  /** Fingerprint of every present L0 file when it was checked. */
  readonly fingerprints: Map<bigint, string>;
}

export function newCursor(): CheckCursor {
  return { lastTxid: 0n, lastSeq: 0, fingerprints: new Map() };
}

export async function checkReplica(ctx: RunContext, cursor: CheckCursor, cycle: number): Promise<void> {
  ctx.stats.checks++;
  const source = await checkSource(ctx, cycle);
  await checkTxids(ctx, cursor, cycle);
  await checkLatest(ctx, cycle, source);
}

interface SourceView {
  readonly state: DbState;
  readonly dump: LogicalDump;
}

/** Reads a copy of the source (nobody writes now), so the check's own connection cannot checkpoint or delete its WAL. */
async function checkSource(ctx: RunContext, cycle: number): Promise<SourceView> {
  const copy = scratchPath(ctx, 'source');
  await copyFile(ctx.dbPath, copy);
  if (existsSync(`${ctx.dbPath}-wal`)) await copyFile(`${ctx.dbPath}-wal`, `${copy}-wal`);
  try {
    const state = readDbState(copy);
    const dump = dumpOf(copy);
    ctx.history.advanceTo(Math.max(state.maxSeq, ctx.maxCommittedSeq));
    if (state.integrity !== 'ok') fail(ctx, 'source', cycle, `SOURCE integrity_check: ${state.integrity}`);
    if (state.maxSeq < ctx.maxCommittedSeq) {
      fail(ctx, 'source', cycle, `SOURCE lost commits: its max(seq) is ${state.maxSeq}, writers committed up to ${ctx.maxCommittedSeq}`);
    }
    if (state.hash !== ctx.history.hashAt(state.maxSeq)) {
      fail(
        ctx,
        'source',
        cycle,
        `SOURCE does not match the model at its max(seq) ${state.maxSeq}: the harness is wrong, or the source was damaged (every replica verdict of this run is suspect)`,
        describeDiff(state, ctx.history.modelAt(state.maxSeq)),
      );
    }
    return { state, dump };
  } finally {
    await removeDb(copy);
  }
}

async function checkTxids(ctx: RunContext, cursor: CheckCursor, cycle: number): Promise<void> {
  const { files } = await listL0(ctx.replicaDir);
  for (const t of await tempFiles(ctx.replicaDir)) fail(ctx, 'replica-layout', cycle, `temporary file left in the replica: ${t}`);
  if (files.length === 0) {
    fail(ctx, 'replica-layout', cycle, 'the replica has no L0 files');
    return;
  }
  // (c) contiguous. Files below the first may have been removed by L0 retention, but only ones already checked.
  const first = files[0]!.maxTxid;
  if (first > 1n && first - 1n > cursor.lastTxid) {
    fail(
      ctx,
      'replica-layout',
      cycle,
      `L0 TXIDs 1..${first - 1n} are missing (the replica's first L0 file is ${first}; only TXIDs up to ${cursor.lastTxid} were ever checked;` +
        ' L0 retention removes compacted L0 files after 5 minutes, so checks must come more often than that)',
    );
  }
  for (const [txid] of cursor.fingerprints) {
    if (txid < first) {
      cursor.fingerprints.delete(txid);
      ctx.stats.l0Retired++;
    }
  }
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    if (f.minTxid !== f.maxTxid) fail(ctx, 'replica-layout', cycleOfTxid(ctx, f.maxTxid), `L0 file ${f.name} spans several TXIDs`);
    const prev = files[i - 1];
    if (prev !== undefined && f.maxTxid !== prev.maxTxid + 1n) {
      fail(ctx, 'replica-layout', cycleOfTxid(ctx, f.maxTxid), `L0 TXIDs jump from ${prev.maxTxid} to ${f.maxTxid} (${prev.name} → ${f.name})`);
    }
  }

  // (b) every new TXID, and any old one whose file was replaced since.
  let prevSeq = cursor.lastSeq;
  let diffed = 0;
  for (const f of files) {
    const isNew = f.maxTxid > cursor.lastTxid;
    const rewritten = !isNew && cursor.fingerprints.has(f.maxTxid) && cursor.fingerprints.get(f.maxTxid) !== f.fingerprint;
    if (!isNew && !rewritten) continue;
    if (rewritten) ctx.stats.l0Rewritten++;
    cursor.fingerprints.set(f.maxTxid, f.fingerprint);
    const txCycle = cycleOfTxid(ctx, f.maxTxid);
    const r = await restoreState(ctx, f.maxTxid);
    ctx.stats.l0Checked++;
    const label = `TXID ${f.maxTxid} (${f.name})${rewritten ? ', rewritten after it was checked,' : ''}`;
    if ('error' in r) {
      fail(ctx, 'replica-state', txCycle, `${label} is not a readable database: ${r.error}`);
      continue;
    }
    const s = r.state;
    const problems: string[] = [];
    if (s.integrity !== 'ok') problems.push(`integrity_check: ${s.integrity}`);
    if (!s.hasLog) problems.push('the log table is missing');
    if (isNew && s.maxSeq < prevSeq) problems.push(`it went back in time: max(seq) ${s.maxSeq} is below the previous TXID's ${prevSeq}`);
    const expected = s.maxSeq <= ctx.history.seq ? ctx.history.hashAt(s.maxSeq) : undefined;
    if (expected === undefined) problems.push(`max(seq) ${s.maxSeq} is beyond anything the source holds (${ctx.history.seq})`);
    else if (s.hash !== expected) problems.push(`state hash ${hex64(s.hash)} is not the model's ${hex64(expected)} at max(seq) ${s.maxSeq}`);
    if (problems.length > 0) {
      const details = [...problems];
      const same = ctx.history.seqWithHash(s.hash);
      details.push(same === undefined ? 'its state is no state the application ever committed' : `its state is the model's state at seq ${same}`);
      if (expected !== undefined && s.hash !== expected && diffed++ < MAX_DIFFED_TXIDS) details.push(...describeDiff(s, ctx.history.modelAt(s.maxSeq)));
      fail(ctx, 'replica-state', txCycle, `${label} restored to a wrong database`, details);
    }
    if (isNew) prevSeq = Math.max(prevSeq, s.maxSeq);
  }
  const last = files[files.length - 1]!;
  if (last.maxTxid > cursor.lastTxid) {
    cursor.lastTxid = last.maxTxid;
    cursor.lastSeq = prevSeq;
  }
}

/** (a) After the catch-up, the latest restore is the source. */
async function checkLatest(ctx: RunContext, cycle: number, source: SourceView): Promise<void> {
  const r = await restoreState(ctx, undefined);
  if ('error' in r) {
    fail(ctx, 'replica-state', cycle, `the latest restore is not a readable database: ${r.error}`);
    return;
  }
  const s = r.state;
  const details: string[] = [];
  if (s.integrity !== 'ok') details.push(`integrity_check: ${s.integrity}`);
  if (s.maxSeq !== source.state.maxSeq) {
    details.push(
      s.maxSeq < source.state.maxSeq
        ? `the replica is missing seqs ${s.maxSeq + 1}..${source.state.maxSeq}: commits lost after an orderly catch-up`
        : `the replica has max(seq) ${s.maxSeq}, beyond the source's ${source.state.maxSeq}`,
    );
  }
  if (s.maxSeq <= ctx.history.seq && s.hash !== ctx.history.hashAt(s.maxSeq)) {
    details.push(`state hash ${hex64(s.hash)} is not the model's ${hex64(ctx.history.hashAt(s.maxSeq))} at its max(seq) ${s.maxSeq}`);
    details.push(...describeDiff(s, ctx.history.modelAt(s.maxSeq)));
  }
  const diff = dumpDiff(r.dump!, source.dump);
  if (diff.length > 0) details.push('logical comparison with the source:', ...diff);
  if (details.length > 0) fail(ctx, 'replica-state', cycle, `the latest restore (TXID ${r.txid}) is not the source`, details);
}
