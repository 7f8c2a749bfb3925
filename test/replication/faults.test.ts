import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { DbReplicator, type DbReplicatorOptions } from '../../src/replication/db-replicator.js';
import { ReplicaConflictError, ReplicatorLockedError } from '../../src/replication/errors.js';
import { restore } from '../../src/restore/restore.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { BIN } from '../cli/helpers.js';
import { logicalDump, openAppDb, withTempDir } from './helpers.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Short enough for a test to see several checks; the default is 5 minutes. */
const VALIDATION_MS = 200;
const WAIT_MS = 15_000;

interface Rig {
  dir: string;
  dbPath: string;
  replica: string;
  app: Database.Database;
  open(extra?: Partial<DbReplicatorOptions>): Promise<DbReplicator>;
  insert(n: number): void;
}

async function rig(dir: string): Promise<Rig> {
  const dbPath = join(dir, 'app.db');
  const replica = join(dir, 'replica');
  const app = openAppDb(dbPath);
  app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const stmt = app.prepare('INSERT INTO t (v) VALUES (?)');
  return {
    dir,
    dbPath,
    replica,
    app,
    open: (extra = {}) =>
      DbReplicator.open({
        dbPath,
        client: new FileReplicaClient(replica),
        syncIntervalMs: 20,
        uploadRetryBaseMs: 2,
        uploadRetryMaxMs: 20,
        replicaCheckIntervalMs: 0,
        validationIntervalMs: VALIDATION_MS,
        ...extra,
      }),
    insert: (n) => app.transaction(() => {
      for (let i = 0; i < n; i++) stmt.run(`row ${i}`.padEnd(200, '.'));
    })(),
  };
}

