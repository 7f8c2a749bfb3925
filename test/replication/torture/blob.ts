/**
 * Row values and row hashes. A value is a pure function of (seed, seq, id,
 * length), so the model never stores bytes, and a row's hash is computed the
 * same way from bytes the model generates and from bytes read back from a
 * database.
 */
import { createHash } from 'node:crypto';

/** The table of committed transaction numbers; its rows hash with an empty value. */
export const LOG_TABLE = 'log';
const EMPTY = Buffer.alloc(0);

/** The deterministic value of row `id` written by transaction `seq` (SHAKE256 as a fast seeded byte stream). */
export function blobBytes(seed: number, seq: number, id: number, length: number): Buffer {
  return createHash('shake256', { outputLength: length }).update(`${seed}:${seq}:${id}`).digest();
}

/** 64-bit hash of one (table, rowid, value); the state hash XORs these, so row order never matters. */
export function rowHash(table: string, id: number, value: Uint8Array = EMPTY): bigint {
  return createHash('sha256').update(table).update('\0').update(String(id)).update('\0').update(value).digest().readBigUInt64BE(0);
}

/** The hash term that says a table exists: an empty second table differs from no second table. */
export function tableHash(table: string): bigint {
  return rowHash(`table:${table}`, 0);
}

/** The hash term of seq `seq` being in the log. */
export function logHash(seq: number): bigint {
  return rowHash(LOG_TABLE, seq);
}

export function hex64(h: bigint): string {
  return h.toString(16).padStart(16, '0');
}
