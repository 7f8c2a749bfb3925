/**
 * What the CLI tests of every backend share: databases written the way
 * applications write them, what a database holds, and a port nobody
 * listens on.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import Database from 'better-sqlite3';
import { logicalDump, type LogicalDump } from '../replication/helpers.js';

/** The Debian sqlite3 shell. */
export const SQLITE3 = '/usr/bin/sqlite3';

/** A database's rows and its integrity check. */
export function stateOf(path: string): { dump: LogicalDump; integrity: string } {
  const db = new Database(path, { readonly: true });
  try {
    return { dump: logicalDump(db), integrity: db.pragma('integrity_check', { simple: true }) as string };
  } finally {
    db.close();
  }
}

/** Writes with the Debian sqlite3 shell, in WAL mode, as an application other than tidemark would. */
export function sqlite3(path: string, sql: string): void {
  execFileSync(SQLITE3, [path], { input: `PRAGMA journal_mode=WAL;\n${sql}\n` });
}

/** Rows `from`..`from+n-1` in table t, written through better-sqlite3 in one transaction. */
export function writeRows(path: string, from: number, n: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = db.prepare('INSERT INTO t (id, v) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = from; i < from + n; i++) ins.run(i, `row ${i} `.repeat(20));
  })();
  db.close();
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
