import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { HEADER_FLAG_NO_CHECKSUM } from '../../src/ltx/constants.js';
import { DbReplicator, type DbReplicatorOptions } from '../../src/replication/db-replicator.js';
import { DatabaseSetupError } from '../../src/replication/errors.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { restore } from '../../src/restore/restore.js';
import {
  assertAllStrict,
  inspectBytes,
  logicalDump,
  openAppDb,
  readLtxStrict,
  rebuildFromReplica,
  replicaL0,
  withTempDir,
} from './helpers.js';

interface Rig {
  dir: string;
  dbPath: string;
  replicaRoot: string;
  app: Database.Database;
  client: FaultInjectingClient;
  open(extra?: Partial<DbReplicatorOptions>): Promise<DbReplicator>;
}

async function rig(dir: string, pageSize = 4096): Promise<Rig> {
  const dbPath = join(dir, 'app.db');
  const replicaRoot = join(dir, 'replica');
  const app = openAppDb(dbPath, pageSize);
  app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const client = new FaultInjectingClient(new FileReplicaClient(replicaRoot));
  return {
    dir,
    dbPath,
    replicaRoot,
    app,
    client,
    open: (extra = {}) =>
      DbReplicator.open({
        dbPath,
        client,
        uploadRetryBaseMs: 2,
        uploadRetryMaxMs: 20,
        replicaCheckIntervalMs: 0,
        checkpointIntervalMs: 0,
        ...extra,
      }),
  };
}

function insert(app: Database.Database, n: number, size = 100): void {
  const stmt = app.prepare('INSERT INTO t (v) VALUES (?)');
  app.transaction(() => {
    for (let i = 0; i < n; i++) stmt.run(`${i}:`.padEnd(size, 'x'));
  })();
}

/** The replica rebuilt at its newest TXID holds exactly what the application sees. */
async function assertReplicaMatches(r: Rig): Promise<bigint> {
  const files = await replicaL0(r.replicaRoot);
  const last = files[files.length - 1];
  assert.ok(last, 'replica has files');
  const got = await inspectBytes(r.dir, await rebuildFromReplica(r.replicaRoot, last.txid));
  assert.equal(got.integrity, 'ok');
  assert.deepEqual(got.dump, logicalDump(r.app));
  return last.txid;
}

/** The replica restores, through the library's restore, to the application's database. */
async function assertRestoreMatches(r: Rig): Promise<void> {
  const out = join(r.dir, `restored-${Date.now()}-${Math.random().toString(36).slice(2)}.db`);
  await restore({ client: new FileReplicaClient(r.replicaRoot), outputPath: out, integrityCheck: 'full' });
  const db = new Database(out, { readonly: true });
  try {
    assert.deepEqual(logicalDump(db), logicalDump(r.app));
  } finally {
    db.close();
  }
}

