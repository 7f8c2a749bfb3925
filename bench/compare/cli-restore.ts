/**
 * Restores a replica with a tool's own CLI, timed from spawn to exit, and
 * checks the result holds exactly the rows the writer committed.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';

export class RestoreCheckError extends Error {
  override name = 'RestoreCheckError';
}

export interface RestoreResult {
  seconds: number;
  dbBytes: number;
  rows: number;
  lastId: number;
}

/** Runs argv (executable first) to completion; resolves with its wall time in seconds. */
export function runTimed(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.once('error', (err) => reject(new RestoreCheckError(`could not run ${argv[0]}`, { cause: err })));
    child.once('close', (code) => {
      const seconds = (performance.now() - start) / 1000;
      if (code === 0) resolve(seconds);
      else reject(new RestoreCheckError(`${argv.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}

export async function restoreAndCheck(argv: readonly string[], outputPath: string, expectedLastId: number): Promise<RestoreResult> {
  const seconds = await runTimed(argv);
  const db = new Database(outputPath, { readonly: true });
  try {
    const { rows, lastId } = db.prepare('SELECT count(*) AS rows, coalesce(max(id), 0) AS lastId FROM events').get() as { rows: number; lastId: number };
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new RestoreCheckError(`${outputPath}: restored database fails quick_check: ${String(check)}`);
    // Ids are assigned 1, 2, 3, ... and never deleted, so the last id is also the row count.
    if (lastId !== expectedLastId || rows !== expectedLastId) {
      throw new RestoreCheckError(`${outputPath}: restored ${rows} rows up to id ${lastId}, the writer committed up to id ${expectedLastId}`);
    }
    return { seconds, dbBytes: statSync(outputPath).size, rows, lastId };
  } finally {
    db.close();
  }
}
