import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { DatabaseSetupError } from '../../src/replication/errors.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { withTempDir } from './helpers.js';

describe('databases that cannot be replicated as they are', () => {
  it('a rollback-journal database that another connection holds in a transaction: one clear error, nothing changed', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'legacy.db');
      const app = new Database(dbPath);
      app.pragma('journal_mode = DELETE');
      app.exec('CREATE TABLE t (v TEXT); INSERT INTO t VALUES (1), (2)');
      // An open read transaction holds a SHARED lock: switching to WAL needs the database to itself.
      app.exec('BEGIN');
      app.prepare('SELECT COUNT(*) FROM t').get();
      const before = readFileSync(dbPath);
      try {
        await assert.rejects(
          DbReplicator.open({ dbPath, client: new FileReplicaClient(join(dir, 'replica')), busyTimeoutMs: 100 }),
          (err: unknown) => {
            assert.ok(err instanceof DatabaseSetupError, String(err));
            assert.match(err.message, /legacy\.db: database is in delete journal mode and could not be converted to WAL: .*busy for 100 ms/);
            assert.equal(err.message.split('\n').length, 1);
            return true;
          },
        );
        assert.ok(readFileSync(dbPath).equals(before), 'the database file must be untouched');
        assert.equal(String(app.pragma('journal_mode', { simple: true })), 'delete');
      } finally {
        app.exec('COMMIT');
      }
      // Once the other connection is done, the same call converts it and replicates.
      const r = await DbReplicator.open({ dbPath, client: new FileReplicaClient(join(dir, 'replica')) });
      try {
        assert.ok((await r.syncAndWait({ timeoutMs: 10_000 })) >= 1n);
        const other = new Database(dbPath, { readonly: true });
        assert.equal(String(other.pragma('journal_mode', { simple: true })), 'wal');
        other.close();
      } finally {
        await r.close();
        app.close();
      }
    });
  });

  it('a database an application holds with locking_mode=EXCLUSIVE: one clear error naming the likely cause, and the application goes on', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'exclusive.db');
      const app = new Database(dbPath);
      app.pragma('journal_mode = WAL');
      app.pragma('locking_mode = EXCLUSIVE');
      app.exec('CREATE TABLE t (v TEXT); INSERT INTO t VALUES (1)');
      try {
        await assert.rejects(DbReplicator.open({ dbPath, client: new FileReplicaClient(join(dir, 'replica')) }), (err: unknown) => {
          assert.ok(err instanceof DatabaseSetupError, String(err));
          assert.match(err.message, /exclusive\.db: cannot open the database for replication: database is locked \(.*locking_mode=EXCLUSIVE/);
          assert.equal(err.message.split('\n').length, 1);
          return true;
        });
        app.exec('INSERT INTO t VALUES (2)');
        assert.deepEqual(app.prepare('SELECT COUNT(*) AS n FROM t').get(), { n: 2 });
      } finally {
        app.close();
      }
    });
  });
});
