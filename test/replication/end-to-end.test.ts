import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { restore } from '../../src/restore/restore.js';
import { logicalDump, openAppDb, withTempDir, type LogicalDump } from './helpers.js';

const STEPS = 24;
/** Keeps consecutive syncs apart in time so every state has its own instant to restore to. */
const GAP_MS = 8;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function restoredState(path: string): { dump: LogicalDump; integrity: string } {
  const db = new Database(path, { readonly: true });
  try {
    return { dump: logicalDump(db), integrity: db.pragma('integrity_check', { simple: true }) as string };
  } finally {
    db.close();
  }
}

describe('replicate then restore, end to end', () => {
  for (const pageSize of [512, 4096]) {
    it(`every TXID and every moment restores to the state recorded then (page size ${pageSize})`, async () => {
      await withTempDir(async (dir) => {
        const dbPath = join(dir, 'app.db');
        const client = new FileReplicaClient(join(dir, 'replica'));
        const app = openAppDb(dbPath, pageSize);
        app.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)');
        let replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: 60_000 });
        const states: { txid: bigint; at: Date; dump: LogicalDump }[] = [];
        for (let step = 0; step < STEPS; step++) {
          const ins = app.prepare('INSERT INTO items (name, blob) VALUES (?, ?)');
          app.transaction(() => {
            for (let i = 0; i < 5 + step * 3; i++) ins.run(`item ${step}.${i}`, step % 3 === 0 ? Buffer.alloc(pageSize * 2 + i, step) : null);
          })();
          if (step % 4 === 1) app.exec(`UPDATE items SET name = name || '!' WHERE id % 3 = ${step % 3}`);
          if (step % 5 === 2) app.exec(`DELETE FROM items WHERE id % 4 = ${step % 4}`);
          if (step === 9) app.exec('VACUUM');
          if (step % 6 === 3) app.pragma('wal_checkpoint(PASSIVE)');
          if (step === 12) {
            // A restart mid-stream continues with the next TXID.
            await replicator.close();
            replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: 60_000 });
          }
          const txid = await replicator.syncAndWait();
          states.push({ txid, at: new Date(), dump: logicalDump(app) });
          await sleep(GAP_MS);
        }
        await replicator.close();
        app.close();

        const txids = states.map((s) => s.txid);
        assert.deepEqual(txids, [...txids].sort((a, b) => (a < b ? -1 : 1)), 'TXIDs only grow');
        assert.equal(new Set(txids).size, txids.length, 'each step wrote its own TXID');

        for (const s of states) {
          const byTxid = join(dir, `txid-${s.txid}.db`);
          await restore({ client, outputPath: byTxid, txid: s.txid });
          const a = restoredState(byTxid);
          assert.equal(a.integrity, 'ok');
          assert.deepEqual(a.dump, s.dump, `restore at TXID ${s.txid}`);

          const byTime = join(dir, `time-${s.txid}.db`);
          await restore({ client, outputPath: byTime, timestamp: new Date(s.at.getTime() + GAP_MS / 2) });
          assert.deepEqual(restoredState(byTime).dump, s.dump, `restore as of ${s.at.toISOString()}`);
        }
        const latest = join(dir, 'latest.db');
        await restore({ client, outputPath: latest, integrityCheck: 'full' });
        assert.deepEqual(restoredState(latest).dump, states.at(-1)!.dump);
      });
    });
  }
});
