import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { Store } from '../../src/store/store.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { withTempDir } from '../replication/helpers.js';

const DATABASES = 20;

describe('Store: idle databases', () => {
  it('make no replica requests once synced, compacted and snapshotted, whatever the timers do', async () => {
    await withTempDir(async (dir) => {
      const clients: FaultInjectingClient[] = [];
      const specs = [];
      for (let i = 0; i < DATABASES; i++) {
        const path = join(dir, `db${i}.db`);
        const db = new Database(path);
        db.pragma('journal_mode = WAL');
        db.exec('CREATE TABLE t (v TEXT); INSERT INTO t VALUES (1)');
        db.close();
        const client = new FaultInjectingClient(new FileReplicaClient(join(dir, `replica${i}`)));
        clients.push(client);
        specs.push({ path, client, replicator: { syncIntervalMs: 50 } });
      }
      const store = await Store.open(specs, {
        compaction: {
          levels: new CompactionLevels(
            [
              { level: 0, intervalMs: 0 },
              { level: 1, intervalMs: 500 },
              { level: 2, intervalMs: 1000 },
            ],
            1000,
          ),
          l0RetentionMs: 200,
          l0RetentionCheckIntervalMs: 250,
        },
      });
      try {
        // Time for the first sync, upload, compactions into L1 and L2, a snapshot and L0 retention.
        await new Promise((r) => setTimeout(r, 2500));
        for (const c of clients) c.resetCalls();
        await new Promise((r) => setTimeout(r, 3000));
        const calls = clients.map((c) => c.calls);
        const total = calls.reduce((n, c) => n + c.list + c.write + c.open + c.delete, 0);
        assert.equal(total, 0, `idle databases made replica calls: ${JSON.stringify(calls.filter((c) => c.list + c.write + c.open + c.delete > 0))}`);
      } finally {
        await store.close();
      }
    });
  });
});
