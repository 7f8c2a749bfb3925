/**
 * Runs one SQLite integrity check on a worker thread, so a check of a large
 * database does not block the event loop. Receives `{ path, pragma }` as
 * workerData and posts an IntegrityCheckReply.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface IntegrityCheckJob {
  path: string;
  pragma: 'quick_check' | 'integrity_check';
}

export type IntegrityCheckReply =
  | { ok: true; messages: string[] }
  /** `sqlite` tells SQLite's own complaints (not a database, malformed) from failures to run at all. */
  | { ok: false; message: string; sqlite: boolean };

function run(job: IntegrityCheckJob): IntegrityCheckReply {
  try {
    const db = new Database(job.path, { readonly: true, fileMustExist: true });
    try {
      const rows = db.pragma(job.pragma) as Record<string, unknown>[];
      return { ok: true, messages: rows.map((r) => String(Object.values(r)[0])) };
    } finally {
      db.close();
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      ok: false,
      message: err instanceof Error ? err.message : String(err),
      sqlite: typeof code === 'string' && code.startsWith('SQLITE_'),
    };
  }
}

parentPort?.postMessage(run(workerData as IntegrityCheckJob));
