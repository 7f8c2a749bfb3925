/**
 * An application that is not Node (child script): every transaction is one
 * run of the Debian sqlite3 shell, which opens the database, runs one
 * transaction and closes it again. Between transactions it sometimes runs a
 * checkpoint or a VACUUM, each in a shell of its own.
 *
 * The shell is driven through its stdin, a statement at a time (it flushes
 * each result): BEGIN IMMEDIATE and SELECT max(seq) first; once the answer
 * is back, the SQL text of the model's transaction seq = max + 1 and COMMIT.
 * -bail makes any error end the shell, which rolls the transaction back.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../../src/seeded-random.js';
import { LOG_TABLE } from './blob.js';
import { Model, type ModelSnapshot } from './model.js';
import { generateOps } from './ops.js';
import { between, mixSeed, pick } from './seeds.js';
import { transactionBodySql } from './sql-text.js';
import { BUSY_TIMEOUT_MS, CHECKPOINT_BUSY_TIMEOUT_MS, CHECKPOINT_MODES, chooseHabits } from './writer-habits.js';
import { parseSpec, send } from './writer-protocol.js';

export const SQLITE3_SHELL = '/usr/bin/sqlite3';
/** Salt of this writer kind's PRNG. */
const SHELL_WRITER_SALT = 0x5e11;
/** What the shell prints when the database stayed locked past the busy timeout. */
const BUSY = /database is locked|SQLITE_BUSY/i;
/** The answer line of the max(seq) query. */
const MAX_LINE = /max=(\d+)\n/;

const spec = parseSpec(process.argv);
const cfg = { seed: spec.seed, pageSize: spec.pageSize };
const random = seededRandom(mixSeed(spec.seed, spec.proc, spec.cycle, SHELL_WRITER_SALT));
const habits = chooseHabits(random);
const model = Model.fromSnapshot(cfg, JSON.parse(readFileSync(spec.snapshotPath, 'utf8')) as ModelSnapshot, false);
// Each shell run is its own process, so it cannot hold a reader across transactions.
send({ t: 'start', habits: { kind: 'sqlite3-shell', ...habits, perTransaction: true, pHoldReader: 0 } });

interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * One run of the shell. `first` goes to stdin at once; if `then` is given, it
 * is called with stdout once `ready` matches it, and what it returns is sent
 * next. stdin is closed after the last part, which ends the shell.
 */
function shell(first: string, ready?: RegExp, then?: (m: RegExpExecArray) => string): Promise<ShellResult> {
  return new Promise((resolve) => {
    const child = spawn(SQLITE3_SHELL, ['-bail', spec.dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = ready?.exec(stdout);
      if (m && then && !sent) {
        sent = true;
        child.stdin.end(then(m));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: stderr + err.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    if (then === undefined) child.stdin.end(first);
    else child.stdin.write(first);
  });
}

function prelude(busyMs: number): string {
  return (
    `.timeout ${busyMs}\nPRAGMA wal_autocheckpoint = ${habits.autocheckpoint};\n` +
    (habits.journalSizeLimit === null ? '' : `PRAGMA journal_size_limit = ${habits.journalSizeLimit};\n`) +
    (habits.cacheSize === null ? '' : `PRAGMA cache_size = ${habits.cacheSize};\n`)
  );
}

function reportFailure(what: string, r: ShellResult, seq?: number): void {
  const message = r.stderr.trim() || `exit ${r.code}`;
  send({ t: 'error', what, code: BUSY.test(message) ? 'SQLITE_BUSY' : `sqlite3 exit ${r.code}`, message, ...(seq === undefined ? {} : { seq }) });
}

let commits = 0;
let checkpoints = 0;
let vacuums = 0;

async function transaction(): Promise<void> {
  let seq: number | undefined;
  let ops: ReturnType<typeof generateOps> = [];
  const r = await shell(`${prelude(BUSY_TIMEOUT_MS)}BEGIN IMMEDIATE;\nSELECT 'max=' || coalesce(max(seq), 0) FROM ${LOG_TABLE};\n`, MAX_LINE, (m) => {
    const max = Number(m[1]);
    model.advanceTo(max);
    seq = max + 1;
    ops = generateOps(cfg, seq, model);
    return transactionBodySql(cfg, seq, ops);
  });
  if (r.code === 0 && seq !== undefined) {
    model.apply(seq, ops);
    commits++;
    send({ t: 'commit', seq });
  } else {
    reportFailure('transaction', r, seq);
  }
}

async function betweenTransactions(): Promise<void> {
  if (random() < habits.pCheckpoint) {
    const mode = pick(random, CHECKPOINT_MODES);
    const r = await shell(`${prelude(CHECKPOINT_BUSY_TIMEOUT_MS)}PRAGMA wal_checkpoint(${mode});\n`);
    if (r.code === 0) checkpoints++;
    else reportFailure(`wal_checkpoint(${mode})`, r);
  }
  if (random() < habits.pVacuum) {
    const r = await shell(`${prelude(BUSY_TIMEOUT_MS)}VACUUM;\n`);
    if (r.code === 0) vacuums++;
    else reportFailure('VACUUM', r);
  }
}

const until = Date.now() + spec.durationMs;
while (Date.now() < until) {
  await transaction();
  await betweenTransactions();
  const gap = between(random, 0, habits.gapMaxMs);
  if (gap > 0) await sleep(gap);
}
send({ t: 'done', commits, lastSeq: model.seq, checkpoints, vacuums });
