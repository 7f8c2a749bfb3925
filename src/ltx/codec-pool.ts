import { Worker } from 'node:worker_threads';
import type { CodecJob, CompressJob, CompressResult } from './codec-worker.js';

interface Pending {
  resolve: (r: CompressResult) => void;
  reject: (err: unknown) => void;
}

/**
 * One shared codec worker per process, started on first use. It is
 * unref'd, so an idle worker never keeps the process alive; if it dies, the
 * jobs in flight are rejected and the next job starts a new one.
 */
class CodecWorker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** Set once a worker failed before finishing any job: this process then compresses inline. */
  broken = false;
  private completed = 0;

  private start(): Worker {
    let w: Worker;
    if (import.meta.url.endsWith('.ts')) {
      // Running from the TypeScript sources (tests, benchmarks): module hooks are
      // per thread, so the worker registers the TypeScript loader before loading.
      const entry = new URL('./codec-worker.ts', import.meta.url).href;
      w = new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
    } else {
      w = new Worker(new URL('./codec-worker.js', import.meta.url));
    }
    w.unref();
    w.on('message', (r: CompressResult) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      this.completed++;
      if (this.pending.size === 0) w.unref();
      p.resolve(r);
    });
    const fail = (err: unknown): void => {
      if (this.worker === w) this.worker = null;
      if (this.completed === 0) this.broken = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`compression worker exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  compress(job: Omit<CompressJob, 'id' | 'kind'>): Promise<CompressResult> {
    return this.run({ ...job, kind: 'compress', id: 0 }, [job.pages.buffer as ArrayBuffer]);
  }

  private run(job: CodecJob, transfer: ArrayBuffer[]): Promise<CompressResult> {
    if (this.broken) return Promise.reject(new Error('the codec worker could not be started'));
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    // Referenced while a job is in flight so the process waits for the answer.
    w.ref();
    return new Promise<CompressResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...job, id }, transfer);
    });
  }
}

let shared: CodecWorker | null = null;

export function codecWorker(): CodecWorker {
  return (shared ??= new CodecWorker());
}

const MIN_WORKER_SHARE = 0.3;
const MAX_WORKER_SHARE = 0.9;
const SHARE_STEP = 0.02;
/** Waiting for the worker for more than this fraction of this thread's own work means the worker got too much. */
const BALANCED_WAIT_FRACTION = 0.1;

/**
 * The next fraction of a batch to hand the worker, from how long this thread
 * waited for it after finishing its own part of the last batch.
 */
export function adjustShare(share: number, waitedMs: number, ownWorkMs: number): number {
  const step = waitedMs > ownWorkMs * BALANCED_WAIT_FRACTION ? -SHARE_STEP : SHARE_STEP;
  return Math.min(MAX_WORKER_SHARE, Math.max(MIN_WORKER_SHARE, share + step));
}
