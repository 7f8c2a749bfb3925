import { IterableSource } from '../../src/ltx/byte-source.js';
import { MemorySink } from '../../src/ltx/byte-sink.js';
import { restoreDatabase } from '../../src/ltx/database.js';
import { verifyLtx, type LtxDecodeSummary } from '../../src/ltx/decoder.js';
import { formatFilename } from '../../src/ltx/file-name.js';
import { ltxFileStream } from '../../src/restore/ltx-file-stream.js';
import { calcRestorePlan, type RestorePlan } from '../../src/restore/plan.js';
import type { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { LtxFileInfo, ReplicaClient } from '../../src/storage/replica-client.js';
import assert from 'node:assert/strict';
import { xorshift } from '../helpers/testdata.js';
import { encodeLtx, makeReplica, putLtx } from '../restore/replica-fixtures.js';

export const PAGE_SIZE = 512;
/** A Monday, 00:00:00 UTC: every interval used in the tests has a boundary here. */
export const EPOCH = Date.UTC(2024, 0, 1);

/** The database as of one TXID: pages 1..commit. */
export interface DbState {
  readonly txid: bigint;
  readonly timestamp: number;
  readonly pages: readonly Uint8Array[];
}

/** One transaction of the model: pages written and the new size. */
export interface TxSpec {
  /** Page numbers written (those above `commit` are ignored). */
  readonly writes: readonly number[];
  readonly commit: number;
  /** Milliseconds since the previous transaction. */
  readonly dtMs: number;
}

/**
 * A model database replicated the way a replicator does it: every TXID is an
 * L0 file written to the replica and to the local copy directory, and the
 * state after every TXID is remembered for comparison with restores.
 */
export class ReplicatedModel {
  readonly states: DbState[] = [];
  now: number;

  constructor(
    readonly remote: FileReplicaClient,
    readonly local: FileReplicaClient,
    start = EPOCH,
  ) {
    this.now = start;
  }

  static async create(dir: string, name: string, start = EPOCH): Promise<ReplicatedModel> {
    return new ReplicatedModel(await makeReplica(dir, `${name}-remote`), await makeReplica(dir, `${name}-meta`), start);
  }

  get txid(): bigint {
    return BigInt(this.states.length);
  }

  stateAt(txid: bigint): DbState {
    const s = this.states[Number(txid) - 1];
    if (s === undefined) throw new Error(`no state for TXID ${txid}`);
    return s;
  }

  /** Applies one transaction: writes its L0 file (remote and local) at the model's clock after advancing it by dtMs. */
  async commit(tx: TxSpec): Promise<LtxFileInfo> {
    this.now += tx.dtMs;
    const txid = this.txid + 1n;
    const prev = this.states[this.states.length - 1];
    const commit = Math.max(1, tx.commit);
    const pages: Uint8Array[] = [];
    const written = new Set<number>();
    for (let pgno = 1; pgno <= commit; pgno++) {
      const old = prev?.pages[pgno - 1];
      if (old === undefined) written.add(pgno);
      pages.push(old ?? new Uint8Array(0));
    }
    for (const pgno of tx.writes) if (pgno >= 1 && pgno <= commit) written.add(pgno);
    for (const pgno of written) pages[pgno - 1] = content(txid, pgno);
    const order = txid === 1n ? pages.map((_, i) => i + 1) : [...written].sort((a, b) => a - b);
    const bytes = await encodeLtx({
      pageSize: PAGE_SIZE,
      commit,
      minTxid: txid,
      maxTxid: txid,
      timestamp: this.now,
      pages: order.map((pgno) => ({ pgno, data: pages[pgno - 1]! })),
    });
    const info = await putLtx(this.remote, 0, bytes);
    await putLtx(this.local, 0, bytes);
    this.states.push({ txid, timestamp: this.now, pages });
    return info;
  }
}

/** Distinct, incompressible content for each (TXID, page). */
export function content(txid: bigint, pgno: number): Uint8Array {
  return xorshift(Number(txid) * 4099 + pgno, PAGE_SIZE);
}

export function imageOf(state: DbState): Uint8Array {
  const out = new Uint8Array(state.pages.length * PAGE_SIZE);
  state.pages.forEach((p, i) => out.set(p, i * PAGE_SIZE));
  return out;
}

/** Plans like restore does and merges the plan's files into a database image in memory. */
export async function restoreImage(
  client: ReplicaClient,
  target: { txid?: bigint; timestamp?: Date } = {},
): Promise<{ plan: RestorePlan; image: Uint8Array }> {
  const plan = await calcRestorePlan(client, target);
  const sink = new MemorySink();
  await restoreDatabase(
    plan.files.map((f) => ({ source: new IterableSource(ltxFileStream(client, f)), name: `ltx/${f.level}/${formatFilename(f.minTxid, f.maxTxid)}` })),
    sink,
  );
  return { plan, image: sink.bytes() };
}

export async function listFiles(client: ReplicaClient, level: number): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for await (const f of client.ltxFiles(level)) out.push(f);
  return out;
}

