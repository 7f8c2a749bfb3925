import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseFile } from '../../src/replication/database-file.js';
import { DatabaseState } from '../../src/replication/database-state.js';
import { WalChangedError } from '../../src/replication/errors.js';
import { walFrameSize, WAL_HEADER_SIZE } from '../../src/sqlite/wal-header.js';
import { readWalHeader } from '../../src/sqlite/wal-reader.js';
import { openAppDb, withTempDir } from './helpers.js';

describe('DatabaseState', () => {
  it('a WAL truncated under the view (TRUNCATE checkpoint, journal_size_limit) is a WalChangedError, so the sync reads again', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.pragma('wal_autocheckpoint = 0');
      app.exec('CREATE TABLE t (v TEXT)');
      for (let i = 0; i < 5; i++) app.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(3000));
      const pageSize = Number(app.pragma('page_size', { simple: true }));
      const walPath = `${dbPath}-wal`;
      const fh = await open(walPath, 'r');
      const header = await readWalHeader(fh);
      await fh.close();
      // The view as read before the application truncated the WAL: page 2's newest frame is the 6th.
      const view = { salts: { salt1: header.salt1, salt2: header.salt2 }, pages: new Map([[2, WAL_HEADER_SIZE + 5 * walFrameSize(pageSize)]]), commit: 3 };
      app.pragma('wal_checkpoint(TRUNCATE)');
      const db = await DatabaseFile.open(dbPath);
      const state = await DatabaseState.open(db, walPath, pageSize, view);
      try {
        await assert.rejects(state.page(2), (err: unknown) => {
          assert.ok(err instanceof WalChangedError, String(err));
          assert.match(err.message, /cut short below offset \d+ .*the WAL restarted/);
          return true;
        });
        await assert.rejects(state.forEachPage(() => undefined), WalChangedError);
        // A page the view does not take from the WAL still reads from the database file.
        assert.equal((await state.page(1)).length, pageSize);
      } finally {
        await state.close();
        app.close();
        // Closed only after SQLite's connection: closing it first would drop that connection's locks.
        await db.close();
      }
    });
  });
});
