/**
 * An application process (child script): writes the model's transactions
 * through better-sqlite3 for a while, with the habits its seeded PRNG gives
 * it, reporting every commit and every failure on stdout.
 *
 * Each transaction takes the write lock (BEGIN IMMEDIATE), reads max(seq),
 * catches its model up to that seq by replaying the shared op generator, and
 * writes the ops of seq = max + 1. The model changes only after COMMIT.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { seededRandom } from '../../../src/seeded-random.js';
import { applyOps } from './apply-ops.js';
import { LOG_TABLE } from './blob.js';
import { Model, type ModelSnapshot } from './model.js';
import { generateOps } from './ops.js';
import { between, mixSeed, pick } from './seeds.js';
import {
  BUSY_TIMEOUT_MS,
  CHECKPOINT_BUSY_TIMEOUT_MS,
  CHECKPOINT_MODES,
  chooseHabits,
  JOURNAL_SIZE_LIMITS,
  P_JOURNAL_LIMIT_BETWEEN,
  READER_HOLD_MAX_TRANSACTIONS,
} from './writer-habits.js';
import { errorCode, parseSpec, send } from './writer-protocol.js';

/** Salt of this writer kind's PRNG (the shell writer uses another). */
const NODE_WRITER_SALT = 0x0de;

const spec = parseSpec(process.argv);
const cfg = { seed: spec.seed, pageSize: spec.pageSize };
const random = seededRandom(mixSeed(spec.seed, spec.proc, spec.cycle, NODE_WRITER_SALT));
const habits = chooseHabits(random);
const model = Model.fromSnapshot(cfg, JSON.parse(readFileSync(spec.snapshotPath, 'utf8')) as ModelSnapshot, false);
send({ t: 'start', habits: { kind: 'node', ...habits } });

let commits = 0;
let checkpoints = 0;
let vacuums = 0;

function open(): Database.Database {
  const db = new Database(spec.dbPath, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = WAL');
  db.pragma(`wal_autocheckpoint = ${habits.autocheckpoint}`);
  if (habits.journalSizeLimit !== null) db.pragma(`journal_size_limit = ${habits.journalSizeLimit}`);
  if (habits.cacheSize !== null) db.pragma(`cache_size = ${habits.cacheSize}`);
  return db;
}

/** The held reader: a connection of its own in a read transaction, and how many more transactions it stays. */
let reader: { db: Database.Database; left: number } | undefined;

function holdOrReleaseReader(): void {
  if (reader !== undefined && --reader.left <= 0) {
    try {
      reader.db.exec('COMMIT');
      reader.db.close();
    } catch (err) {
      send({ t: 'error', what: 'end of a held read transaction', code: errorCode(err), message: (err as Error).message });
    }
    reader = undefined;
  }
  if (reader === undefined && random() < habits.pHoldReader) {
    const left = between(random, 1, READER_HOLD_MAX_TRANSACTIONS);
    try {
      const db = new Database(spec.dbPath, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      db.exec('BEGIN');
      db.prepare(`SELECT count(*) FROM ${LOG_TABLE}`).get();
      reader = { db, left };
    } catch (err) {
      send({ t: 'error', what: 'held read transaction', code: errorCode(err), message: (err as Error).message });
    }
  }
}

function maxSeq(db: Database.Database): number {
  return (db.prepare(`SELECT coalesce(max(seq), 0) AS m FROM ${LOG_TABLE}`).get() as { m: number }).m;
}

function transaction(db: Database.Database): void {
  let seq: number | undefined;
  try {
    // Catch the model up before taking the write lock, so the replay of other writers' seqs does not hold it.
    model.advanceTo(maxSeq(db));
    db.exec('BEGIN IMMEDIATE');
    const max = maxSeq(db);
    model.advanceTo(max);
    seq = max + 1;
    const ops = generateOps(cfg, seq, model);
    applyOps(db, cfg, seq, ops);
    db.exec('COMMIT');
    model.apply(seq, ops);
    commits++;
    send({ t: 'commit', seq });
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    send({ t: 'error', what: 'transaction', code: errorCode(err), message: (err as Error).message, ...(seq === undefined ? {} : { seq }) });
  }
}

function betweenTransactions(db: Database.Database): void {
  if (random() < habits.pCheckpoint) {
    const mode = pick(random, CHECKPOINT_MODES);
    try {
      db.pragma(`busy_timeout = ${CHECKPOINT_BUSY_TIMEOUT_MS}`);
      db.pragma(`wal_checkpoint(${mode})`);
      checkpoints++;
    } catch (err) {
      send({ t: 'error', what: `wal_checkpoint(${mode})`, code: errorCode(err), message: (err as Error).message });
    } finally {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }
  if (random() < habits.pVacuum) {
    try {
      db.exec('VACUUM');
      vacuums++;
    } catch (err) {
      send({ t: 'error', what: 'VACUUM', code: errorCode(err), message: (err as Error).message });
    }
  }
  if (random() < P_JOURNAL_LIMIT_BETWEEN) db.pragma(`journal_size_limit = ${pick(random, JOURNAL_SIZE_LIMITS)}`);
}

const until = Date.now() + spec.durationMs;
let db: Database.Database | undefined;
while (Date.now() < until) {
  try {
    db ??= open();
  } catch (err) {
    send({ t: 'error', what: 'open', code: errorCode(err), message: (err as Error).message });
    break;
  }
  transaction(db);
  betweenTransactions(db);
  holdOrReleaseReader();
  if (habits.perTransaction) {
    // The last connection to close checkpoints the WAL and deletes it, unless someone else holds the database open.
    db.close();
    db = undefined;
  }
  const gap = between(random, 0, habits.gapMaxMs);
  if (gap > 0) await sleep(gap);
}
db?.close();
if (reader !== undefined) {
  reader.db.exec('COMMIT');
  reader.db.close();
}
send({ t: 'done', commits, lastSeq: model.seq, checkpoints, vacuums });
