// Time travel at every SQLite page size tidemark replicates, with overflow pages and a shrinking file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { restore } from '../../../src/restore/restore.js';
import { openTimeTravel } from '../../../src/restore/time-travel/time-travel.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';

const PAGE_SIZES = [512, 1024, 8192, 65536];

describe('time travel across page sizes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-time-travel-pages-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const pageSize of PAGE_SIZES) {
    it(`${pageSize}-byte pages: each TXID reads as its restore`, async () => {
      const dbPath = join(dir, `p${pageSize}.db`);
      const app = new Database(dbPath);
      app.pragma(`page_size = ${pageSize}`);
      app.pragma('journal_mode = wal');
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
      const client = new FileReplicaClient(join(dir, `replica-${pageSize}`));
      const replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: 60_000 });
      const txids: bigint[] = [];
      try {
        const ins = app.prepare('INSERT INTO t (body) VALUES (?)');
        for (let step = 0; step < 4; step++) {
          app.transaction(() => {
            for (let i = 0; i < 40; i++) ins.run(Buffer.alloc(100 + ((step * 997 + i * 131) % 3000), step + 1));
          })();
          if (step === 2) app.exec('DELETE FROM t WHERE id % 2 = 0');
          txids.push(await replicator.syncAndWait());
          if (step === 2) {
            app.exec('VACUUM');
            txids.push(await replicator.syncAndWait());
          }
        }
      } finally {
        await replicator.close();
        app.close();
      }
      const tt = await openTimeTravel(client);
      try {
        assert.equal(tt.pageSize, pageSize);
        for (const txid of txids) {
          const out = join(dir, `p${pageSize}-${txid}.db`);
          await restore({ client, outputPath: out, txid });
          const db = new Database(out, { readonly: true });
          const want = db.prepare('SELECT id, length(body) AS n, hex(substr(body, -4)) AS tail FROM t ORDER BY id').all();
          const pages = db.pragma('page_count', { simple: true });
          db.close();
          await tt.setTime({ txid });
          assert.equal(tt.pageCount, pages, `TXID ${txid}: page count`);
          assert.deepEqual(await tt.query('SELECT id, length(body) AS n, hex(substr(body, -4)) AS tail FROM t ORDER BY id'), want, `TXID ${txid}`);
          assert.deepEqual(await tt.query('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
        }
      } finally {
        await tt.close();
      }
    });
  }
});
