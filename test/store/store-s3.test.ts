import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { restore } from '../../src/restore/restore.js';
import { Store } from '../../src/store/store.js';
import { startS3Server, type S3TestServer } from '../storage/s3/s3-server.js';
import { testS3Client } from '../storage/s3/helpers.js';
import { logicalDump, openAppDb, withTempDir } from '../replication/helpers.js';

const BUCKET = 'tidemark-store';

describe('Store on an S3 replica (s3rver on loopback)', () => {
  let server: S3TestServer;
  before(async () => {
    server = await startS3Server([BUCKET]);
  });
  after(async () => {
    await server.stop();
  });

  it('compacts into L1 and snapshots into L9 under Litestream S3 keys, and restores the latest state', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const client = testS3Client(server.endpoint, BUCKET, 'apps/app');
      const store = await Store.open([{ path: dbPath, client, replicator: { syncIntervalMs: 50 } }], {
        compaction: {
          levels: new CompactionLevels(
            [
              { level: 0, intervalMs: 0 },
              { level: 1, intervalMs: 1000 },
            ],
            2000,
          ),
          l0RetentionMs: 500,
          l0RetentionCheckIntervalMs: 250,
        },
      });
      try {
        const ins = app.prepare('INSERT INTO t (v) VALUES (?)');
        const until = Date.now() + 4500;
        for (let i = 0; Date.now() < until; i++) {
          ins.run(`row ${i} `.padEnd(200, 'x'));
          await new Promise((r) => setTimeout(r, 20));
        }
        await store.replicator(dbPath)!.syncAndWait({ timeoutMs: 10_000 });
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        await store.close();
      }

      const keys: string[] = [];
      const listed = await server.raw().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'apps/app/' }));
      for (const o of listed.Contents ?? []) keys.push(o.Key!);
      const levelOf = (k: string) => /^apps\/app\/([0-9a-f]{4})\/[0-9a-f]{16}-[0-9a-f]{16}\.ltx$/.exec(k)?.[1];
      assert.ok(keys.every((k) => levelOf(k) !== undefined), `keys outside Litestream's S3 layout: ${keys.join(', ')}`);
      const levels = new Set(keys.map(levelOf));
      for (const l of ['0000', '0001', '0009']) assert.ok(levels.has(l), `no files at level ${l}: ${keys.join(', ')}`);

      const out = join(dir, 'restored.db');
      await restore({ client: testS3Client(server.endpoint, BUCKET, 'apps/app'), outputPath: out, integrityCheck: 'full' });
      const restored = new Database(out, { readonly: true });
      try {
        assert.deepEqual(logicalDump(restored), logicalDump(app));
      } finally {
        restored.close();
        app.close();
      }
    });
  });
});
