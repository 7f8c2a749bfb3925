/**
 * Time travel on a 1 GiB replica: how long until the first answer, and how
 * much of the replica a point lookup and a scan of one table fetch, against
 * restoring the whole database. The replica is a directory replica written
 * by DbReplicator from a real SQLite database (a 1 GiB snapshot in L0, then
 * small transactions on top). The page cache is dropped before each cold
 * measurement when the machine allows it (root). Results:
 * bench/results/time-travel.json.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DbReplicator } from '../src/replication/db-replicator.js';
import { restore } from '../src/restore/restore.js';
import { openTimeTravel, type TimeTravelDatabase } from '../src/restore/time-travel/time-travel.js';
import type { TimeTravelStats } from '../src/restore/time-travel/replica-pages.js';
import { seededRandom } from '../src/seeded-random.js';
import { FileReplicaClient } from '../src/storage/file-replica-client.js';
import { dropPageCache } from './page-cache-drop.js';
import { machineInfo } from './machine.js';

const DB_BYTES = Number(process.env['TIME_TRAVEL_DB_BYTES'] ?? 1024 ** 3);
const ROW_BYTES = 1000;
const ACCOUNTS = 10_000;
const LATER_TRANSACTIONS = 20;
const POINT_LOOKUPS = 200;
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
/** Kept between runs: building the replica takes longer than measuring it. */
const workDir = join(tmpdir(), `tidemark-bench-time-travel-${DB_BYTES}`);

interface Phase {
  ms: number;
  pageReads: number;
  cacheHits: number;
  cacheHitRate: number;
  pagesFetched: number;
  requests: number;
  bytesFetched: number;
}

function phase(ms: number, before: TimeTravelStats, after: TimeTravelStats): Phase {
  const pageReads = after.pageReads - before.pageReads;
  const cacheHits = after.cacheHits - before.cacheHits;
  return {
    ms: Math.round(ms * 10) / 10,
    pageReads,
    cacheHits,
    cacheHitRate: pageReads === 0 ? 0 : Math.round((1000 * cacheHits) / pageReads) / 1000,
    pagesFetched: after.pagesFetched - before.pagesFetched,
    requests: after.requests - before.requests,
    bytesFetched: after.bytesFetched - before.bytesFetched,
  };
}

async function buildReplica(): Promise<{ client: FileReplicaClient; rows: number; built: boolean }> {
  const dbPath = join(workDir, 'big.db');
  const replicaDir = join(workDir, 'replica');
  const rows = Math.floor(DB_BYTES / (ROW_BYTES + 60));
  const done = join(workDir, 'ready');
  if (existsSync(done)) return { client: new FileReplicaClient(replicaDir), rows, built: false };
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  console.log(`building a ${(DB_BYTES / 1024 ** 3).toFixed(2)} GiB database (${rows} rows) and its replica in ${workDir} ...`);
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL, payload BLOB NOT NULL);
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL);`);
  const batch = 20_000;
  for (let from = 1; from <= rows; from += batch) {
    const to = Math.min(rows, from + batch - 1);
    db.exec(`WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to})
      INSERT INTO items (id, k, payload) SELECT i, printf('key-%08d', i), randomblob(${ROW_BYTES}) FROM n`);
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ACCOUNTS})
    INSERT INTO accounts (id, owner, balance) SELECT i, printf('owner-%05d', i), i * 7 % 1000 FROM n`);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const client = new FileReplicaClient(replicaDir);
  const replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: 60_000 });
  try {
    await replicator.syncAndWait({ timeoutMs: 30 * 60_000 });
    for (let i = 0; i < LATER_TRANSACTIONS; i++) {
      db.prepare('UPDATE accounts SET balance = balance + 1 WHERE id = ?').run(1 + ((i * 97) % ACCOUNTS));
      db.prepare('UPDATE items SET k = ? WHERE id = ?').run(`changed-${i}`, 1 + ((i * 7919) % rows));
      await replicator.syncAndWait();
    }
  } finally {
    await replicator.close();
    db.close();
  }
  rmSync(dbPath, { force: true });
  writeFileSync(done, '');
  return { client, rows, built: true };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