describe('DbReplicator', () => {
  it('first sync writes a full image at TXID 1 equal, byte for byte, to the checkpointed database', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      insert(r.app, 200);
      const rep = await r.open();
      try {
        assert.equal(await rep.syncAndWait({ timeoutMs: 5000 }), 1n);
        const files = await replicaL0(r.replicaRoot);
        assert.deepEqual(files.map((f) => f.txid), [1n]);
        const { header, pages } = await readLtxStrict(files[0]!.path);
        assert.equal(header.minTxid, 1n);
        assert.equal(header.maxTxid, 1n);
        assert.equal(header.flags, HEADER_FLAG_NO_CHECKSUM);
        assert.equal(header.walOffset, 32);
        assert.ok(header.walSize > 0);
        assert.deepEqual(pages.map((p) => p.pgno), Array.from({ length: header.commit }, (_, i) => i + 1));

        // SQLite's own view: a copy of the database and WAL, checkpointed.
        const copy = join(dir, 'copy');
        await mkdir(copy);
        await copyFile(r.dbPath, join(copy, 'c.db'));
        await copyFile(`${r.dbPath}-wal`, join(copy, 'c.db-wal'));
        const c = new Database(join(copy, 'c.db'));
        c.pragma('wal_checkpoint(TRUNCATE)');
        c.close();
        const expected = await readFile(join(copy, 'c.db'));
        const rebuilt = await rebuildFromReplica(r.replicaRoot, 1n);
        assert.equal(Buffer.compare(rebuilt, expected), 0);
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('later syncs write incremental files continuing the WAL offsets', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      try {
        await rep.sync();
        insert(r.app, 3);
        await rep.sync();
        insert(r.app, 3);
        await rep.syncAndWait({ timeoutMs: 5000 });
        const files = await replicaL0(r.replicaRoot);
        assert.deepEqual(files.map((f) => f.txid), [1n, 2n, 3n]);
        const h1 = (await readLtxStrict(files[0]!.path)).header;
        const f2 = await readLtxStrict(files[1]!.path);
        const h3 = (await readLtxStrict(files[2]!.path)).header;
        assert.equal(f2.header.walOffset, h1.walOffset + h1.walSize);
        assert.equal(h3.walOffset, f2.header.walOffset + f2.header.walSize);
        assert.ok(f2.pages.length < f2.header.commit, 'incremental carries only changed pages');
        assert.equal(rep.status().localTxid, 3n);
        assert.equal(rep.status().replicatedTxid, 3n);
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('an idle database writes nothing and makes no replica calls', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      try {
        insert(r.app, 5);
        await rep.syncAndWait({ timeoutMs: 5000 });
        const local = await readdir(rep.meta.l0Dir);
        r.client.resetCalls();
        for (let i = 0; i < 5; i++) assert.equal(await rep.sync(), false);
        await new Promise((res) => setTimeout(res, 30));
        assert.equal(r.client.totalCalls, 0);
        assert.deepEqual(await readdir(rep.meta.l0Dir), local);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  for (const mode of ['TRUNCATE', 'RESTART', 'FULL']) {
    it(`stays correct when another connection runs ${mode} checkpoints while it runs`, async () => {
      await withTempDir(async (dir) => {
        const r = await rig(dir);
        const rep = await r.open();
        try {
          for (let i = 0; i < 4; i++) {
            insert(r.app, 20);
            r.app.pragma(`wal_checkpoint(${mode})`);
            insert(r.app, 5);
            await rep.syncAndWait({ timeoutMs: 5000 });
            await assertReplicaMatches(r);
          }
        } finally {
          await rep.close();
          r.app.close();
        }
      });
    });

    it(`publishes exactly the pages that changed after a ${mode} checkpoint while it was stopped`, async () => {
      await withTempDir(async (dir) => {
        const r = await rig(dir);
        let rep = await r.open();
        insert(r.app, 50);
        await rep.syncAndWait({ timeoutMs: 5000 });
        insert(r.app, 10);
        await rep.syncAndWait({ timeoutMs: 5000 });
        await rep.close();
        insert(r.app, 10);
        r.app.pragma(`wal_checkpoint(${mode})`);
        insert(r.app, 1);
        rep = await r.open();
        try {
          await rep.syncAndWait({ timeoutMs: 5000 });
          const files = await replicaL0(r.replicaRoot);
          const last = await readLtxStrict(files[files.length - 1]!.path);
          assert.equal(last.header.maxTxid, 3n);
          // The saved model of TXID 2 tells which pages the checkpointed commits changed.
          assert.ok(last.pages.length < last.header.commit, `a diff against the model, not a full image: ${last.pages.length} of ${last.header.commit} pages`);
          assert.ok(last.pages.length > 0);
          await assertReplicaMatches(r);
        } finally {
          await rep.close();
          r.app.close();
        }
      });
    });
  }

  it('continues with the next TXID after a restart', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      let rep = await r.open();
      insert(r.app, 10);
      await rep.syncAndWait({ timeoutMs: 5000 });
      insert(r.app, 10);
      await rep.close();
      insert(r.app, 10);
      rep = await r.open();
      try {
        await rep.syncAndWait({ timeoutMs: 5000 });
        insert(r.app, 1);
        await rep.syncAndWait({ timeoutMs: 5000 });
        const files = await replicaL0(r.replicaRoot);
        assert.deepEqual(files.map((f) => f.txid), [1n, 2n, 3n, 4n]);
        const third = await readLtxStrict(files[2]!.path);
        assert.ok(third.pages.length < third.header.commit, 'continuity proven across the restart: incremental');
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('goes on incrementally when its meta directory is deleted, and writes its lock file again', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      try {
        insert(r.app, 10);
        await rep.syncAndWait({ timeoutMs: 5000 });
        insert(r.app, 10);
        await rep.syncAndWait({ timeoutMs: 5000 });
        await rm(rep.meta.dir, { recursive: true });
        insert(r.app, 10);
        assert.equal(await rep.syncAndWait({ timeoutMs: 5000 }), 3n);
        const files = await replicaL0(r.replicaRoot);
        const last = await readLtxStrict(files[files.length - 1]!.path);
        assert.ok(last.pages.length < last.header.commit, 'what the replicator knows is in memory: an incremental file');
        await assertReplicaMatches(r);
        await assert.rejects(r.open(), /already replicated/, 'the lock file is back: a second replicator is refused');
        insert(r.app, 1);
        assert.equal(await rep.syncAndWait({ timeoutMs: 5000 }), 4n);
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('heals a deleted replica with a snapshot, so it restores again', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      try {
        for (let i = 0; i < 3; i++) {
          insert(r.app, 10);
          await rep.syncAndWait({ timeoutMs: 5000 });
        }
        await rm(r.replicaRoot, { recursive: true });
        insert(r.app, 10);
        await rep.syncAndWait({ timeoutMs: 5000 });
        // The upload of TXID 4 lists the replica first and finds it behind: a snapshot follows.
        const deadline = Date.now() + 10_000;
        const snapshots = async (): Promise<string[]> => (await readdir(join(r.replicaRoot, 'ltx', '9')).catch(() => [])).filter((n) => n.endsWith('.ltx'));
        while (Date.now() < deadline && (await snapshots()).length === 0) {
          await new Promise((res) => setTimeout(res, 20));
        }
        assert.deepEqual(await snapshots(), ['0000000000000001-0000000000000004.ltx']);
        assert.deepEqual((await replicaL0(r.replicaRoot)).map((f) => f.txid), [4n]);
        await assertRestoreMatches(r);
        const v = await rep.verify();
        assert.equal(v.ok, true, v.problems.join('; '));
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('a database behind its replica continues after the replica TXID with a full image (#781)', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      let rep = await r.open();
      insert(r.app, 10);
      await rep.syncAndWait({ timeoutMs: 5000 });
      for (let i = 0; i < 3; i++) {
        insert(r.app, 10);
        await rep.syncAndWait({ timeoutMs: 5000 });
      }
      await rep.close();
      // The local state goes back to TXID 1, as after restoring an old backup of the meta directory.
      for (const t of [2n, 3n, 4n]) await rm(rep.meta.pathOf(t));
      insert(r.app, 10);
      rep = await r.open();
      try {
        assert.equal(await rep.syncAndWait({ timeoutMs: 5000 }), 5n);
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('converges through injected upload failures', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open();
      try {
        // The first sync checks the replica for #781 and fails with it; after that only uploads touch it.
        await rep.syncAndWait({ timeoutMs: 5000 });
        r.client.setErrorRate(0.4);
        for (let i = 0; i < 10; i++) {
          insert(r.app, 5);
          await rep.sync();
        }
        r.client.failNext('write', { count: 3 });
        insert(r.app, 5);
        await rep.syncAndWait({ timeoutMs: 20_000 });
        assert.ok(r.client.injectedFaults > 0);
        assert.deepEqual(
          (await replicaL0(r.replicaRoot)).map((f) => f.txid),
          Array.from({ length: 12 }, (_, i) => BigInt(i + 1)),
        );
        await assertReplicaMatches(r);
      } finally {
        r.client.setErrorRate(0);
        await rep.close();
        r.app.close();
      }
    });
  });

  for (const pageSize of [512, 4096, 65536]) {
    it(`replicates ${pageSize}-byte pages, including checkpoints it runs itself`, async () => {
      await withTempDir(async (dir) => {
        const r = await rig(dir, pageSize);
        const rep = await r.open({ minCheckpointPageN: 20 });
        try {
          for (let i = 0; i < 6; i++) {
            insert(r.app, 30, 700);
            r.app.prepare('DELETE FROM t WHERE id % 3 = 0').run();
            await rep.syncAndWait({ timeoutMs: 5000 });
            await assertReplicaMatches(r);
          }
          assert.equal(await assertAllStrict(rep.meta.l0Dir), Number(rep.status().localTxid));
        } finally {
          await rep.close();
          r.app.close();
        }
      });
    });
  }

  it('runs the TRUNCATE backstop and stays correct', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open({ minCheckpointPageN: 1000, truncatePageN: 30 });
      try {
        for (let i = 0; i < 5; i++) {
          insert(r.app, 200);
          await rep.syncAndWait({ timeoutMs: 5000 });
          await assertReplicaMatches(r);
        }
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('syncs in the background and on WAL changes', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open({ syncIntervalMs: 10 });
      try {
        rep.start({ watch: true });
        insert(r.app, 3);
        const deadline = Date.now() + 5000;
        while (rep.status().replicatedTxid < 1n && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
        insert(r.app, 3);
        const before = rep.status().localTxid;
        while (rep.status().localTxid <= before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
        await rep.waitForReplication(rep.status().localTxid, { timeoutMs: 5000 });
        assert.ok(rep.status().lastSyncAt instanceof Date);
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('refuses a file that is not a SQLite database', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'junk.db');
      await writeFile(path, Buffer.alloc(4096, 7));
      await assert.rejects(
        DbReplicator.open({ dbPath: path, client: new FileReplicaClient(join(dir, 'replica')) }),
        (err: unknown) => err instanceof DatabaseSetupError && /not a SQLite database/.test(err.message),
      );
    });
  });

  it('removes stale temporary files on open', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      let rep = await r.open();
      await rep.syncAndWait({ timeoutMs: 5000 });
      await rep.close();
      const stale = `${rep.meta.pathOf(2n)}.tmp`;
      await writeFile(stale, 'partial');
      rep = await r.open();
      try {
        await assert.rejects(readFile(stale), { code: 'ENOENT' });
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('after its own checkpoint the replicator reads from the WAL, so the application can still checkpoint', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      insert(r.app, 200);
      const rep = await r.open({ minCheckpointPageN: 1 });
      try {
        await rep.syncAndWait({ timeoutMs: 5000 });
        insert(r.app, 50);
        const saltBefore = (await readFile(`${r.dbPath}-wal`)).readUInt32BE(16);
        await rep.sync(); // past the threshold: the replicator checkpoints everything it copied and moves its pin
        insert(r.app, 50);
        assert.notEqual((await readFile(`${r.dbPath}-wal`)).readUInt32BE(16), saltBefore, "the application's next write restarts the WAL");
        // The pin on read mark 0 that let the WAL restart lets no checkpoint copy a frame; the next
        // sync moves it onto the new generation, and the application's checkpoints work again.
        await rep.sync();
        const [row] = r.app.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
        assert.ok(row!.checkpointed >= 1, `the application's checkpoint copied nothing: ${JSON.stringify(row)}`);
        await rep.syncAndWait({ timeoutMs: 5000 });
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });

  it('removes uploaded local L0 files past the local retention, never the newest or one not yet uploaded', async () => {
    await withTempDir(async (dir) => {
      const r = await rig(dir);
      const rep = await r.open({ localL0RetentionMs: 1 });
      try {
        for (let i = 0; i < 6; i++) {
          insert(r.app, 5);
          await rep.syncAndWait({ timeoutMs: 5000 });
          await new Promise((res) => setTimeout(res, 5));
        }
        insert(r.app, 5);
        r.client.setErrorRate(1, ['write']);
        await rep.sync(); // TXID 7 stays local: the replica refuses it for now
        await new Promise((res) => setTimeout(res, 50));
        const local = await rep.meta.txids();
        assert.ok(local.includes(7n), `the file not yet uploaded must stay: ${local.join(',')}`);
        assert.ok(local.includes(6n), 'the newest uploaded file stays');
        assert.ok(local.length <= 3, `old uploaded files should be gone: ${local.join(',')}`);
        r.client.setErrorRate(0);
        await rep.syncAndWait({ timeoutMs: 5000 });
        await assertReplicaMatches(r);
      } finally {
        await rep.close();
        r.app.close();
      }
    });
  });
});

