/**
 * `npm run demo`: protects a sample SQLite database with tidemark and gets it
 * back. Everything happens in a temporary directory with a local directory
 * replica: no cloud account needed.
 *
 * 1. creates a database and starts replicating it while an "application" writes;
 * 2. notes a moment in the middle of the writes;
 * 3. restores the latest state and the state at that moment from the replica;
 * 4. checks both against the source and prints what happened.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../src/replication/db-replicator.js';
import { FileReplicaClient } from '../src/storage/file-replica-client.js';
import { restore } from '../src/restore/restore.js';

const ORDERS_PER_BATCH = 500;
const BATCHES = 8;

type Db = InstanceType<typeof Database>;

function snapshotOf(db: Db): string {
  const rows = db.prepare('SELECT id, customer, amount, note FROM orders ORDER BY id').all();
  return JSON.stringify(rows);
}

function describeDb(path: string): { orders: number; total: number; dump: string; integrity: string } {
  const db = new Database(path, { readonly: true });
  try {
    const { n, total } = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM orders').get() as { n: number; total: number };
    const integrity = (db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
    return { orders: n, total, dump: snapshotOf(db), integrity };
  } finally {
    db.close();
  }
}

function sizeOf(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else {
        files++;
        bytes += st.size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tidemark-demo-'));
  const dbPath = join(work, 'shop.db');
  const replicaDir = join(work, 'replica');
  const started = Date.now();
  const say = (line: string): void => console.log(`[${((Date.now() - started) / 1000).toFixed(2).padStart(6)}s] ${line}`);
  let ok = true;
  try {
    say(`working in ${work}`);
    const app = new Database(dbPath);
    app.pragma('journal_mode = WAL');
    app.pragma('synchronous = NORMAL');
    app.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount REAL NOT NULL, note TEXT)');
    say('created shop.db (WAL mode) with an empty orders table');

    const client = new FileReplicaClient(replicaDir);
    const replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: 200 });
    replicator.start({ watch: true });
    say(`replicating shop.db to ${replicaDir} (sync every 200 ms, and on every WAL change)`);

    const insert = app.prepare('INSERT INTO orders (customer, amount, note) VALUES (?, ?, ?)');
    let midpoint: { at: Date; dump: string; orders: number } | null = null;
    for (let b = 0; b < BATCHES; b++) {
      app.transaction(() => {
        for (let i = 0; i < ORDERS_PER_BATCH; i++) {
          const n = b * ORDERS_PER_BATCH + i;
          insert.run(`customer-${n % 97}`, Math.round((n % 1000) * 1.37 * 100) / 100, n % 5 === 0 ? 'gift wrap'.repeat(1 + (n % 40)) : null);
        }
      })();
      if (b === 2) app.exec("UPDATE orders SET note = 'priority' WHERE customer = 'customer-7'");
      if (b === 5) app.exec('DELETE FROM orders WHERE id % 11 = 0');
      await sleep(150);
      if (b === BATCHES / 2 - 1) {
        await replicator.syncAndWait();
        await sleep(20);
        midpoint = { at: new Date(), dump: snapshotOf(app), orders: (app.prepare('SELECT COUNT(*) AS n FROM orders').get() as { n: number }).n };
        await sleep(20);
        say(`noted the moment ${midpoint.at.toISOString()}: ${midpoint.orders} orders so far`);
      }
    }
    const finalTxid = await replicator.syncAndWait();
    const status = replicator.status();
    say(`application wrote ${BATCHES} batches; the replica holds TXID ${finalTxid.toString(16).padStart(16, '0')} (local ${status.localTxid.toString(16).padStart(16, '0')})`);
    const source = { dump: snapshotOf(app), orders: (app.prepare('SELECT COUNT(*) AS n FROM orders').get() as { n: number }).n };
    await replicator.close();
    app.close();
    const replica = sizeOf(replicaDir);
    say(`replica: ${replica.files} LTX files, ${(replica.bytes / 1024).toFixed(0)} KiB`);

    const latestPath = join(work, 'restored-latest.db');
    const latest = await restore({ client, outputPath: latestPath, integrityCheck: 'full' });
    const l = describeDb(latestPath);
    const latestOk = l.dump === source.dump && l.integrity === 'ok';
    say(`restored the latest state (TXID ${latest.txid.toString(16).padStart(16, '0')}) in ${latest.durationMs.toFixed(0)} ms: ${l.orders} orders, integrity ${l.integrity}, ${latestOk ? 'identical to the source' : 'DIFFERENT from the source'}`);
    ok &&= latestOk;

    const pitPath = join(work, 'restored-midpoint.db');
    const pit = await restore({ client, outputPath: pitPath, timestamp: midpoint!.at });
    const p = describeDb(pitPath);
    const pitOk = p.dump === midpoint!.dump && p.integrity === 'ok';
    say(`restored the state as of ${midpoint!.at.toISOString()} (TXID ${pit.txid.toString(16).padStart(16, '0')}): ${p.orders} orders, ${pitOk ? 'identical to the source at that moment' : 'DIFFERENT from the source at that moment'}`);
    ok &&= pitOk;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(ok ? '\ndemo passed: both restores match the source database.' : '\ndemo FAILED: a restore did not match the source.');
  if (!ok) process.exitCode = 1;
}

await main();
