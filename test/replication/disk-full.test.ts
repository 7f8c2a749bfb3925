import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLogger } from '../../src/logger.js';
import { formatFilename } from '../../src/ltx/file-name.js';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { LocalWriteError } from '../../src/replication/errors.js';
import { restore } from '../../src/restore/restore.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { logicalDump, openAppDb, withTempDir } from './helpers.js';

/*
 * A full disk, for real: the kernel's /dev/full fails every write with
 * ENOSPC. The temporary file a write is about to create is made a symlink to
 * it, so the open succeeds and the first write fails exactly as on a full
 * file system. Aborting the write unlinks the temporary name, which is the
 * moment space "returns" unless the test puts the link back.
 */
const DEV_FULL = '/dev/full';

async function fillDisk(tmpPath: string): Promise<boolean> {
  try {
    await lstat(tmpPath);
    return false;
  } catch {
    try {
      await symlink(DEV_FULL, tmpPath);
    } catch (err) {
      // The replicator created its temporary file between the look and the link: the next round fills it.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    return true;
  }
}

/** Keeps the disk "full" for `ms`, putting the link back each time a failed write removes it; returns how often it did. */
async function keepDiskFull(tmpPath: string, ms: number, during?: (i: number) => void): Promise<number> {
  let refills = 0;
  const until = Date.now() + ms;
  for (let i = 0; Date.now() < until; i++) {
    during?.(i);
    if (await fillDisk(tmpPath)) refills++;
    await new Promise((res) => setTimeout(res, 2));
  }
  return refills;
}

function insert(app: Database.Database, from: number, n: number): void {
  const stmt = app.prepare('INSERT INTO t (id, v) VALUES (?, ?)');
  app.transaction(() => {
    for (let i = from; i < from + n; i++) stmt.run(i, `row ${i}`.padEnd(300, '.'));
  })();
}

describe('disk full', () => {
  it('/dev/full is there to stand in for a full disk', () => {
    assert.ok(existsSync(DEV_FULL));
  });

  it('a full disk under the local meta directory: a clear error, retried, and nothing lost once space returns', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replicaRoot = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      insert(app, 0, 50);
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
      const r = await DbReplicator.open({ dbPath, client: new FileReplicaClient(replicaRoot), syncIntervalMs: 20, logger });
      try {
        const first = await r.syncAndWait({ timeoutMs: 10_000 });
        const nextTmp = join(r.meta.l0Dir, formatFilename(first + 1n, first + 1n) + '.tmp');

        // One failing sync called directly: the error names the file and the cause.
        insert(app, 50, 50);
        await fillDisk(nextTmp);
        await assert.rejects(r.sync(), (err: unknown) => {
          assert.ok(err instanceof LocalWriteError, String(err));
          assert.match(err.message, /disk is full \(ENOSPC\)/);
          assert.ok(err.message.includes(nextTmp.slice(0, -'.tmp'.length)), err.message);
          assert.match(err.message, /nothing is lost/);
          return true;
        });
        assert.equal(r.status().localTxid, first, 'a failed sync must not advance the position');

        // The disk stays full for a while, with the background loop retrying and the application writing.
        r.start();
        let written = 0;
        const refills = await keepDiskFull(nextTmp, 400, (i) => {
          if (i % 10 === 0 && written < 150) {
            insert(app, 100 + written, 10);
            written += 10;
          }
        });
        insert(app, 100 + written, 150 - written);
        assert.ok(refills >= 2, `the loop should have retried against the full disk (refills ${refills})`);
        assert.ok(lines.some((l) => /level=ERROR msg="sync failed, will retry".*disk is full \(ENOSPC\)/.test(l)), lines.join(''));

        // Space returns: the next retry succeeds and everything written meanwhile reaches the replica.
        const deadline = Date.now() + 10_000;
        while (r.status().localTxid === first && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
        const last = await r.syncAndWait({ timeoutMs: 10_000 });
        assert.ok(last > first);
        assert.ok(lines.some((l) => /msg="sync recovered"/.test(l)), lines.join(''));
      } finally {
        await r.close();
      }

      const out = join(dir, 'restored.db');
      await restore({ client: new FileReplicaClient(replicaRoot), outputPath: out, integrityCheck: 'full' });
      const restored = new Database(out, { readonly: true });
      try {
        assert.deepEqual(logicalDump(restored), logicalDump(app));
        assert.equal((restored.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 250);
      } finally {
        restored.close();
        app.close();
      }
    });
  });

  it('a full disk under the replica directory: uploads are retried and the replica catches up once space returns', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replicaRoot = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      insert(app, 0, 20);
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
      const r = await DbReplicator.open({
        dbPath,
        client: new FileReplicaClient(replicaRoot),
        syncIntervalMs: 20,
        uploadRetryBaseMs: 20,
        uploadRetryMaxMs: 40,
        logger,
      });
      try {
        const first = await r.syncAndWait({ timeoutMs: 10_000 });
        await mkdir(join(replicaRoot, 'ltx', '0'), { recursive: true });
        const nextTmp = join(replicaRoot, 'ltx', '0', formatFilename(first + 1n, first + 1n) + '.tmp');
        insert(app, 20, 20);
        await fillDisk(nextTmp);
        await r.sync();
        const refills = await keepDiskFull(nextTmp, 300);
        assert.ok(refills >= 2, `uploads should have been retried (refills ${refills})`);
        assert.equal(r.status().replicatedTxid < first + 1n, true, 'the replica cannot hold the file while its disk is full');
        assert.match(String(r.status().lastError?.message), /cannot upload L0 file TXID .* to the file replica: .*ENOSPC.*\(the disk is full\)$/);
        assert.ok(lines.some((l) => /msg="replica upload failed, will retry".*ENOSPC/.test(l)), lines.join(''));

        await r.waitForReplication(first + 1n, { timeoutMs: 10_000 });
        // The waiter is released inside the upload pass; the pass reports its recovery as it returns.
        const until = Date.now() + 5000;
        while (!lines.some((l) => l.includes('recovered')) && Date.now() < until) await new Promise((res) => setTimeout(res, 5));
        assert.ok(lines.some((l) => /msg="replica upload recovered"/.test(l)), lines.join(''));
      } finally {
        await r.close();
      }
      const out = join(dir, 'restored.db');
      await restore({ client: new FileReplicaClient(replicaRoot), outputPath: out });
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
