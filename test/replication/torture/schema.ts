/** The application's schema and the settings every writer and checker must agree on besides the seq. */
import { LOG_TABLE } from './blob.js';

/** The data table every database starts with (seq 0). */
export const FIRST_TABLE = 't1';
/** The table that transactions create and drop now and then. */
export const SECOND_TABLE = 't2';
export const LOG_DDL = `CREATE TABLE ${LOG_TABLE} (seq INTEGER PRIMARY KEY)`;

/** INTEGER PRIMARY KEY: VACUUM keeps the ids, so a row's identity survives it. */
export function tableDdl(name: string): string {
  return `CREATE TABLE ${name} (id INTEGER PRIMARY KEY, v BLOB NOT NULL)`;
}

export interface WorkloadConfig {
  readonly seed: number;
  readonly pageSize: number;
}
