/**
 * What the harness tells a writer process (one JSON argument) and what the
 * writer reports back (one JSON object per stdout line).
 */

export interface WriterSpec {
  readonly dbPath: string;
  readonly seed: number;
  readonly pageSize: number;
  /** Which writer slot of the cycle this is; with the seed and cycle it seeds the writer's habits. */
  readonly proc: number;
  readonly cycle: number;
  /** The writer stops starting transactions this long after it is up. */
  readonly durationMs: number;
  /** The model (ModelSnapshot JSON) at a seq no later than the database's, to replay from. */
  readonly snapshotPath: string;
}

export type WriterMessage =
  | { t: 'start'; habits: Record<string, unknown> }
  | { t: 'commit'; seq: number }
  | { t: 'error'; what: string; code: string; message: string; seq?: number }
  | { t: 'done'; commits: number; lastSeq: number; checkpoints: number; vacuums: number };

export function parseSpec(argv: readonly string[]): WriterSpec {
  const arg = argv[2];
  if (arg === undefined) throw new Error('usage: writer <spec JSON>');
  return JSON.parse(arg) as WriterSpec;
}

export function send(msg: WriterMessage): void {
  // stdout to a pipe is synchronous on Linux, so nothing is lost when the process exits right after.
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** SQLite's error code of a thrown error (better-sqlite3's `code`), or the error's name. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown';
}
