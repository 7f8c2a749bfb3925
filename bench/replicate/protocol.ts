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
