// ReplicatorLock: one replicator per database. A second acquire in the same
// process is refused whatever meta directory it names (the registry is keyed
// by the database's real path); refresh() writes a deleted lock file again
// and says 'lost' when another process's lock replaced it; release is
// idempotent and never removes someone else's lock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ReplicatorLockedError } from '../../src/replication/errors.js';
import { REPLICATOR_LOCK_FILE, ReplicatorLock } from '../../src/replication/replicator-lock.js';
import { withTempDir } from './helpers.js';

/** The owner-lock test's child: `hold <dir> <fileName> <key>` takes a lock and keeps it until its stdin ends. */
const LOCK_CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'io', 'fixtures', 'owner-lock-child.ts');

interface Setup {
  dbPath: string;
  metaA: string;
  metaB: string;
}

async function setup(dir: string): Promise<Setup> {
  const dbPath = join(dir, 'app.db');
  await writeFile(dbPath, '');
  const metaA = join(dir, 'meta-a');
  const metaB = join(dir, 'meta-b');
  await mkdir(metaA);
  await mkdir(metaB);
  return { dbPath, metaA, metaB };
}

async function lockRecord(metaDir: string): Promise<{ pid: number; token: string; purpose?: string }> {
  return JSON.parse(await readFile(join(metaDir, REPLICATOR_LOCK_FILE), 'utf8')) as { pid: number; token: string; purpose?: string };
}

/** Another process holding the lock file in `metaDir` until stop(). */
async function holdInChild(metaDir: string): Promise<{ pid: number; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', LOCK_CHILD, 'hold', metaDir, REPLICATOR_LOCK_FILE, 'child-key', 'another replicator'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(proc, 'exit');
  const first = await createInterface({ input: proc.stdout })[Symbol.asyncIterator]().next();
  const line = JSON.parse(String(first.value)) as { held?: number };
  assert.equal(line.held, proc.pid, 'the child holds the lock');
  return {
    pid: proc.pid!,
    async stop() {
      proc.stdin.end();
      await exited;
    },
  };
}

describe('ReplicatorLock', () => {
  it('refuses a second acquire for the same database in this process, even with another meta directory', async () => {
    await withTempDir(async (dir) => {
      const s = await setup(dir);
      const lock = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      try {
        assert.equal(lock.path, join(s.metaA, REPLICATOR_LOCK_FILE));
        const rec = await lockRecord(s.metaA);
        assert.equal(rec.pid, process.pid);
        assert.equal(rec.purpose, `tidemark replicate ${s.dbPath}`);
        for (const meta of [s.metaA, s.metaB]) {
          await assert.rejects(ReplicatorLock.acquire(s.dbPath, meta), (err: unknown) => {
            assert.ok(err instanceof ReplicatorLockedError, String(err));
            assert.match(err.message, /already replicated by this process; one replicator per database/);
            assert.equal(err.permanent, true);
            return true;
          });
        }
        await assert.rejects(readFile(join(s.metaB, REPLICATOR_LOCK_FILE)), { code: 'ENOENT' }, 'the refused acquire wrote nothing');
      } finally {
        await lock.release();
      }
      const again = await ReplicatorLock.acquire(s.dbPath, s.metaB);
      await again.release();
    });
  });

  it('the same database through a symbolic link is the same database', async () => {
    await withTempDir(async (dir) => {
      const s = await setup(dir);
      const link = join(dir, 'link.db');
      await symlink(s.dbPath, link);
      const lock = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      try {
        await assert.rejects(ReplicatorLock.acquire(link, s.metaB), ReplicatorLockedError);
      } finally {
        await lock.release();
      }
    });
  });

  it('two databases sharing nothing both get a lock', async () => {
    await withTempDir(async (dir) => {
      const s = await setup(dir);
      const other = join(dir, 'other.db');
      await writeFile(other, '');
      const a = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      const b = await ReplicatorLock.acquire(other, s.metaB);
      await a.release();
      await b.release();
    });
  });

  it("a lock file held by another process refuses an acquire here, naming the holder", async () => {
    await withTempDir(async (dir) => {
      const s = await setup(dir);
      const child = await holdInChild(s.metaA);
      try {
        await assert.rejects(ReplicatorLock.acquire(s.dbPath, s.metaA), (err: unknown) => {
          assert.ok(err instanceof ReplicatorLockedError, String(err));
          assert.match(err.message, new RegExp(`already replicated: lock .*${REPLICATOR_LOCK_FILE} held by pid ${child.pid}`));
          return true;
        });
      } finally {
        await child.stop();
      }
      // The refused acquire left the in-process registry free.
      const lock = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      await lock.release();
    });
  });

  it("refresh: 'held' while the file is ours, 'restored' after it (or its directory) was deleted", async () => {
    await withTempDir(async (dir) => {
      const s = await setup(dir);
      const lock = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      try {
        const token = (await lockRecord(s.metaA)).token;
        assert.equal(await lock.refresh(), 'held');
        await rm(lock.path);
        assert.equal(await lock.refresh(), 'restored');
        assert.equal((await lockRecord(s.metaA)).token, token, 'the same lock, written again');
        assert.equal(await lock.refresh(), 'held');
        await rm(s.metaA, { recursive: true });
        assert.equal(await lock.refresh(), 'restored', 'the meta directory is made again too');
        assert.equal((await lockRecord(s.metaA)).token, token);
      } finally {
        await lock.release();
      }
      await assert.rejects(readFile(join(s.metaA, REPLICATOR_LOCK_FILE)), { code: 'ENOENT' }, 'release removed the restored file');
    });
  });

  it("refresh says 'lost' once another process's lock file replaced ours, and release leaves theirs alone", async () => {
    await withTempDir(async (dir) => {
      const s = await setup(dir);
      const lock = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      let child: Awaited<ReturnType<typeof holdInChild>> | undefined;
      try {
        await rm(lock.path); // an operator thought us gone
        child = await holdInChild(s.metaA);
        assert.equal(await lock.refresh(), 'lost');
        assert.equal(await lock.refresh(), 'lost', 'and stays lost');
        await lock.release();
        assert.equal((await lockRecord(s.metaA)).pid, child.pid, "the other process's lock survives our release");
      } finally {
        await lock.release();
        await child?.stop();
      }
      await assert.rejects(readFile(join(s.metaA, REPLICATOR_LOCK_FILE)), { code: 'ENOENT' }, 'the child released its own lock');
    });
  });

  it('release is idempotent, frees the database for a new acquire, and refresh after it is lost', async () => {
    await withTempDir(async (dir) => {
      const s = await setup(dir);
      const lock = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      await lock.release();
      await lock.release();
      await assert.rejects(readFile(lock.path), { code: 'ENOENT' });
      assert.equal(await lock.refresh(), 'lost', 'a released lock is not taken again by refresh');
      await assert.rejects(readFile(lock.path), { code: 'ENOENT' });
      const next = await ReplicatorLock.acquire(s.dbPath, s.metaA);
      await lock.release(); // the old handle's release must not free the new owner's lock
      assert.equal(await next.refresh(), 'held');
      await assert.rejects(ReplicatorLock.acquire(s.dbPath, s.metaB), ReplicatorLockedError, 'the new owner is still registered');
      await next.release();
    });
  });

  it('acquire for a database that does not exist fails before any lock is taken', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'meta'));
      await assert.rejects(ReplicatorLock.acquire(join(dir, 'missing.db'), join(dir, 'meta')), { code: 'ENOENT' });
    });
  });
});
