import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI, as a user runs it (tests of it need `npm run build` first). */
export const BIN = join(ROOT, 'dist', 'cli', 'main.js');

/** Creates (or extends) a WAL-mode database with `rows` more rows in table t. */
export function makeDb(path: string, rows: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`value ${i}`);
  })();
  db.close();
}
