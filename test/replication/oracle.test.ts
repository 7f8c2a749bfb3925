import { seededRandom } from '../../src/seeded-random.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { assertAllStrict, inspectBytes, logicalDump, openAppDb, rebuildFromReplica, withTempDir, type LogicalDump } from './helpers.js';


function step(app: Database.Database, rnd: () => number, n: number): void {
  const pick = rnd();
  const big = (len: number): Buffer => Buffer.alloc(len, Math.floor(rnd() * 256));
  if (pick < 0.35) {
    const stmt = app.prepare('INSERT INTO a (k, v, b) VALUES (?, ?, ?)');
    app.transaction(() => {
      for (let i = 0, m = 1 + Math.floor(rnd() * 40); i < m; i++) {
        // Some rows are larger than a page: overflow chains.
        stmt.run(Math.floor(rnd() * 1e6), `row ${n}.${i}`, rnd() < 0.2 ? big(3000 + Math.floor(rnd() * 9000)) : null);
      }
    })();
  } else if (pick < 0.5) {
    app.prepare('UPDATE a SET v = v || ?, b = ? WHERE k % 7 = ?').run(`+${n}`, rnd() < 0.5 ? big(500) : null, Math.floor(rnd() * 7));
  } else if (pick < 0.65) {
    app.prepare('DELETE FROM a WHERE k % 5 = ?').run(Math.floor(rnd() * 5));
  } else if (pick < 0.75) {
    app.exec(`CREATE TABLE IF NOT EXISTS t${n % 4} (x, y); INSERT INTO t${n % 4} VALUES (${n}, randomblob(${Math.floor(rnd() * 2000)}))`);
  } else if (pick < 0.82) {
    app.exec(`DROP TABLE IF EXISTS t${Math.floor(rnd() * 4)}`);
  } else if (pick < 0.87) {
    app.exec(`CREATE INDEX IF NOT EXISTS a_k_${n % 3} ON a (k${n % 3 === 0 ? '' : ', v'})`);
  } else if (pick < 0.92) {
    app.exec('VACUUM');
  } else {
    // Several commits between two syncs.
    for (let i = 0; i < 3; i++) app.prepare('INSERT INTO a (k, v) VALUES (?, ?)').run(i, `multi ${n}`);
  }
}

describe('replication oracle', () => {
  for (const [seed, pageSize] of [
    [1, 4096],
    [2, 512],
    [3, 1024],
  ] as const) {
    it(`every TXID rebuilds the state recorded when it was synced (seed ${seed}, ${pageSize}-byte pages)`, async () => {
      await withTempDir(async (dir) => {
        const dbPath = join(dir, 'app.db');
        const replicaRoot = join(dir, 'replica');
        const app = openAppDb(dbPath, pageSize);
        app.exec('CREATE TABLE a (id INTEGER PRIMARY KEY, k INTEGER, v TEXT, b BLOB)');
        const rep = await DbReplicator.open({ dbPath, client: new FileReplicaClient(replicaRoot), minCheckpointPageN: 64, checkpointIntervalMs: 0 });
        const rnd = seededRandom(seed);
        const states = new Map<bigint, LogicalDump>();
        try {
          for (let n = 0; n < 45; n++) {
            step(app, rnd, n);
            if (rnd() < 0.1) app.pragma('wal_checkpoint(PASSIVE)');
            await rep.sync();
            states.set(rep.status().localTxid, logicalDump(app));
          }
          const last = await rep.syncAndWait({ timeoutMs: 10_000 });
          states.set(last, logicalDump(app));
          assert.ok(states.size > 20);
          for (const [txid, want] of states) {
            const got = await inspectBytes(dir, await rebuildFromReplica(replicaRoot, txid));
            assert.equal(got.integrity, 'ok', `integrity at TXID ${txid}`);
            assert.deepEqual(got.dump, want, `state at TXID ${txid}`);
          }
          assert.equal(await assertAllStrict(join(replicaRoot, 'ltx', '0')), Number(last));
        } finally {
          await rep.close();
          app.close();
        }
      });
    });
  }
});
