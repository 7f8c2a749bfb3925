/**
 * How one application process behaves, drawn from its seeded PRNG: the
 * connection lifecycle, auto-checkpointing, the journal size limit, the
 * page cache, a reader it keeps open, and how often it checkpoints or
 * vacuums between transactions.
 */
import { between, pick } from './seeds.js';

/** Large, so writers wait for each other (and for the replicator) instead of failing. */
export const BUSY_TIMEOUT_MS = 5000;
/**
 * A blocking checkpoint (FULL, RESTART, TRUNCATE) holds the write lock while
 * it waits for readers, and the replicator always has one. Waiting as long as
 * the transactions do would make the other writers' busy timeouts expire
 * behind it: that would be the harness failing its own transactions.
 */
export const CHECKPOINT_BUSY_TIMEOUT_MS = 1000;
export const CHECKPOINT_MODES = ['PASSIVE', 'FULL', 'RESTART', 'TRUNCATE'] as const;
/** A connection per transaction (the "connection per request" lifecycle) vs one for the process's life. */
const P_PER_TRANSACTION = 0.4;
/** wal_autocheckpoint off (0) vs a small value, so applications checkpoint often. */
const P_AUTOCHECKPOINT_OFF = 0.35;
const AUTOCHECKPOINT_MIN = 100;
const AUTOCHECKPOINT_MAX = 1000;
/** journal_size_limit set when a connection opens, and now and then between transactions. */
const P_JOURNAL_LIMIT_AT_OPEN = 0.3;
export const P_JOURNAL_LIMIT_BETWEEN = 0.005;
export const JOURNAL_SIZE_LIMITS = [0, 16_384, 262_144, 4_194_304, -1] as const;
/** A small page cache (pages), so bulk transactions and VACUUM spill uncommitted pages into the WAL. */
const P_SMALL_CACHE = 0.35;
const SMALL_CACHE_MIN_PAGES = 20;
const SMALL_CACHE_MAX_PAGES = 200;
/**
 * A second connection that holds a read transaction open across several of
 * the writer's transactions, as a reporting query or a slow request does: it
 * pins WAL frames, so checkpoints (the application's and the replicator's)
 * can copy only part of the WAL.
 */
const P_HOLD_READER_CHOICES = [0, 0.02, 0.1] as const;
export const READER_HOLD_MAX_TRANSACTIONS = 30;
/** Pause between transactions: applications are not a tight loop. */
const GAP_MAX_MS_CHOICES = [0, 3, 10, 25] as const;
/** Per transaction: an explicit checkpoint, a VACUUM. */
const P_CHECKPOINT_CHOICES = [0, 0.005, 0.02] as const;
const P_VACUUM_CHOICES = [0, 0.003, 0.01] as const;

export interface Habits {
  readonly perTransaction: boolean;
  readonly autocheckpoint: number;
  readonly journalSizeLimit: number | null;
  readonly gapMaxMs: number;
  readonly pCheckpoint: number;
  readonly pVacuum: number;
  readonly cacheSize: number | null;
  readonly pHoldReader: number;
}

export function chooseHabits(random: () => number): Habits {
  return {
    perTransaction: random() < P_PER_TRANSACTION,
    autocheckpoint: random() < P_AUTOCHECKPOINT_OFF ? 0 : between(random, AUTOCHECKPOINT_MIN, AUTOCHECKPOINT_MAX),
    journalSizeLimit: random() < P_JOURNAL_LIMIT_AT_OPEN ? pick(random, JOURNAL_SIZE_LIMITS) : null,
    gapMaxMs: pick(random, GAP_MAX_MS_CHOICES),
    pCheckpoint: pick(random, P_CHECKPOINT_CHOICES),
    pVacuum: pick(random, P_VACUUM_CHOICES),
    cacheSize: random() < P_SMALL_CACHE ? between(random, SMALL_CACHE_MIN_PAGES, SMALL_CACHE_MAX_PAGES) : null,
    pHoldReader: pick(random, P_HOLD_READER_CHOICES),
  };
}
