import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { createLogger } from '../../src/logger.js';
import { formatFilename } from '../../src/ltx/file-name.js';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { LocalWriteError } from '../../src/replication/errors.js';
import { restore } from '../../src/restore/restore.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { BIN } from '../cli/helpers.js';
import { logicalDump, openAppDb, withTempDir } from './helpers.js';

const run = promisify(execFile);

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

/** A file system this small cannot take an image of random pages. */
const TINY_FS_SIZE = '64k';
const IS_ROOT = process.getuid?.() === 0;
/** The unshare flags that give a child a mount namespace of its own: root needs none else, others a user namespace. */
const NAMESPACE_FLAGS = IS_ROOT ? ['-m'] : ['-r', '-m'];

/** Whether a tiny tmpfs can be mounted in a namespace of a child's own here (unprivileged user namespaces may be disabled). */
async function canMountTinyFs(dir: string): Promise<boolean> {
  const probe = join(dir, 'probe');
  await mkdir(probe);
  return run('unshare', [...NAMESPACE_FLAGS, 'sh', '-c', `mount -t tmpfs -o size=${TINY_FS_SIZE} tidemark-probe "${probe}"`]).then(
    () => true,
    () => false,
  );
}

interface RunResult {
  code: number;
  stderr: string;
}

/**
 * `tidemark replicate -once db replica` with the replica's disk full for as
 * long as it runs: a tiny tmpfs over the replica in a mount namespace of the
 * child's own where the machine allows it, otherwise /dev/full behind every
 * temporary name the upload opens.
 */
async function replicateOnceOntoFullDisk(dir: string, dbPath: string, replica: string): Promise<RunResult> {
  if (await canMountTinyFs(dir)) {
    const script = `mount -t tmpfs -o size=${TINY_FS_SIZE} tidemark-full "${replica}" && exec "${process.execPath}" "${BIN}" replicate -once "${dbPath}" "${replica}"`;
    return run('unshare', [...NAMESPACE_FLAGS, 'sh', '-c', script]).then(
      () => ({ code: 0, stderr: '' }),
      (e: RunResult) => e,
    );
  }
  await mkdir(join(replica, 'ltx', '0'), { recursive: true });
  const tmp = join(replica, 'ltx', '0', formatFilename(1n, 1n) + '.tmp');
  await fillDisk(tmp);
  const child = spawn(process.execPath, [BIN, 'replicate', '-once', dbPath, replica], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const code = new Promise<number>((res) => child.on('exit', (c) => {
    exited = true;
    res(c ?? 1);
  }));
  while (!exited) {
    await fillDisk(tmp);
    await new Promise((res) => setTimeout(res, 2));
  }
  return { code: await code, stderr };
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

  it('replicate -once against a replica disk that stays full ends non-zero after about a minute, naming ENOSPC, and loses nothing', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replica = join(dir, 'replica');
      const app = openAppDb(dbPath);
      // Random bytes do not compress: far more than the tiny file system can take.
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
      const blob = app.prepare('INSERT INTO t (v) VALUES (randomblob(1000))');
      app.transaction(() => {
        for (let i = 0; i < 500; i++) blob.run();
      })();
      app.close();
      await mkdir(replica);
      const started = Date.now();
      const result = await replicateOnceOntoFullDisk(dir, dbPath, replica);
      const elapsed = Date.now() - started;
      assert.notEqual(result.code, 0, 'a replica that stays full fails the run');
      const last = result.stderr.trim().split('\n').at(-1)!;
      assert.match(last, /^tidemark: .*app\.db: (the replica upload has failed for 60 s|still failing after 60 s): .*ENOSPC/, result.stderr);
      assert.ok(elapsed >= 55_000 && elapsed < 90_000, `ended about a minute after the disk stayed full: ${elapsed} ms`);

      // With room again, the next run replicates every row.
      await run(process.execPath, [BIN, 'replicate', '-once', dbPath, replica]);
      const out = join(dir, 'restored.db');
      await restore({ client: new FileReplicaClient(replica), outputPath: out, integrityCheck: 'full' });
      const restored = new Database(out, { readonly: true });
      const source = new Database(dbPath, { readonly: true });
      try {
        assert.deepEqual(logicalDump(restored), logicalDump(source));
      } finally {
        restored.close();
        source.close();
      }
    });
  });
});
