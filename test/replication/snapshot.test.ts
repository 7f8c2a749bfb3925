import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BytePipe, PipeClosedError } from '../../src/io/byte-pipe.js';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { restore } from '../../src/restore/restore.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { logicalDump, openAppDb, readLtxStrict, withTempDir } from './helpers.js';

function insert(app: Database.Database, n: number, size = 200): void {
  const stmt = app.prepare('INSERT INTO t (v) VALUES (?)');
  app.transaction(() => {
    for (let i = 0; i < n; i++) stmt.run(`${i}:`.padEnd(size, 's'));
  })();
}

async function restoredDump(dir: string, replicaRoot: string, name: string, txid?: bigint) {
  const out = join(dir, name);
  await restore({ client: new FileReplicaClient(replicaRoot), outputPath: out, integrityCheck: 'full', ...(txid === undefined ? {} : { txid }) });
  const db = new Database(out, { readonly: true });
  try {
    return logicalDump(db);
  } finally {
    db.close();
  }
}

describe('snapshots (level 9)', () => {
  it('a snapshot is a full image named 1-<txid> that restores on its own to the synced state', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replicaRoot = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      insert(app, 300);
      const r = await DbReplicator.open({ dbPath, client: new FileReplicaClient(replicaRoot), checkpointIntervalMs: 0 });
      try {
        await r.syncAndWait({ timeoutMs: 10_000 });
        insert(app, 100);
        app.exec('UPDATE t SET v = upper(v) WHERE id % 7 = 0');
        const info = await r.snapshot();
        const expected = logicalDump(app);
        assert.equal(info.level, 9);
        assert.equal(info.minTxid, 1n);
        assert.equal(info.maxTxid, r.status().localTxid, 'the snapshot stands for the TXID synced just before it');
        const names = await readdir(join(replicaRoot, 'ltx', '9'));
        assert.deepEqual(names, [`0000000000000001-${info.maxTxid.toString(16).padStart(16, '0')}.ltx`]);
        const { header, pages } = await readLtxStrict(join(replicaRoot, 'ltx', '9', names[0]!));
        assert.equal(header.flags, 2, 'NoChecksum, as Litestream writes snapshots');
        assert.equal(pages.length, header.commit);

        // Only the snapshot: the L0 files are removed to prove it stands alone.
        const l0 = new FileReplicaClient(replicaRoot);
        const files = [];
        for await (const f of l0.ltxFiles(0)) files.push(f);
        await l0.deleteLtxFiles(files);
        assert.deepEqual(await restoredDump(dir, replicaRoot, 'from-snapshot.db'), expected);
      } finally {
        await r.close();
        app.close();
      }
    });
  });

  it('writes during a snapshot land in later L0 files, not in the snapshot', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replicaRoot = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      insert(app, 2000, 500);
      const r = await DbReplicator.open({ dbPath, client: new FileReplicaClient(replicaRoot), checkpointIntervalMs: 0, minCheckpointPageN: 1 });
      try {
        await r.syncAndWait({ timeoutMs: 10_000 });
        const snap = r.snapshot();
        // Committed while the snapshot streams; a sync in between would also like to checkpoint (tiny threshold) but must not.
        insert(app, 50);
        await r.sync();
        insert(app, 50);
        const info = await snap;
        const atSnapshot = await restoredDump(dir, replicaRoot, 'at-snapshot.db', info.maxTxid);
        const last = await r.syncAndWait({ timeoutMs: 10_000 });
        assert.ok(last > info.maxTxid);
        assert.deepEqual(await restoredDump(dir, replicaRoot, 'latest.db'), logicalDump(app));
        assert.ok(atSnapshot.rows['t']!.length >= 2000 && atSnapshot.rows['t']!.length <= 2100);
      } finally {
        await r.close();
        app.close();
      }
    });
  });

  it('a snapshot right after a checkpoint restarted the WAL takes most pages from the database file', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replicaRoot = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      insert(app, 100);
      const r = await DbReplicator.open({ dbPath, client: new FileReplicaClient(replicaRoot), checkpointIntervalMs: 0, minCheckpointPageN: 1 });
      try {
        await r.syncAndWait({ timeoutMs: 10_000 });
        insert(app, 10);
        await r.sync(); // past the threshold: checkpoints, and the next write starts a new WAL generation
        const info = await r.snapshot();
        await r.syncAndWait({ timeoutMs: 10_000 });
        assert.deepEqual(await restoredDump(dir, replicaRoot, 'snap.db', info.maxTxid), logicalDump(app));
      } finally {
        await r.close();
        app.close();
      }
    });
  });

  it('an empty database gets its first sync from snapshot() itself', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'empty.db');
      new Database(dbPath).close();
      const r = await DbReplicator.open({ dbPath, client: new FileReplicaClient(join(dir, 'replica')) });
      try {
        const info = await r.snapshot();
        assert.equal(info.maxTxid, 1n);
      } finally {
        await r.close();
      }
    });
  });
});

describe('BytePipe', () => {
  it('hands bytes from writer to reader in order, holding back the writer past the high-water mark', async () => {
    const pipe = new BytePipe(10);
    const got: number[] = [];
    const reader = (async () => {
      for await (const c of pipe) {
        got.push(...c);
        await new Promise((res) => setTimeout(res, 1));
      }
    })();
    for (let i = 0; i < 50; i++) await pipe.write(new Uint8Array([i, i]));
    pipe.end();
    await reader;
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => Math.floor(i / 2)));
  });

  it('a reader that stops makes the writer fail; a writer that fails makes the reader throw', async () => {
    const pipe = new BytePipe(4);
    const reading = (async () => {
      for await (const c of pipe) if (c[0] === 3) break;
    })();
    let err: unknown;
    try {
      for (let i = 0; i < 100; i++) await pipe.write(new Uint8Array([i, 0, 0, 0, 0]));
    } catch (e) {
      err = e;
    }
    await reading;
    assert.ok(err instanceof PipeClosedError);

    const p2 = new BytePipe();
    await p2.write(new Uint8Array([1]));
    p2.fail(new Error('encoder broke'));
    const seen: Uint8Array[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of p2) seen.push(c);
      })(),
      /encoder broke/,
    );
    assert.equal(seen.length, 1);
  });
});
