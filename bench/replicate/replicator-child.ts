/**
 * The replicator side of bench/replicate.bench.ts, in a process of its own so
 * that its CPU time and peak memory are its own and not the writer's.
 *
 * Usage: node --import tsx replicator-child.ts <dbPath> <replica: directory or URL>
 * Prints READY_LINE once replicating; on SIGTERM closes the replicator (which
 * finishes the sync and upload in progress) and prints one JSON line with its
 * resource usage, then exits.
 */
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { createReplicaClient } from '../../src/storage/replica-url.js';
import { READY_LINE, type ChildReport } from './protocol.js';

/** Litestream's default sync interval; the figures should describe the default setup. */
const SYNC_INTERVAL_MS = 1000;

async function main(): Promise<void> {
  const [dbPath, replica] = process.argv.slice(2);
  if (dbPath === undefined || replica === undefined) throw new Error('usage: replicator-child.ts <dbPath> <replica>');
  const client = createReplicaClient(replica);
  await client.init();
  const replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: SYNC_INTERVAL_MS });
  // Timer-driven syncs only, as Litestream does by default.
  replicator.start({ watch: false });
  process.once('SIGTERM', () => {
    void (async () => {
      await replicator.close();
      const usage = process.resourceUsage();
      const report: ChildReport = { resourceUsage: usage, rssBytes: process.memoryUsage().rss, maxRssKiB: usage.maxRSS };
      // Written with a callback so the line is flushed to the pipe before the process exits.
      process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
    })();
  });
  process.stdout.write(`${READY_LINE}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
