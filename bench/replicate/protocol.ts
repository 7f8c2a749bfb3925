/** What bench/replicate.bench.ts and its replicator child say to each other over the child's stdout. */

/** Printed by the child once the replicator is open and syncing. */
export const READY_LINE = 'replicator-ready';

/** Printed by the child, as one JSON line, after SIGTERM has closed the replicator. */
export interface ChildReport {
  resourceUsage: NodeJS.ResourceUsage;
  /** Resident set size at the end, bytes. */
  rssBytes: number;
  /** Peak resident set size, KiB (resourceUsage().maxRSS). */
  maxRssKiB: number;
}

/** Printed by an application child (app-writer-child.ts, deferred-writer-child.ts) once its database is open. */
export const APP_READY_LINE = 'app-ready';

/** Printed by app-writer-child.ts, as one JSON line, after it closed its database; then it exits. */
export interface AppWriterReport {
  commits: number;
  /** Rowid of its last committed row. */
  lastId: number;
  /** Wall clock (Date.now()) just after its last commit returned. */
  lastCommitAtMs: number;
}

/** Printed by deferred-writer-child.ts, as one JSON line, after SIGTERM stopped its loop. */
export interface DeferredWriterReport {
  /** Transactions begun. */
  attempts: number;
  committed: number;
  /** Transactions that failed with SQLITE_BUSY or one of its extended codes ("database is locked"). */
  busy: number;
  /** The busy failures by extended result code (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, ...). */
  busyByCode: Record<string, number>;
  /** The busy failures by the statement that failed: begin, select, insert or commit. */
  busyByStatement: Record<string, number>;
  /** Failures that were not SQLITE_BUSY, by code, with the first message. */
  otherErrors: Record<string, number>;
  firstOtherError: string | null;
  /** How long the loop ran, ms. */
  ranMs: number;
}