let restores = 0;
/** The replica's latest state, restored and checked, equals the application's database. */
async function assertRestores(r: Rig): Promise<void> {
  const out = join(r.dir, `restored-${restores++}.db`);
  await restore({ client: new FileReplicaClient(r.replica), outputPath: out, integrityCheck: 'full' });
  const db = new Database(out, { readonly: true });
  try {
    assert.deepEqual(logicalDump(db), logicalDump(r.app));
  } finally {
    db.close();
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

async function l0Names(replica: string): Promise<string[]> {
  return (await readdir(join(replica, 'ltx', '0')).catch(() => [])).filter((n) => n.endsWith('.ltx')).sort();
}

async function snapshotNames(replica: string): Promise<string[]> {
  return (await readdir(join(replica, 'ltx', '9')).catch(() => [])).filter((n) => n.endsWith('.ltx')).sort();
}

describe('faults: each one heals or is refused, and the replica is never silently wrong', () => {
  it('a replica deleted while replicating an idle database is healed within one validation interval', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      rep.start();
      try {
        r.insert(50);
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        await rm(r.replica, { recursive: true });
        let v = rep.status().validation;
        await until('a check reports the damage and how it was healed', () => {
          v = rep.status().validation;
          return v?.ok === false;
        });
        await assertRestores(r);
        assert.ok(v !== undefined);
        assert.equal(v.ok, false, 'the check that found the damage reports it');
        assert.match(v.problems.join('; '), /cannot be restored|restores only/);
        assert.match(v.healedBy ?? '', /^snapshot 1-/);
        await until('the next check finds the replica right again', () => rep.status().validation?.ok === true);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('a replica deleted while the application writes: uploads go on and a snapshot makes it restorable again', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      rep.start();
      try {
        for (let i = 0; i < 5; i++) {
          r.insert(10);
          await sleep(30);
        }
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        await rm(r.replica, { recursive: true });
        for (let i = 0; i < 10; i++) {
          r.insert(10);
          await sleep(30);
        }
        await until('a snapshot heals the replica', async () => (await snapshotNames(r.replica)).length > 0);
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        await assertRestores(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('a middle L0 file deleted breaks the chain: the check names the gap and a snapshot heals it', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open({ validationIntervalMs: 0 });
      try {
        for (let i = 0; i < 6; i++) {
          r.insert(10);
          await rep.syncAndWait({ timeoutMs: WAIT_MS });
        }
        const names = await l0Names(r.replica);
        assert.equal(names.length, 6);
        await rm(join(r.replica, 'ltx', '0', names[2]!));
        const v = await rep.verify();
        assert.equal(v.ok, false);
        assert.match(v.problems.join('; '), /cannot be restored.*0000000000000003/);
        assert.equal(v.healedBy, 'snapshot 1-0000000000000006');
        await assertRestores(r);
        assert.equal((await rep.verify()).ok, true);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('a replica file corrupted in place is found when it is read back, and a snapshot heals the chain', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open({ validationIntervalMs: 0 });
      try {
        for (let i = 0; i < 4; i++) {
          r.insert(30);
          await rep.syncAndWait({ timeoutMs: WAIT_MS });
        }
        assert.equal((await rep.verify()).ok, true);
        const victim = join(r.replica, 'ltx', '0', (await l0Names(r.replica))[1]!);
        const size = (await stat(victim)).size;
        const fh = await open(victim, 'r+');
        await fh.write(new Uint8Array(64).fill(0xa5), 0, 64, Math.floor(size / 2));
        await fh.close();
        const v = await rep.verify();
        assert.equal(v.ok, false);
        assert.match(v.problems.join('; '), /level 0 file 0000000000000002-0000000000000002\.ltx of the replica is damaged/);
        assert.equal(v.healedBy, 'snapshot 1-0000000000000004');
        await assertRestores(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('a database changed behind the replicator (its file rewritten) is found by the check, and the next L0 carries exactly the pages that differ', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      r.insert(100);
      // Everything in the database file and the WAL empty: the file's pages are the database's.
      r.app.pragma('wal_checkpoint(TRUNCATE)');
      const rep = await r.open({ validationIntervalMs: 0 });
      try {
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        // Something writes the database file itself, bypassing the WAL the replicator reads.
        const page = new Uint8Array(4096);
        const fh = await open(r.dbPath, 'r+');
        await fh.read(page, 0, 4096, 4096);
        page[4000] = page[4000]! ^ 0xff;
        await fh.write(page, 0, 4096, 4096);
        await fh.close();
        const before = rep.status().localTxid;
        const v = await rep.verify();
        assert.equal(v.ok, false);
        assert.match(v.problems[0]!, /changed without going through the WAL/);
        assert.equal(rep.status().localTxid, before + 1n, 'the pages that differ were published');
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        const out = join(r.dir, 'changed.db');
        await restore({ client: new FileReplicaClient(r.replica), outputPath: out });
        const got = await open(out, 'r');
        const restoredPage = new Uint8Array(4096);
        await got.read(restoredPage, 0, 4096, 4096);
        await got.close();
        assert.deepEqual(restoredPage, page, 'the replica holds the database as it is now');
        assert.equal((await rep.verify()).ok, true);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('local state lost while the replicator was stopped: it continues after the replica with a full image', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      let rep = await r.open();
      r.insert(20);
      await rep.syncAndWait({ timeoutMs: WAIT_MS });
      r.insert(20);
      const last = await rep.syncAndWait({ timeoutMs: WAIT_MS });
      await rep.close();
      await rm(rep.meta.dir, { recursive: true });
      r.insert(20);
      rep = await r.open();
      try {
        assert.equal(await rep.syncAndWait({ timeoutMs: WAIT_MS }), last + 1n, 'TXIDs go on from the replica; none is reused');
        await assertRestores(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('a second replicator in the same process is refused, and the first one keeps its locks on the database', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      try {
        r.insert(10);
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        await assert.rejects(r.open(), (err: unknown) => {
          assert.ok(err instanceof ReplicatorLockedError);
          assert.match(err.message, /already replicated by this process/);
          return true;
        });
        await assert.rejects(r.open({ metaDir: join(dir, 'elsewhere') }), ReplicatorLockedError, 'another meta directory does not make it a different database');
        // Had the refused open touched the database file, the shell's close would now delete the WAL.
        await run('/usr/bin/sqlite3', [r.dbPath, 'INSERT INTO t (v) VALUES (1);']);
        assert.ok(existsSync(`${r.dbPath}-wal`), 'the WAL survives the last application close while the replicator holds the database');
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        await assertRestores(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('a second replicate process is refused with one line naming the first; once the first is killed, the lock is taken over', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      r.insert(10);
      const first = spawn(process.execPath, [BIN, 'replicate', '-sync-interval', '50ms', r.dbPath, r.replica], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      first.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      try {
        await until('the first daemon replicates', () => err.includes('msg=replicating'));
        const second = await run(process.execPath, [BIN, 'replicate', '-once', r.dbPath, r.replica]).then(
          () => assert.fail('the second replicator must be refused'),
          (e: { code: number; stderr: string }) => e,
        );
        assert.notEqual(second.code, 0);
        const lines = second.stderr.trim().split('\n');
        assert.equal(lines.length, 1, second.stderr);
        assert.match(lines[0]!, new RegExp(`already replicated: lock .*held by pid ${first.pid}`));
        const reset = await run(process.execPath, [BIN, 'reset', r.dbPath]).then(
          () => assert.fail('reset must not pull the state from under a running replicator'),
          (e: { code: number; stderr: string }) => e,
        );
        assert.notEqual(reset.code, 0);
        assert.match(reset.stderr, new RegExp(`is being replicated \\(held by pid ${first.pid}.*stop that replicator`));
        first.kill('SIGKILL');
        await new Promise((res) => first.on('exit', res));
        r.insert(10);
        await run(process.execPath, [BIN, 'replicate', '-once', r.dbPath, r.replica]);
        await assertRestores(r);
      } finally {
        first.kill('SIGKILL');
        r.app.close();
      }
    });
  });

  it('another replicator writing the same replica stops this one\'s uploads with a clear error instead of interleaving', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open({ validationIntervalMs: 0 });
      try {
        r.insert(10);
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        // Another host: a copy of the database replicated to the same place, further along.
        const other = join(dir, 'other');
        await mkdir(other);
        await copyFile(r.dbPath, join(other, 'app.db'));
        await copyFile(`${r.dbPath}-wal`, join(other, 'app.db-wal')).catch(() => undefined);
        const intruder = await DbReplicator.open({ dbPath: join(other, 'app.db'), client: new FileReplicaClient(r.replica), validationIntervalMs: 0 });
        const theirs = new Database(join(other, 'app.db'));
        for (let i = 0; i < 3; i++) {
          theirs.prepare('INSERT INTO t (v) VALUES (?)').run('theirs');
          await intruder.syncAndWait({ timeoutMs: WAIT_MS });
        }
        theirs.close();
        await intruder.close();
        const theirNames = await l0Names(r.replica);
        r.insert(10);
        await assert.rejects(rep.syncAndWait({ timeoutMs: WAIT_MS }), (e: unknown) => {
          assert.ok(e instanceof ReplicaConflictError, String(e));
          assert.match(e.message, /never wrote.*another replicator is writing to the same replica/);
          return true;
        });
        assert.deepEqual(await l0Names(r.replica), theirNames, 'nothing of ours was mixed into their history');
        assert.ok(rep.status().lastError instanceof ReplicaConflictError, 'status shows why uploads stopped');
      } finally {
        await rep.close({ timeoutMs: 0 }).catch(() => undefined);
        r.app.close();
      }
    });
  });

  it('replicate -once against a read-only replica ends at once, non-zero, naming the real cause', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      r.insert(10);
      r.app.close();
      await mkdir(r.replica);
      const started = Date.now();
      let result: { code: number; stderr: string };
      if (process.getuid?.() === 0) {
        // root ignores permissions: a read-only bind mount in a private mount namespace is the real thing.
        const script = `mount --bind ${r.replica} ${r.replica} && mount -o remount,bind,ro ${r.replica} && exec "${process.execPath}" "${BIN}" replicate -once "${r.dbPath}" "${r.replica}"`;
        result = await run('unshare', ['-m', 'sh', '-c', script]).then(
          () => ({ code: 0, stderr: '' }),
          (e: { code: number; stderr: string }) => e,
        );
      } else {
        await chmod(r.replica, 0o555);
        result = await run(process.execPath, [BIN, 'replicate', '-once', r.dbPath, r.replica]).then(
          () => ({ code: 0, stderr: '' }),
          (e: { code: number; stderr: string }) => e,
        );
      }
      const elapsed = Date.now() - started;
      assert.notEqual(result.code, 0, 'a replica that cannot be written fails the run');
      assert.match(result.stderr, /read-only file system \(EROFS\)|EROFS|permission denied \(EACCES\)|EACCES/);
      assert.doesNotMatch(result.stderr, /ENOENT/, 'the real cause, not a missing directory');
      assert.ok(elapsed < 30_000, `ended within a bounded time: ${elapsed} ms`);
    });
  });

});
