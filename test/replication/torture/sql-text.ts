/**
 * A transaction as SQL text, for writers that are not Node (the sqlite3
 * shell): the same ops the generator gives, blobs as X'..' literals, and
 * the seq as a literal in the log insert.
 */
import { blobBytes, LOG_TABLE } from './blob.js';
import type { Op } from './ops.js';
import { tableDdl, type WorkloadConfig } from './schema.js';

export function opSql(cfg: WorkloadConfig, seq: number, op: Op): string {
  switch (op.kind) {
    case 'create':
      return `${tableDdl(op.table)};`;
    case 'drop':
      return `DROP TABLE ${op.table};`;
    case 'insert':
      return `INSERT INTO ${op.table} (id, v) VALUES (${op.id}, X'${blobBytes(cfg.seed, seq, op.id, op.length).toString('hex')}');`;
    case 'update':
      return `UPDATE ${op.table} SET v = X'${blobBytes(cfg.seed, seq, op.id, op.length).toString('hex')}' WHERE id = ${op.id};`;
    case 'delete':
      return `DELETE FROM ${op.table} WHERE id BETWEEN ${op.lo} AND ${op.hi};`;
  }
}

/** The rest of a transaction whose BEGIN IMMEDIATE already ran: the log row, the ops, COMMIT. */
export function transactionBodySql(cfg: WorkloadConfig, seq: number, ops: readonly Op[]): string {
  return [`INSERT INTO ${LOG_TABLE} (seq) VALUES (${seq});`, ...ops.map((op) => opSql(cfg, seq, op)), 'COMMIT;', ''].join('\n');
}
