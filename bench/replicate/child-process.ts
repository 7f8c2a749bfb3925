/**
 * The benchmark's child processes (replicator, application writers): a
 * TypeScript script run under tsx whose stdout is read line by line, with a
 * timeout on every line awaited so that a stuck child fails the run instead
 * of hanging it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root: children run from there so tsx finds the project's configuration. */
const repoRoot = join(here, '..', '..');

export interface Child {
  /** Says which child a timeout or early exit concerns. */
  name: string;
  proc: ChildProcess;
  lines: AsyncIterator<string>;
}

/** Starts `bench/replicate/<script>` with `args`; stderr is inherited so a failing child explains itself. */
export function spawnChild(name: string, script: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  return { name, proc, lines: createInterface({ input: proc.stdout! })[Symbol.asyncIterator]() };
}

/** The child's next stdout line; rejects after `timeoutMs`, or if the child exits first. */
export async function nextLine(child: Child, what: string, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${child.name}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const r = await Promise.race([child.lines.next(), timeout]);
    if (r.done === true) throw new Error(`${child.name} exited before its ${what} (exit ${child.proc.exitCode ?? child.proc.signalCode})`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Kills a child still running (after a failed run, so that none is left behind). */
export function killIfRunning(child: Child | undefined): void {
  if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
}
