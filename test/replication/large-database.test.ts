import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { restore } from '../../src/restore/restore.js';
import { checksumDatabaseFile } from '../../src/sqlite/database-file.js';
import { PENDING_BYTE, lockPgno } from '../../src/ltx/constants.js';
import { withTempDir } from './helpers.js';

const PAGE_SIZE = 65536;
/** Rows of about 1 MiB: 1100 of them put the database past the 1 GiB lock page. */
const ROWS = 1100;
const ROW_BYTES = 1024 * 1024;

describe('a database larger than 1 GiB', () => {
  it('replicates and restores across the lock page, which is zero-filled', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'big.db');
      const db = new Database(dbPath);
      db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('journal_mode = DELETE');
      db.pragma('synchronous = OFF');
      db.exec('CREATE TABLE big (id INTEGER PRIMARY KEY, head BLOB, body BLOB)');
      const ins = db.prepare('INSERT INTO big (head, body) VALUES (randomblob(64), zeroblob(?))');
      db.transaction(() => {
        for (let i = 0; i < ROWS; i++) ins.run(ROW_BYTES);
      })();
      db.close();
      assert.ok(statSync(dbPath).size > PENDING_BYTE + PAGE_SIZE, 'the database does not reach past the lock page');

      const client = new FileReplicaClient(join(dir, 'replica'));
      const replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: 60_000 });
      const app = new Database(dbPath);
      app.prepare('UPDATE big SET head = randomblob(64) WHERE id IN (1, ?, ?)').run(ROWS / 2, ROWS);
      app.close();
      await replicator.syncAndWait();
      await replicator.close();

      const check = new Database(dbPath);
      check.pragma('wal_checkpoint(TRUNCATE)');
      check.close();
      const source = await checksumDatabaseFile(dbPath);

      const out = join(dir, 'restored.db');
      const result = await restore({ client, outputPath: out, parallelism: 4 });
      assert.equal(result.pageSize, PAGE_SIZE);
      assert.ok(result.pageCount > lockPgno(PAGE_SIZE));
      const restored = await checksumDatabaseFile(out);
      assert.equal(restored.pageCount, source.pageCount);
      assert.equal(restored.checksum, source.checksum);

      // The lock page itself is all zeros in the restored file.
      const fd = await import('node:fs/promises').then((fs) => fs.open(out, 'r'));
      try {
        const buf = Buffer.alloc(PAGE_SIZE);
        await fd.read(buf, 0, PAGE_SIZE, (lockPgno(PAGE_SIZE) - 1) * PAGE_SIZE);
        assert.ok(buf.every((b) => b === 0));
      } finally {
        await fd.close();
      }
      const r = new Database(out, { readonly: true });
      try {
        assert.equal((r.prepare('SELECT COUNT(*) AS n FROM big').get() as { n: number }).n, ROWS);
        assert.equal(r.pragma('quick_check', { simple: true }), 'ok');
      } finally {
        r.close();
      }
    });
  });
});
