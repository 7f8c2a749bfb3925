/**
 * The op generator, written once and used by every writer (better-sqlite3 and
 * the sqlite3 shell) and by the checker's model: the ops of transaction `seq`
 * depend only on (seed, seq) and the state after seq-1.
 */
import { seededRandom } from '../../../src/seeded-random.js';
import { between, mixSeed } from './seeds.js';
import type { Model } from './model.js';
import { FIRST_TABLE, SECOND_TABLE, type WorkloadConfig } from './schema.js';
import { idRange } from './sorted-ids.js';

export type Op =
  | { kind: 'insert'; table: string; id: number; length: number }
  | { kind: 'update'; table: string; id: number; length: number }
  | { kind: 'delete'; table: string; lo: number; hi: number; count: number }
  | { kind: 'create'; table: string }
  | { kind: 'drop'; table: string };

/** Salt so the op stream is unrelated to other streams seeded by the same seq. */
const OPS_SALT = 0x0b5;
/** Data ops per transaction. */
const MIN_OPS = 1;
const MAX_OPS = 8;
/** New ids are seq * ID_STRIDE + i: unique, and above every id used before (a bulk insert stays below the stride). */
export const ID_STRIDE = 1024;
/**
 * Now and then a bulk transaction: hundreds of rows in, or a long id range
 * out. With a small cache_size (a writer habit) it spills uncommitted pages
 * into the WAL before it commits, which a replicator must never copy as if
 * they were committed; and it frees or allocates many pages at once.
 */
const P_BULK_INSERT = 0.01;
const BULK_INSERT_MIN = 50;
const BULK_INSERT_MAX = 300;
const P_BULK_DELETE = 0.01;
const BULK_DELETE_SPAN_MAX = 200;
/** Rows the workload hovers around (a database of about a megabyte), so restores stay cheap. */
const TARGET_ROWS = 400;
/** Chance per transaction of creating the second table when it is absent / dropping it when present. */
const P_CREATE_SECOND = 0.02;
const P_DROP_SECOND = 0.01;
/** Share of data ops on the second table while it exists. */
const P_SECOND_TABLE = 0.3;
/** Longest id range one delete removes. */
const MAX_DELETE_SPAN = 6;
/** Value sizes: tiny ones share pages, large ones (over a page) churn overflow chains. */
const TINY_MAX = 48;
const MEDIUM_MIN = 100;
const MEDIUM_MAX = 1500;
const P_TINY = 0.4;
const P_LARGE = 0.2;
const LARGE_MAX_PAGES = 4;

/** The ops of transaction `seq`, given the model at seq-1 (which is not changed). */
export function generateOps(cfg: WorkloadConfig, seq: number, model: Model): Op[] {
  if (model.seq !== seq - 1) throw new Error(`ops for seq ${seq} need the state at ${seq - 1}, model is at ${model.seq}`);
  const random = seededRandom(mixSeed(cfg.seed, seq, OPS_SALT));
  // Ids per table as this transaction changes them, copied on first touch so the model stays as it was.
  const view = new Map<string, number[] | null>();
  const ids = (table: string): number[] | null => {
    if (!view.has(table)) view.set(table, model.tables.has(table) ? [...model.tables.get(table)!.ids] : null);
    return view.get(table)!;
  };
  let rows = model.rowCount();
  const ops: Op[] = [];

  const secondExists = ids(SECOND_TABLE) !== null;
  if (!secondExists && random() < P_CREATE_SECOND) {
    ops.push({ kind: 'create', table: SECOND_TABLE });
    view.set(SECOND_TABLE, []);
  } else if (secondExists && random() < P_DROP_SECOND) {
    rows -= ids(SECOND_TABLE)!.length;
    ops.push({ kind: 'drop', table: SECOND_TABLE });
    view.set(SECOND_TABLE, null);
  }

  let nextId = seq * ID_STRIDE;
  const bulkInsert = random() < P_BULK_INSERT;
  const bulkDelete = random() < P_BULK_DELETE;
  if (bulkInsert) {
    const table = ids(SECOND_TABLE) !== null && random() < P_SECOND_TABLE ? SECOND_TABLE : FIRST_TABLE;
    const count = between(random, BULK_INSERT_MIN, BULK_INSERT_MAX);
    for (let i = 0; i < count; i++) {
      const id = nextId++;
      ops.push({ kind: 'insert', table, id, length: between(random, MEDIUM_MIN, MEDIUM_MAX) });
      ids(table)!.push(id);
      rows++;
    }
  }
  if (bulkDelete && ids(FIRST_TABLE)!.length > 0) {
    const t = ids(FIRST_TABLE)!;
    const start = Math.floor(random() * t.length);
    const end = Math.min(t.length - 1, start + between(random, 0, BULK_DELETE_SPAN_MAX - 1));
    const [from, to] = idRange(t, t[start]!, t[end]!);
    ops.push({ kind: 'delete', table: FIRST_TABLE, lo: t[start]!, hi: t[end]!, count: to - from });
    t.splice(from, to - from);
    rows -= to - from;
  }
  const n = between(random, MIN_OPS, MAX_OPS);
  for (let i = 0; i < n; i++) {
    const table = ids(SECOND_TABLE) !== null && random() < P_SECOND_TABLE ? SECOND_TABLE : FIRST_TABLE;
    const t = ids(table)!;
    // Above the target, deletes win; below it, inserts do: the database neither empties nor grows.
    const pInsert = rows > TARGET_ROWS ? 0.2 : 0.6;
    const pUpdate = 0.3;
    const roll = random();
    if (t.length === 0 || roll < pInsert) {
      const id = nextId++;
      ops.push({ kind: 'insert', table, id, length: valueLength(cfg, random) });
      t.push(id);
      rows++;
    } else if (roll < pInsert + pUpdate) {
      const id = t[Math.floor(random() * t.length)]!;
      ops.push({ kind: 'update', table, id, length: valueLength(cfg, random) });
    } else {
      const start = Math.floor(random() * t.length);
      const end = Math.min(t.length - 1, start + between(random, 0, MAX_DELETE_SPAN - 1));
      const lo = t[start]!;
      const hi = t[end]!;
      const [from, to] = idRange(t, lo, hi);
      ops.push({ kind: 'delete', table, lo, hi, count: to - from });
      t.splice(from, to - from);
      rows -= to - from;
    }
  }
  return ops;
}

function valueLength(cfg: WorkloadConfig, random: () => number): number {
  const roll = random();
  if (roll < P_TINY) return between(random, 1, TINY_MAX);
  if (roll < P_TINY + P_LARGE) return between(random, cfg.pageSize + 1, cfg.pageSize * LARGE_MAX_PAGES);
  return between(random, MEDIUM_MIN, MEDIUM_MAX);
}