/** `<min>-<max>` in decimal for each file of a level, for readable assertions. */
export async function ranges(client: ReplicaClient, level: number): Promise<string[]> {
  return (await listFiles(client, level)).map((f) => `${f.minTxid}-${f.maxTxid}`);
}

/** Every file of every level, for an oracle of what is restorable. */
export async function allFiles(client: ReplicaClient): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for (let level = 0; level <= 9; level++) out.push(...(await listFiles(client, level)));
  return out;
}

/**
 * The TXIDs a restore can reach exactly, found independently of the planner:
 * start from nothing or from any snapshot, and follow every file that
 * extends what is covered. `accept` restricts the files (a time target).
 */
export function reachableTxids(files: readonly LtxFileInfo[], accept: (f: LtxFileInfo) => boolean = () => true): Set<bigint> {
  const usable = files.filter((f) => accept(f) && f.minTxid >= 1n && f.minTxid <= f.maxTxid);
  const ends = new Set<bigint>();
  const todo: bigint[] = [0n];
  for (const f of usable) if (f.level === 9 && f.minTxid === 1n) todo.push(f.maxTxid);
  const seen = new Set<bigint>();
  while (todo.length > 0) {
    const e = todo.pop()!;
    if (seen.has(e)) continue;
    seen.add(e);
    if (e > 0n) ends.add(e);
    for (const f of usable) if (f.minTxid <= e + 1n && f.maxTxid > e && !seen.has(f.maxTxid)) todo.push(f.maxTxid);
  }
  return ends;
}

/** Reads every file of levels `from`..9 through the strict decoder; returns the summaries. */
export async function verifyStrict(client: ReplicaClient, from = 1): Promise<LtxDecodeSummary[]> {
  const out: LtxDecodeSummary[] = [];
  for (let level = from; level <= 9; level++) {
    for (const f of await listFiles(client, level)) {
      const name = `ltx/${level}/${formatFilename(f.minTxid, f.maxTxid)}`;
      out.push(await verifyLtx(new IterableSource(await client.openLtxFile(level, f.minTxid, f.maxTxid)), { strict: true, file: name }));
    }
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/**
 * Every TXID the replica can still reach restores to the model's state; the
 * latest, every snapshot kept and everything after L1's newest TXID are among
 * them (and, without retention, every TXID); timestamp restores agree with an
 * oracle; every file written passes the strict decoder.
 */
export async function checkRestorable(m: ReplicatedModel, retentionRan: boolean): Promise<void> {
  await verifyStrict(m.remote);
  const files = await allFiles(m.remote);
  const reachable = reachableTxids(files);
  const latest = await restoreImage(m.remote);
  assert.equal(latest.plan.txid, m.txid);
  assert.ok(equalBytes(latest.image, imageOf(m.stateAt(m.txid))));

  const l1Max = (await listFiles(m.remote, 1)).reduce((a, f) => (f.maxTxid > a ? f.maxTxid : a), 0n);
  const must = new Set<bigint>([m.txid]);
  for (const f of files) if (f.level === 9) must.add(f.maxTxid);
  for (let t = l1Max + 1n; t <= m.txid; t++) must.add(t);
  if (!retentionRan) for (let t = 1n; t <= m.txid; t++) must.add(t);
  for (const t of must) assert.ok(reachable.has(t), `TXID ${t} should be restorable (L1 ${await ranges(m.remote, 1)}, L0 ${(await ranges(m.remote, 0)).length} files)`);

  for (let t = 1n; t <= m.txid; t++) {
    if (reachable.has(t)) {
      const { plan, image } = await restoreImage(m.remote, { txid: t });
      assert.equal(plan.txid, t);
      assert.ok(equalBytes(image, imageOf(m.stateAt(t))), `content at TXID ${t}`);
    } else {
      await assert.rejects(calcRestorePlan(m.remote, { txid: t }));
    }
  }

  const moments = new Set<number>();
  for (const s of m.states) moments.add(s.timestamp + 1);
  for (const f of files) moments.add(f.createdAt.getTime() + 1);
  for (const ms of moments) {
    const when = new Date(ms);
    const within = (f: { createdAt: Date }): boolean => f.createdAt.getTime() < ms;
    const ends = reachableTxids(files, within);
    const best = [...ends].reduce((a, b) => (b > a ? b : a), 0n);
    // A file from before the time past a break: the plan stops at the break and says so.
    const beyond = files.some((f) => within(f) && f.minTxid > best + 1n);
    try {
      const { plan, image } = await restoreImage(m.remote, { timestamp: when });
      assert.equal(plan.txid, best, `timestamp ${when.toISOString()}`);
      assert.equal(plan.gap !== undefined, beyond, `timestamp ${when.toISOString()}: gap reported`);
      assert.ok(equalBytes(image, imageOf(m.stateAt(best))));
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      // Refusing is right only when nothing is reachable.
      assert.ok(best === 0n, `timestamp ${when.toISOString()}: ${(err as Error).message}`);
    }
  }
}
