/** Runs a transaction's ops on a better-sqlite3 connection, values bound as blobs (the SQL-text path is sql-text.ts). */
import type Database from 'better-sqlite3';
import { blobBytes, LOG_TABLE } from './blob.js';
import type { Op } from './ops.js';
import { tableDdl, type WorkloadConfig } from './schema.js';

/** Inside an open transaction: the log row, then every op. */
export function applyOps(db: Database.Database, cfg: WorkloadConfig, seq: number, ops: readonly Op[]): void {
  db.prepare(`INSERT INTO ${LOG_TABLE} (seq) VALUES (?)`).run(seq);
  for (const op of ops) {
    switch (op.kind) {
      case 'create':
        db.exec(tableDdl(op.table));
        break;
      case 'drop':
        db.exec(`DROP TABLE ${op.table}`);
        break;
      case 'insert':
        db.prepare(`INSERT INTO ${op.table} (id, v) VALUES (?, ?)`).run(op.id, blobBytes(cfg.seed, seq, op.id, op.length));
        break;
      case 'update': {
        const r = db.prepare(`UPDATE ${op.table} SET v = ? WHERE id = ?`).run(blobBytes(cfg.seed, seq, op.id, op.length), op.id);
        // The model says the row exists; if the database disagrees, the database is not the model's state.
        if (r.changes !== 1) throw new Error(`seq ${seq}: update of ${op.table} id ${op.id} changed ${r.changes} rows`);
        break;
      }
      case 'delete': {
        const r = db.prepare(`DELETE FROM ${op.table} WHERE id BETWEEN ? AND ?`).run(op.lo, op.hi);
        if (r.changes !== op.count) throw new Error(`seq ${seq}: delete of ${op.table} ids ${op.lo}..${op.hi} removed ${r.changes} rows, the model has ${op.count}`);
        break;
      }
    }
  }
}
