/**
 * An application that writes for a while and exits, for exit-to-replica.ts:
 * commits one row at a time at about RATE_PER_SEC for DURATION_MS into an
 * existing database (the benchmark's schema), closes it, prints an
 * AppWriterReport line (its last commit's wall time) and exits.
 *
 * Usage: node --import tsx app-writer-child.ts <dbPath> <ratePerSec> <durationMs>
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { APP_READY_LINE, type AppWriterReport } from './protocol.js';
import { INSERT_EVENT, PAYLOAD_BYTES } from './write-burst.js';

async function main(): Promise<void> {
  const [dbPath, rate, duration] = process.argv.slice(2);
  if (dbPath === undefined || rate === undefined || duration === undefined) throw new Error('usage: app-writer-child.ts <dbPath> <ratePerSec> <durationMs>');
  const periodMs = 1000 / Number(rate);
  const durationMs = Number(duration);
  const db = new Database(dbPath, { fileMustExist: true });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare(INSERT_EVENT);
  process.stdout.write(`${APP_READY_LINE}\n`);
  const start = Date.now();
  let commits = 0;
  let lastId = 0;
  let lastCommitAtMs = start;
  // Paced against the start, not the previous commit, so timer lateness does not add up.
  for (let due = start; due < start + durationMs; due = start + (commits + 1) * periodMs) {
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    lastId = Number(insert.run(`app-${commits}`, Date.now(), randomBytes(PAYLOAD_BYTES)).lastInsertRowid);
    lastCommitAtMs = Date.now();
    commits++;
  }
  db.close();
  const report: AppWriterReport = { commits, lastId, lastCommitAtMs };
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
