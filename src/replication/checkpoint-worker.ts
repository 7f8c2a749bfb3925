/**
 * Runs the replicators' checkpoints on a worker thread, so copying a large
 * WAL into a database does not block the event loop. One connection per
 * database, opened on first use; messages are handled one at a time.
 */
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';

export type CheckpointRequest =
  | { readonly id: number; readonly op: 'checkpoint'; readonly path: string; readonly mode: 'PASSIVE' | 'TRUNCATE'; readonly busyTimeoutMs: number }
  | { readonly id: number; readonly op: 'release'; readonly path: string };

export type CheckpointReply =
  | { readonly id: number; readonly ok: true; readonly busy: number; readonly log: number; readonly checkpointed: number }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code: string | undefined };

const connections = new Map<string, Database.Database>();

function connection(path: string): Database.Database {
  let db = connections.get(path);
  if (db === undefined) {
    db = new Database(path, { fileMustExist: true, timeout: 0 });
    db.pragma('wal_autocheckpoint = 0');
    connections.set(path, db);
  }
  return db;
}

function handle(req: CheckpointRequest): CheckpointReply {
  try {
    if (req.op === 'release') {
      connections.get(req.path)?.close();
      connections.delete(req.path);
      return { id: req.id, ok: true, busy: 0, log: 0, checkpointed: 0 };
    }
    const db = connection(req.path);
    db.pragma(`busy_timeout = ${req.busyTimeoutMs}`);
    try {
      const row = (db.pragma(`wal_checkpoint(${req.mode})`) as { busy: number; log: number; checkpointed: number }[])[0];
      return { id: req.id, ok: true, busy: row?.busy ?? 1, log: row?.log ?? -1, checkpointed: row?.checkpointed ?? -1 };
    } finally {
      db.pragma('busy_timeout = 0');
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err), code: typeof code === 'string' ? code : undefined };
  }
}

parentPort?.on('message', (req: CheckpointRequest) => parentPort!.postMessage(handle(req)));
