/**
 * Idle cost: 100 databases replicated by one Store with the default
 * intervals (sync every second; L1 30 s, L2 5 min, L3 1 h; snapshots daily;
 * L0 retention checked every 15 s). Once each has synced, uploaded and been
 * checkpointed and compacted into L1 (about two minutes), nothing is written
 * for 60 s, and the replica requests and the process CPU time over that
 * window are counted. Results:
 * bench/results/idle.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Store } from '../src/store/store.js';
import { FaultInjectingClient } from '../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../src/storage/file-replica-client.js';
import { machineInfo } from './machine.js';

const DATABASES = Number(process.env['IDLE_DATABASES'] ?? 100);
const WINDOW_MS = Number(process.env['IDLE_WINDOW_MS'] ?? 60_000);
/** After an L1 boundary (30 s, wall-clock aligned), time for every database's compaction to finish. */
const SETTLE_AFTER_BOUNDARY_MS = 5000;
const L1_INTERVAL_MS = 30_000;
/**
 * A minute after the last write, each database gets its time-based
 * checkpoint, which restarts the WAL with one small write of the
 * replicator's own (one more L0 file, as Litestream's checkpoint makes).
 * Idle starts after that.
 */
const CHECKPOINT_AFTER_WRITES_MS = 60_000 + 5000;
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-idle-'));
  const clients: FaultInjectingClient[] = [];
  try {
    const specs = [];
    for (let i = 0; i < DATABASES; i++) {
      const path = join(dir, `db${i}.db`);
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      db.prepare('INSERT INTO t (v) VALUES (?)').run('x'.repeat(1000));
      db.close();
      const client = new FaultInjectingClient(new FileReplicaClient(join(dir, 'replicas', `db${i}`)));
      clients.push(client);
      specs.push({ path, client });
    }
    const openedAt = Date.now();
    const store = await Store.open(specs);
    const openMs = Date.now() - openedAt;
    // Settled means synced, uploaded, checkpointed and compacted into L1, as any database idle for a while is.
    await new Promise((r) => setTimeout(r, CHECKPOINT_AFTER_WRITES_MS));
    const settleMs = L1_INTERVAL_MS - (Date.now() % L1_INTERVAL_MS) + SETTLE_AFTER_BOUNDARY_MS;
    await new Promise((r) => setTimeout(r, settleMs));
    for (const c of clients) c.resetCalls();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const rss0 = process.memoryUsage().rss;
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    const calls = { list: 0, write: 0, open: 0, delete: 0 };
    for (const c of clients) for (const k of Object.keys(calls) as (keyof typeof calls)[]) calls[k] += c.calls[k];
    const rss = process.memoryUsage().rss;
    await store.close();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const out = {
      machine: machineInfo(),
      databases: DATABASES,
      windowMs: Math.round(wallMs),
      openAllMs: openMs,
      replicaRequests: calls,
      putRequests: calls.write,
      listRequests: calls.list,
      cpuMs: Math.round(cpuMs),
      cpuPercentOfOneCore: Number(((cpuMs / wallMs) * 100).toFixed(2)),
      cpuMsPerDatabasePerMinute: Number(((cpuMs / DATABASES) * (60_000 / wallMs)).toFixed(2)),
      rssMiB: Math.round(rss / 2 ** 20),
      rssAtStartOfWindowMiB: Math.round(rss0 / 2 ** 20),
    };
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'idle.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(JSON.stringify(out, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
