import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { parseFilename } from '../../src/ltx/file-name.js';
import { restore } from '../../src/restore/restore.js';
import { Store } from '../../src/store/store.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { logicalDump, openAppDb, readLtxStrict, withTempDir, type LogicalDump } from '../replication/helpers.js';

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function levelFiles(root: string, level: number): Promise<{ min: bigint; max: bigint; name: string }[]> {
  const names = await readdir(join(root, 'ltx', String(level))).catch(() => [] as string[]);
  return names.flatMap((name) => {
    const p = parseFilename(name);
    return p === null ? [] : [{ min: p.minTxid, max: p.maxTxid, name }];
  });
}

describe('Store: compaction, snapshots and retention with intervals of seconds', () => {
  it('files appear in L1, L2, L3 and L9, old ones expire, and restores across the history match the recorded states', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replicaRoot = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v TEXT)');
      const client = new FileReplicaClient(replicaRoot);
      const store = await Store.open([{ path: dbPath, client, replicator: { syncIntervalMs: 50, checkpointIntervalMs: 0 } }], {
        compaction: {
          levels: new CompactionLevels(
            [
              { level: 0, intervalMs: 0 },
              { level: 1, intervalMs: 1000 },
              { level: 2, intervalMs: 2000 },
              { level: 3, intervalMs: 4000 },
            ],
            3000,
          ),
          snapshotRetentionMs: 5000,
          l0RetentionMs: 1000,
          l0RetentionCheckIntervalMs: 500,
        },
      });
      const r = store.replicator(dbPath)!;
      const states = new Map<bigint, { at: number; dump: LogicalDump }>();
      const seenSnapshots = new Set<string>();
      try {
        const ins = app.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
        const started = Date.now();
        for (let i = 0; Date.now() - started < 13_000; i++) {
          // Taken before the commit: the file holding it is stamped no earlier, however loaded the machine is.
          const before = Date.now();
          app.transaction(() => {
            for (let j = 0; j < 5; j++) ins.run(i, `row ${i}.${j} `.padEnd(120, 'x'));
            if (i % 7 === 3) app.prepare('DELETE FROM t WHERE k = ?').run(i - 3);
            if (i % 11 === 5) app.prepare("UPDATE t SET v = v || '!' WHERE k % 5 = 0").run();
          })();
          const txid = await r.syncAndWait({ timeoutMs: 10_000 });
          if (!states.has(txid)) states.set(txid, { at: before, dump: logicalDump(app) });
          for (const f of await levelFiles(replicaRoot, 9)) seenSnapshots.add(f.name);
          await sleep(60);
        }
        // Let the last boundaries pass so every level has run at least once more.
        await sleep(1500);
      } finally {
        await store.close();
      }

      for (const level of [1, 2, 3, 9]) assert.ok((await levelFiles(replicaRoot, level)).length > 0, `no files in L${level}`);
      const l9 = await levelFiles(replicaRoot, 9);
      for (const f of l9) seenSnapshots.add(f.name);
      assert.ok(seenSnapshots.size >= 3, `snapshots over time: ${[...seenSnapshots].join(', ')}`);
      assert.ok(l9.length < seenSnapshots.size, 'old snapshots must have expired');
      const l0 = await levelFiles(replicaRoot, 0);
      assert.ok(l0.length < states.size, `L0 retention removed nothing (${l0.length} L0 files for ${states.size} TXIDs)`);
      assert.ok(l0.every((f) => f.min === f.max));
      for (const level of [0, 1, 2, 3, 9]) {
        for (const f of await levelFiles(replicaRoot, level)) await readLtxStrict(join(replicaRoot, 'ltx', String(level), f.name));
      }

      // Every TXID that is still restorable restores to exactly its recorded state; the newest always is.
      const txids = [...states.keys()].sort((a, b) => (a < b ? -1 : 1));
      const newest = txids[txids.length - 1]!;
      let restorable = 0;
      let i = 0;
      for (const txid of txids) {
        const out = join(dir, `txid-${i++}.db`);
        try {
          await restore({ client, outputPath: out, txid });
        } catch {
          assert.notEqual(txid, newest, 'the newest TXID must be restorable');
          continue;
        }
        restorable++;
        const db = new Database(out, { readonly: true });
        try {
          assert.deepEqual(logicalDump(db), states.get(txid)!.dump, `TXID ${txid}`);
        } finally {
          db.close();
        }
      }
      assert.ok(restorable >= 3, `only ${restorable} TXIDs restorable`);

      // Timestamps across the retained history (from the oldest snapshot kept): each restore equals the
      // recorded state of the TXID it reports, committed before that time.
      let first = Infinity;
      for await (const f of client.ltxFiles(9)) first = Math.min(first, f.createdAt.getTime());
      const last = states.get(newest)!.at;
      let byTime = 0;
      for (let k = 0; k <= 12; k++) {
        const t = new Date(first + ((last - first) * k) / 12 + 1);
        const out = join(dir, `time-${k}.db`);
        let res;
        try {
          res = await restore({ client, outputPath: out, timestamp: t });
        } catch {
          continue;
        }
        byTime++;
        const state = states.get(res.txid);
        assert.ok(state !== undefined, `restore at ${t.toISOString()} reported TXID ${res.txid}, never recorded`);
        assert.ok(state.at <= t.getTime(), `TXID ${res.txid} was committed after ${t.toISOString()}`);
        const db = new Database(out, { readonly: true });
        try {
          assert.deepEqual(logicalDump(db), state.dump);
        } finally {
          db.close();
        }
      }
      assert.ok(byTime >= 12, `only ${byTime} of 13 timestamps in the retained window restorable`);
      const latest = join(dir, 'latest.db');
      await restore({ client, outputPath: latest });
      const db = new Database(latest, { readonly: true });
      try {
        assert.deepEqual(logicalDump(db), logicalDump(app));
      } finally {
        db.close();
        app.close();
      }
    });
  });
});
