/**
 * Every child process the harness starts (writers, daemons, CPU hogs) is
 * registered here, so that every way out — a failed assertion, a timeout,
 * SIGINT, a plain exit — kills them: no hog or daemon outlives a run.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: children run from it so `--import tsx` resolves. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Exit codes of a run cut short by a signal, as a shell reports them. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

const live = new Set<ChildProcess>();
let hooksInstalled = false;

/** Spawns a child and registers it until it exits. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { cwd: ROOT, ...options });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // A child that cannot start reports it through 'error'; the callers see it as an exit.
  child.once('error', () => live.delete(child));
  return child;
}

/** A TypeScript child script, run by this Node with tsx as the user's tests are. */
export function spawnScript(script: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawnTracked(process.execPath, ['--import', 'tsx', script, ...args], options);
}

/** Kills every child still running (synchronous, so it also works in an 'exit' handler). */
export function killAllChildren(signal: NodeJS.Signals = 'SIGKILL'): number {
  let n = 0;
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
        n++;
      } catch {
        // Already gone.
      }
    }
  }
  return n;
}

export function liveChildren(): number {
  return live.size;
}

/** Resolves with (code, signal) once the child has exited; at once if it already has. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
}

/** Installs, once per process, the hooks that kill the children when this process ends or is interrupted. */
export function installCleanupHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', () => killAllChildren());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      const n = killAllChildren();
      console.error(`torture: ${sig}: killed ${n} child processes`);
      process.exit(SIGNAL_EXIT[sig]);
    });
  }
}
