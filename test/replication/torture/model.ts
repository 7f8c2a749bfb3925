/**
 * The logical model of the application database: which tables exist, their
 * row ids, and (when tracked) each row's hash, plus an order-independent hash
 * of the whole state. Applying the ops of transactions 1..k in order gives
 * the expected state after k transactions.
 */
import { blobBytes, logHash, rowHash, tableHash } from './blob.js';
import { generateOps, type Op } from './ops.js';
import { FIRST_TABLE, type WorkloadConfig } from './schema.js';
import { idRange } from './sorted-ids.js';

export interface TableState {
  /** Ascending; new ids are always larger than every id ever used (they derive from the seq). */
  readonly ids: number[];
  /** id → row hash (0n when hashes are not tracked). */
  readonly rows: Map<number, bigint>;
}

/** The model as JSON, handed to writer processes so they need not replay from seq 1. */
export interface ModelSnapshot {
  seq: number;
  hash: string;
  tables: Record<string, [number, string][]>;
}

export class Model {
  seq = 0;
  hash = 0n;
  readonly tables = new Map<string, TableState>();

  /** trackHashes false: writers only need ids to generate ops, not the values' hashes. */
  constructor(
    readonly cfg: WorkloadConfig,
    readonly trackHashes: boolean,
  ) {}

  /** The state after the schema setup: an empty log and an empty first table. */
  static initial(cfg: WorkloadConfig, trackHashes: boolean): Model {
    const m = new Model(cfg, trackHashes);
    m.#create(FIRST_TABLE);
    return m;
  }

  static fromSnapshot(cfg: WorkloadConfig, s: ModelSnapshot, trackHashes: boolean): Model {
    const m = new Model(cfg, trackHashes);
    m.seq = s.seq;
    m.hash = BigInt(`0x${s.hash}`);
    for (const [name, rows] of Object.entries(s.tables)) {
      m.tables.set(name, { ids: rows.map(([id]) => id), rows: new Map(rows.map(([id, h]) => [id, trackHashes ? BigInt(`0x${h}`) : 0n])) });
    }
    return m;
  }

  toSnapshot(): ModelSnapshot {
    const tables: ModelSnapshot['tables'] = {};
    for (const [name, t] of this.tables) tables[name] = t.ids.map((id) => [id, (t.rows.get(id) ?? 0n).toString(16)]);
    return { seq: this.seq, hash: this.hash.toString(16), tables };
  }

  rowCount(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.ids.length;
    return n;
  }

  /** Replays transactions seq+1..target with the shared op generator. */
  advanceTo(target: number): void {
    if (target < this.seq) throw new Error(`model is at seq ${this.seq}, cannot go back to ${target}`);
    while (this.seq < target) this.apply(this.seq + 1, generateOps(this.cfg, this.seq + 1, this));
  }

  /** Applies transaction `seq` (which must be the next one) and its ops. */
  apply(seq: number, ops: readonly Op[]): void {
    if (seq !== this.seq + 1) throw new Error(`model is at seq ${this.seq}, cannot apply ${seq}`);
    for (const op of ops) {
      switch (op.kind) {
        case 'create':
          this.#create(op.table);
          break;
        case 'drop': {
          const t = this.#table(op.table);
          for (const h of t.rows.values()) this.hash ^= h;
          this.hash ^= tableHash(op.table);
          this.tables.delete(op.table);
          break;
        }
        case 'insert': {
          const t = this.#table(op.table);
          const last = t.ids[t.ids.length - 1];
          if (last !== undefined && op.id <= last) throw new Error(`insert id ${op.id} is not above ${last} in ${op.table}`);
          const h = this.#rowHash(op.table, seq, op.id, op.length);
          t.ids.push(op.id);
          t.rows.set(op.id, h);
          this.hash ^= h;
          break;
        }
        case 'update': {
          const t = this.#table(op.table);
          const old = t.rows.get(op.id);
          if (old === undefined) throw new Error(`update of missing id ${op.id} in ${op.table}`);
          const h = this.#rowHash(op.table, seq, op.id, op.length);
          t.rows.set(op.id, h);
          this.hash ^= old ^ h;
          break;
        }
        case 'delete': {
          const t = this.#table(op.table);
          const [from, to] = idRange(t.ids, op.lo, op.hi);
          for (const id of t.ids.splice(from, to - from)) {
            this.hash ^= t.rows.get(id)!;
            t.rows.delete(id);
          }
          break;
        }
      }
    }
    this.hash ^= logHash(seq);
    this.seq = seq;
  }

  #create(name: string): void {
    if (this.tables.has(name)) throw new Error(`table ${name} exists already`);
    this.tables.set(name, { ids: [], rows: new Map() });
    this.hash ^= tableHash(name);
  }

  #table(name: string): TableState {
    const t = this.tables.get(name);
    if (t === undefined) throw new Error(`table ${name} does not exist at seq ${this.seq}`);
    return t;
  }

  #rowHash(table: string, seq: number, id: number, length: number): bigint {
    return this.trackHashes ? rowHash(table, id, blobBytes(this.cfg.seed, seq, id, length)) : 0n;
  }
}
