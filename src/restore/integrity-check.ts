import { unlink } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { isErrno } from '../io/durable-fs.js';
import { RestoreError } from './errors.js';
import type { IntegrityCheckJob, IntegrityCheckReply } from './integrity-check-worker.js';

/** `quick` runs `PRAGMA quick_check`, `full` runs `PRAGMA integrity_check`; `none` (Litestream's default) skips the check. */
export type IntegrityCheckMode = 'none' | 'quick' | 'full';

export const INTEGRITY_CHECK_MODES: readonly IntegrityCheckMode[] = ['none', 'quick', 'full'];

const PRAGMA: Record<Exclude<IntegrityCheckMode, 'none'>, IntegrityCheckJob['pragma']> = {
  quick: 'quick_check',
  full: 'integrity_check',
};

/** Files a read-only connection to a WAL-mode database leaves behind. */
const CONNECTION_SIDECARS = ['-wal', '-shm'];

/**
 * Runs SQLite's quick_check or integrity_check on the database file at
 * `path`, read-only, on a worker thread. Resolves the problems SQLite
 * reports: an empty list means the database passed. Removes the `-wal` and
 * `-shm` files the connection creates, and any stale ones beforehand, so the
 * check sees the file alone.
 */
export async function checkDatabaseIntegrity(path: string, mode: Exclude<IntegrityCheckMode, 'none'>): Promise<string[]> {
  await removeSidecars(path);
  try {
    const reply = await runWorker({ path, pragma: PRAGMA[mode] });
    if (!reply.ok) {
      if (reply.sqlite) return [reply.message];
      throw new RestoreError(`could not run ${PRAGMA[mode]} on ${path}: ${reply.message}`);
    }
    return reply.messages.length === 1 && reply.messages[0] === 'ok' ? [] : reply.messages;
  } finally {
    await removeSidecars(path);
  }
}

async function removeSidecars(path: string): Promise<void> {
  for (const suffix of CONNECTION_SIDECARS) {
    try {
      await unlink(path + suffix);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
}

function startWorker(job: IntegrityCheckJob): Worker {
  if (import.meta.url.endsWith('.ts')) {
    // Running from the TypeScript sources (tests): module hooks are per
    // thread, so the worker registers the TypeScript loader before loading.
    const entry = new URL('./integrity-check-worker.ts', import.meta.url).href;
    return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, {
      eval: true,
      workerData: job,
    });
  }
  return new Worker(new URL('./integrity-check-worker.js', import.meta.url), { workerData: job });
}

function runWorker(job: IntegrityCheckJob): Promise<IntegrityCheckReply> {
  return new Promise((resolve, reject) => {
    const w = startWorker(job);
    let replied = false;
    w.once('message', (reply: IntegrityCheckReply) => {
      replied = true;
      resolve(reply);
    });
    w.once('error', (err) => reject(new RestoreError(`integrity check worker failed: ${err.message}`, { cause: err })));
    w.once('exit', (code) => {
      if (!replied) reject(new RestoreError(`integrity check worker exited with code ${code} before replying`));
    });
  });
}
