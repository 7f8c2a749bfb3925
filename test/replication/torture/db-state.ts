/**
 * Reads a database the way the checker sees it: the seqs in the log, every
 * data row's hash, the order-independent state hash (the same formula the
 * model uses), and SQLite's integrity verdict. Tables the replicator adds
 * (`_litestream_*`) and SQLite's own are not part of the application state.
 */
import Database from 'better-sqlite3';
import { LOG_TABLE, logHash, rowHash, tableHash } from './blob.js';
import type { Model } from './model.js';

/** How many ids or seqs a diff lists before it only counts. */
const DIFF_LIST_LIMIT = 12;

export interface DbState {
  /** max(seq) of the log, 0 when it is empty or missing. */
  readonly maxSeq: number;
  /** Ascending. */
  readonly logSeqs: number[];
  readonly hasLog: boolean;
  /** Data table → id → row hash. */
  readonly tables: Map<string, Map<number, bigint>>;
  readonly hash: bigint;
  /** 'ok', or SQLite's complaints joined by '; '. */
  readonly integrity: string;
  /** Things that are wrong regardless of the model (a value that is not a blob, a table without `v`). */
  readonly oddities: string[];
}

/** Opens `path` (a file nobody else uses: a restore, or a copy of the source) and reads its state. */
export function readDbState(path: string): DbState {
  const db = new Database(path, { fileMustExist: true });
  try {
    const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
    const names = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_litestream\\_%' ESCAPE '\\'").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    let hash = 0n;
    let logSeqs: number[] = [];
    const tables = new Map<string, Map<number, bigint>>();
    const oddities: string[] = [];
    for (const name of names) {
      if (name === LOG_TABLE) {
        logSeqs = (db.prepare(`SELECT seq FROM ${LOG_TABLE} ORDER BY seq`).raw().all() as [number][]).map((r) => r[0]);
        for (const s of logSeqs) hash ^= logHash(s);
        continue;
      }
      hash ^= tableHash(name);
      const rows = new Map<number, bigint>();
      tables.set(name, rows);
      let all: [number, unknown][];
      try {
        all = db.prepare(`SELECT rowid, v FROM "${name}" ORDER BY rowid`).raw().all() as [number, unknown][];
      } catch (err) {
        oddities.push(`table ${name} cannot be read as (id, v): ${(err as Error).message}`);
        continue;
      }
      for (const [id, v] of all) {
        if (!Buffer.isBuffer(v)) oddities.push(`${name} id ${id}: value is ${v === null ? 'NULL' : typeof v}, not a blob`);
        const h = rowHash(name, id, Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
        rows.set(id, h);
        hash ^= h;
      }
    }
    const hasLog = names.includes(LOG_TABLE);
    return { maxSeq: logSeqs[logSeqs.length - 1] ?? 0, logSeqs, hasLog, tables, hash, integrity, oddities };
  } finally {
    db.close();
  }
}

/** What differs between a database and the model's state at the same seq, one finding per line. */
export function describeDiff(state: DbState, expected: Model): string[] {
  const out: string[] = [];
  if (!state.hasLog) out.push(`the ${LOG_TABLE} table is missing`);
  const have = new Set(state.logSeqs);
  const missing: number[] = [];
  for (let s = 1; s <= expected.seq; s++) if (!have.has(s)) missing.push(s);
  if (missing.length > 0) out.push(`log is missing ${missing.length} seqs below its max ${expected.seq}: ${ranges(missing)}`);
  for (const [name, t] of expected.tables) {
    const got = state.tables.get(name);
    if (got === undefined) {
      out.push(`table ${name} is missing (the model has it with ${t.ids.length} rows)`);
      continue;
    }
    const absent = t.ids.filter((id) => !got.has(id));
    const changed = t.ids.filter((id) => got.has(id) && got.get(id) !== t.rows.get(id));
    const extra = [...got.keys()].filter((id) => !t.rows.has(id));
    if (absent.length > 0) out.push(`${name}: ${absent.length} rows missing: ${list(absent)}`);
    if (extra.length > 0) out.push(`${name}: ${extra.length} rows that should not exist: ${list(extra)}`);
    if (changed.length > 0) out.push(`${name}: ${changed.length} rows with a wrong value: ${list(changed)}`);
  }
  for (const name of state.tables.keys()) if (!expected.tables.has(name)) out.push(`table ${name} should not exist at seq ${expected.seq}`);
  out.push(...state.oddities.slice(0, DIFF_LIST_LIMIT));
  return out;
}

function list(ids: number[]): string {
  const head = ids.slice(0, DIFF_LIST_LIMIT).join(', ');
  return ids.length > DIFF_LIST_LIMIT ? `${head}, …` : head;
}

/** 3, 4, 5, 9 → "3-5, 9". */
function ranges(seqs: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    parts.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
  }
  const head = parts.slice(0, DIFF_LIST_LIMIT).join(', ');
  return parts.length > DIFF_LIST_LIMIT ? `${head}, …` : head;
}
