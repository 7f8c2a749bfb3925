/** Parent side of the writer processes: start one, follow its reports, and collect what it did and what failed. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, spawnScript } from './processes.js';
import type { WriterMessage, WriterSpec } from './writer-protocol.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const WRITER_SCRIPTS = { node: join(HERE, 'app-writer.ts'), shell: join(HERE, 'shell-writer.ts') } as const;
export type WriterKind = keyof typeof WRITER_SCRIPTS;
/** stderr a failed writer shows. */
const STDERR_KEEP_CHARS = 4000;

export interface WriterError {
  readonly what: string;
  readonly code: string;
  readonly message: string;
  readonly seq?: number;
}

export interface WriterOutcome {
  readonly kind: WriterKind;
  readonly proc: number;
  habits: Record<string, unknown> | undefined;
  commits: number;
  maxSeq: number;
  checkpoints: number;
  vacuums: number;
  readonly errors: WriterError[];
  /** The writer ended without its 'done' report, or with a non-zero exit: a crash. */
  crashed: string | undefined;
}

/** Runs one writer to its end. `onCommit` hears every committed seq as it happens. */
export async function runWriter(kind: WriterKind, spec: WriterSpec, onCommit: (seq: number) => void): Promise<WriterOutcome> {
  const out: WriterOutcome = { kind, proc: spec.proc, habits: undefined, commits: 0, maxSeq: 0, checkpoints: 0, vacuums: 0, errors: [], crashed: undefined };
  const child = spawnScript(WRITER_SCRIPTS[kind], [JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  let stderr = '';
  let done = false;
  const onMessage = (msg: WriterMessage): void => {
    switch (msg.t) {
      case 'start':
        out.habits = msg.habits;
        break;
      case 'commit':
        out.commits++;
        out.maxSeq = Math.max(out.maxSeq, msg.seq);
        onCommit(msg.seq);
        break;
      case 'error':
        out.errors.push({ what: msg.what, code: msg.code, message: msg.message, ...(msg.seq === undefined ? {} : { seq: msg.seq }) });
        break;
      case 'done':
        done = true;
        out.checkpoints = msg.checkpoints;
        out.vacuums = msg.vacuums;
        break;
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim() !== '') onMessage(JSON.parse(line) as WriterMessage);
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_KEEP_CHARS);
  });
  const { code, signal } = await exited(child);
  // 'exit' can come before the last stdout chunk; 'close' means both pipes are drained.
  if (child.stdout !== null && !child.stdout.readableEnded) await new Promise((r) => child.once('close', r));
  if (!done || code !== 0) out.crashed = `${kind} writer ${spec.proc} ended with code=${code} signal=${signal}${done ? '' : ' before reporting done'}: ${stderr.trim()}`;
  return out;
}
