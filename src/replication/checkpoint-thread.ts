import { Worker } from 'node:worker_threads';
import type { CheckpointReply, CheckpointRequest } from './checkpoint-worker.js';
import { ReplicationError } from './errors.js';
import type { CheckpointMode, CheckpointResult } from './sqlite-session.js';

type Pending = { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void };

/**
 * The process's checkpoint thread, shared by every replicator: started on
 * first use, and not keeping the process alive while idle.
 */
class CheckpointThread {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  /** Runs `PRAGMA wal_checkpoint(mode)` on the thread's connection to `path`. */
  checkpoint(path: string, mode: CheckpointMode, busyTimeoutMs: number): Promise<CheckpointResult> {
    return this.#send({ id: this.#nextId++, op: 'checkpoint', path, mode, busyTimeoutMs });
  }

  /** Closes the thread's connection to `path` (before the replicator closes its own). */
  async release(path: string): Promise<void> {
    if (this.#worker === undefined) return;
    await this.#send({ id: this.#nextId++, op: 'release', path });
  }

  #send(req: CheckpointRequest): Promise<CheckpointResult> {
    const w = this.#start();
    return new Promise((resolve, reject) => {
      this.#pending.set(req.id, { resolve, reject });
      if (this.#pending.size === 1) w.ref();
      w.postMessage(req);
    });
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    let w: Worker;
    if (import.meta.url.endsWith('.ts')) {
      // Running from the TypeScript sources (tests): module hooks are per
      // thread, so the worker registers the TypeScript loader before loading.
      const entry = new URL('./checkpoint-worker.ts', import.meta.url).href;
      w = new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
    } else {
      w = new Worker(new URL('./checkpoint-worker.js', import.meta.url));
    }
    w.unref();
    w.on('message', (reply: CheckpointReply) => {
      const p = this.#pending.get(reply.id);
      if (p === undefined) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) w.unref();
      if (reply.ok) p.resolve({ busy: reply.busy, log: reply.log, checkpointed: reply.checkpointed });
      else p.reject(Object.assign(new ReplicationError(`checkpoint failed: ${reply.message}`), { code: reply.code }));
    });
    const fail = (err: Error): void => {
      for (const p of this.#pending.values()) p.reject(new ReplicationError(`the checkpoint thread failed: ${err.message}`, { cause: err }));
      this.#pending.clear();
      this.#worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    this.#worker = w;
    return w;
  }
}

let shared: CheckpointThread | undefined;

/** The checkpoint thread of this process. */
export function checkpointThread(): CheckpointThread {
  return (shared ??= new CheckpointThread());
}
