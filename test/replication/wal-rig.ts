import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { WalIndexHeaderReader, type WalIndexHeader } from '../../src/sqlite/wal-index-header.js';
import { openAppDb, withTempDir } from './helpers.js';

/**
 * A WAL-mode database with an application connection and a WAL index
 * reader, for tests of what the replicator reads from the WAL. The reader is
 * opened after the connection and closed after it (closing a descriptor of
 * the -shm would drop SQLite's POSIX locks).
 */
export interface WalRig {
  dbPath: string;
  walPath: string;
  db: Database.Database;
  reader: WalIndexHeaderReader;
  /** The WAL index header now. */
  index(): Promise<WalIndexHeader>;
  wal(): Promise<Buffer>;
  /** `txs` transactions of `rows` rows each. */
  insert(rows: number, txs?: number): void;
  pageCount(): number;
}

export async function withWalRig<T>(pageSize: number, rowBytes: number, fn: (r: WalRig) => Promise<T>): Promise<T> {
  return withTempDir(async (dir) => {
    const dbPath = join(dir, 'app.db');
    const db = openAppDb(dbPath, pageSize);
    let reader: WalIndexHeaderReader | null = null;
    try {
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
      reader = await WalIndexHeaderReader.open(`${dbPath}-shm`);
      assert.ok(reader !== null);
      const r = reader;
      const stmt = db.prepare('INSERT INTO t (v) VALUES (randomblob(?))');
      return await fn({
        dbPath,
        walPath: `${dbPath}-wal`,
        db,
        reader: r,
        async index() {
          const h = await r.read();
          assert.ok(h !== null);
          return h;
        },
        wal: () => readFile(`${dbPath}-wal`),
        insert(rows, txs = 1) {
          for (let t = 0; t < txs; t++) {
            db.transaction(() => {
              for (let i = 0; i < rows; i++) stmt.run(rowBytes);
            })();
          }
        },
        pageCount: () => db.pragma('page_count', { simple: true }) as number,
      });
    } finally {
      db.close();
      await reader?.close();
    }
  });
}
