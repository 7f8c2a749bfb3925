/**
 * A second application, for deferred-writer.ts: in a loop, deferred
 * transactions that read and then write (BEGIN; SELECT max(id); INSERT;
 * COMMIT) with busy_timeout 5000, pausing `pauseMs` between them. SQLite
 * does not call the busy handler when a deferred transaction upgrades from
 * reading to writing in WAL mode, so such a transaction fails at once with
 * SQLITE_BUSY ("database is locked") if another connection holds the write
 * lock then, or SQLITE_BUSY_SNAPSHOT if one committed since it read. Counts
 * its attempts and its failures until SIGTERM, then prints a
 * DeferredWriterReport line and exits.
 *
 * Usage: node --import tsx deferred-writer-child.ts <dbPath> <pauseMs>
 */
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { APP_READY_LINE, type DeferredWriterReport } from './protocol.js';
import { INSERT_EVENT, PAYLOAD_BYTES } from './write-burst.js';

/** The application's busy timeout: it waits this long for a lock wherever SQLite lets it. */
const BUSY_TIMEOUT_MS = 5000;
/** The loop yields to the event loop (to see SIGTERM) this often. */
const SLICE_MS = 50;

function isBusy(code: string): boolean {
  return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_');
}

const bump = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};

function main(): void {
  const [dbPath, pause] = process.argv.slice(2);
  if (dbPath === undefined || pause === undefined) throw new Error('usage: deferred-writer-child.ts <dbPath> <pauseMs>');
  const pauseMs = Number(pause);
  const db = new Database(dbPath, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('synchronous = NORMAL');
  const begin = db.prepare('BEGIN');
  const select = db.prepare('SELECT max(id) AS m FROM events');
  const insert = db.prepare(INSERT_EVENT);
  const commit = db.prepare('COMMIT');
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x64);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const report: DeferredWriterReport = {
    attempts: 0,
    committed: 0,
    busy: 0,
    busyByCode: {},
    busyByStatement: {},
    otherErrors: {},
    firstOtherError: null,
    ranMs: 0,
  };

  const transaction = (): void => {
    report.attempts++;
    let statement = 'begin';
    try {
      begin.run();
      statement = 'select';
      const max = (select.get() as { m: number | null }).m ?? 0;
      statement = 'insert';
      insert.run(`deferred-${max}`, Date.now(), payload);
      statement = 'commit';
      commit.run();
      report.committed++;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      const code = String((err as { code?: unknown }).code ?? 'unknown');
      if (isBusy(code)) {
        report.busy++;
        bump(report.busyByCode, code);
        bump(report.busyByStatement, statement);
      } else {
        bump(report.otherErrors, code);
        report.firstOtherError ??= `${statement}: ${(err as Error).message}`;
      }
    }
  };

  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
  });
  const start = performance.now();
  const slice = (): void => {
    const until = performance.now() + SLICE_MS;
    while (performance.now() < until) {
      transaction();
      if (pauseMs > 0) Atomics.wait(sleeper, 0, 0, pauseMs);
    }
    if (!stopping) {
      setImmediate(slice);
      return;
    }
    report.ranMs = Math.round(performance.now() - start);
    db.close();
    process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
  };
  process.stdout.write(`${APP_READY_LINE}\n`);
  setImmediate(slice);
}

try {
  main();
} catch (err) {
  console.error(err);
  process.exit(1);
}
