/**
 * The replicator under test, run as users run it: the built CLI's
 * `replicate` daemon on a directory replica. Started, killed (SIGKILL, a
 * crash) or stopped (SIGTERM, orderly), restarted; its stderr from every
 * life is kept, so a failure can show what it logged last.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited, ROOT, spawnTracked } from './processes.js';

/**
 * The built CLI (`npm run build`). TIDEMARK_TORTURE_CLI points elsewhere, at
 * a frozen copy of dist say, when the sources are being rebuilt under a long run.
 */
export const CLI_ENV = 'TIDEMARK_TORTURE_CLI';
export const CLI = process.env[CLI_ENV] || join(ROOT, 'dist', 'cli', 'main.js');
/** Short, so many L0 files are written and checkpoints race the applications often. */
export const SYNC_INTERVAL = '50ms';
/** The daemon's own shutdown waits up to 30 s for the final upload; a little more than that is a hang. */
export const TERM_TIMEOUT_MS = 40_000;
/** stderr kept across all lives, and the lines of it a failure shows. */
const STDERR_KEEP_CHARS = 256 * 1024;
export const STDERR_TAIL_LINES = 40;
/** The line the daemon logs once it replicates. */
const READY = 'msg=replicating';
const READY_POLL_MS = 10;

/** The daemon is the built CLI; without a build there is nothing to test. */
export function assertCliBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
}

/** Whether a SIGTERM stop ended as an orderly stop must. */
export function stoppedCleanly(r: StopResult): boolean {
  if (r.hung) return false;
  return r.code === 0 || (!r.wasReady && r.signal === 'SIGTERM');
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The daemon did not exit within TERM_TIMEOUT_MS of SIGTERM and was killed. */
  hung: boolean;
  /** It had logged that it replicates; before that, Node may not have installed its signal handlers yet. */
  wasReady: boolean;
}

export class Daemon {
  #child: ChildProcess | undefined;
  #stderr = '';
  #lives = 0;
  #ready = false;
  /** Exits we did not cause (the daemon ended on its own), with the life they ended. */
  readonly unexpectedExits: { life: number; code: number | null; signal: NodeJS.Signals | null }[] = [];
  #stopping = false;

  constructor(
    readonly dbPath: string,
    readonly replicaDir: string,
  ) {
    assertCliBuilt();
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get lives(): number {
    return this.#lives;
  }

  /** True once the current life logged that it replicates. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Resolves true once the current life is ready, false if it exits or `timeoutMs` passes first. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const by = Date.now() + timeoutMs;
    while (!this.#ready && this.running && Date.now() < by) await sleep(READY_POLL_MS);
    return this.#ready;
  }

  start(note: string): void {
    if (this.#child !== undefined) throw new Error('daemon already running');
    this.#lives++;
    this.#ready = false;
    this.#stopping = false;
    this.#append(`=== daemon life ${this.#lives} (${note}) ===\n`);
    const child = spawnTracked(process.execPath, [CLI, 'replicate', '-sync-interval', SYNC_INTERVAL, this.dbPath, this.replicaDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const life = this.#lives;
    child.stderr!.on('data', (d: Buffer) => {
      const s = d.toString();
      if (s.includes(READY)) this.#ready = true;
      this.#append(s);
    });
    child.once('exit', (code, signal) => {
      this.#append(`=== daemon life ${life} exited: code=${code} signal=${signal} ===\n`);
      if (!this.#stopping) this.unexpectedExits.push({ life, code, signal });
      if (this.#child === child) this.#child = undefined;
    });
    this.#child = child;
  }

  /** SIGKILL: the crash. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#stopping = true;
    child.kill('SIGKILL');
    await exited(child);
    this.#child = undefined;
  }

  /**
   * SIGTERM: the orderly stop (final sync and upload), which must end with
   * exit code 0 — unless it came before the daemon was ready, when Node's
   * default action (death by the signal) is all one can ask.
   */
  async stop(): Promise<StopResult> {
    const child = this.#child;
    if (child === undefined) return { code: 0, signal: null, hung: false, wasReady: false };
    this.#stopping = true;
    const wasReady = this.#ready;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), TERM_TIMEOUT_MS)));
    const r = await Promise.race([exited(child), timeout]);
    clearTimeout(timer);
    if (r === 'hung') {
      child.kill('SIGKILL');
      const e = await exited(child);
      this.#child = undefined;
      return { ...e, hung: true, wasReady };
    }
    this.#child = undefined;
    return { ...r, hung: false, wasReady };
  }

  /** The last lines it logged, across lives. */
  tail(lines = STDERR_TAIL_LINES): string {
    return this.#stderr.split('\n').slice(-lines - 1).join('\n');
  }

  /** Lines logged at level=error (reported, not failures by themselves: a busy database is retried). */
  errorLines(): string[] {
    return this.#stderr.split('\n').filter((l) => l.includes('level=ERROR') || l.includes('level=error'));
  }

  #append(s: string): void {
    this.#stderr += s;
    if (this.#stderr.length > STDERR_KEEP_CHARS) this.#stderr = this.#stderr.slice(-STDERR_KEEP_CHARS);
  }
}
