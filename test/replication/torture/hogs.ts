/** CPU hogs, one per core, spinning for the whole run so the replicator works on a loaded machine. */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, spawnTracked } from './processes.js';

const HOG_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'cpu-hog.mjs');

export class CpuHogs {
  readonly #children: ChildProcess[] = [];

  /** Starts `count` hogs (default: one per core). */
  constructor(count = availableParallelism()) {
    for (let i = 0; i < count; i++) this.#children.push(spawnTracked(process.execPath, [HOG_SCRIPT], { stdio: 'ignore' }));
  }

  get count(): number {
    return this.#children.length;
  }

  async stop(): Promise<void> {
    for (const c of this.#children) c.kill('SIGKILL');
    await Promise.all(this.#children.map((c) => exited(c)));
  }
}