async function main(): Promise<void> {
  const { client, rows, built } = await buildReplica();
  let replicaBytes = 0;
  let replicaFiles = 0;
  for await (const f of client.ltxFiles(0)) {
    replicaBytes += f.size;
    replicaFiles++;
  }
  const cold = dropPageCache();
  const rnd = seededRandom(42);
  const results: Record<string, unknown> = { machine: machineInfo(), dbBytes: DB_BYTES, replicaBytes, replicaFiles, coldCache: cold };

  // Point lookup: open, then the first answer.
  dropPageCache();
  const openT0 = performance.now();
  const tt: TimeTravelDatabase = await openTimeTravel(client);
  const openMs = performance.now() - openT0;
  const opened = tt.stats();
  const first = await timed(() => tt.query('SELECT id, k, length(payload) AS n FROM items WHERE id = ?', [1 + Math.floor(rnd() * rows)]));
  const afterFirst = tt.stats();
  results['pointLookup'] = {
    openMs: Math.round(openMs * 10) / 10,
    open: phase(openMs, { pageReads: 0, cacheHits: 0, pagesFetched: 0, requests: 0, bytesFetched: 0, cachedPages: 0, cachedBytes: 0 }, opened),
    timeToFirstQueryMs: Math.round((openMs + first.ms) * 10) / 10,
    firstQuery: phase(first.ms, opened, afterFirst),
  };
  const many = await timed(async () => {
    for (let i = 0; i < POINT_LOOKUPS; i++) await tt.query('SELECT k FROM items WHERE id = ?', [1 + Math.floor(rnd() * rows)]);
  });
  const afterMany = tt.stats();
  (results['pointLookup'] as Record<string, unknown>)['next200'] = { ...phase(many.ms, afterFirst, afterMany), msPerLookup: Math.round((many.ms / POINT_LOOKUPS) * 100) / 100 };
  await tt.query('SELECT id, k, length(payload) AS n FROM items WHERE id = ?', [1]);
  const beforeRepeat = tt.stats();
  const repeat = await timed(() => tt.query('SELECT id, k, length(payload) AS n FROM items WHERE id = ?', [1]));
  (results['pointLookup'] as Record<string, unknown>)['repeat'] = phase(repeat.ms, beforeRepeat, tt.stats());
  await tt.close();

  // Scan of the accounts table (about 1/400 of the database), with and without read-ahead.
  for (const readAheadPages of [0, 32]) {
    dropPageCache();
    const t0 = performance.now();
    const scan = await openTimeTravel(client, { readAheadPages });
    const base = scan.stats();
    const q = await timed(() => scan.query('SELECT COUNT(*) AS n, SUM(balance) AS total FROM accounts'));
    const s = scan.stats();
    results[`scan${readAheadPages === 0 ? '' : 'ReadAhead'}`] = {
      readAheadPages,
      rows: q.value[0],
      timeToResultMs: Math.round((performance.now() - t0) * 10) / 10,
      query: phase(q.ms, base, s),
      cachedBytes: s.cachedBytes,
    };
    await scan.close();
  }

  // Only meaningful on a run that found the replica built (the build runs in this process).
  results['peakRssMiBTimeTravel'] = Math.round(process.resourceUsage().maxRSS / 1024);
  results['builtThisRun'] = built;

  // What time travel saves: restoring the whole database to answer the same question.
  dropPageCache();
  const out = join(workDir, 'restored.db');
  rmSync(out, { force: true });
  const r = await timed(() => restore({ client, outputPath: out }));
  results['fullRestoreMs'] = Math.round(r.ms);
  rmSync(out, { force: true });
  results['peakRssMiBWithRestore'] = Math.round(process.resourceUsage().maxRSS / 1024);

  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'time-travel.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
}

await main();
