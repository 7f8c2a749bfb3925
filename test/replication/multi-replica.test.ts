import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { DbReplicator, type DbReplicatorOptions, type ReplicaTarget } from '../../src/replication/db-replicator.js';
import { DatabaseSetupError } from '../../src/replication/errors.js';
import { LocalMeta, defaultMetaDir } from '../../src/replication/local-meta.js';
import { restore } from '../../src/restore/restore.js';
import { chooseReplica } from '../../src/restore/choose-replica.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { listAll } from '../storage/ltx-fixtures.js';
import { logicalDump, openAppDb, withTempDir } from './helpers.js';

const WAIT_MS = 20_000;

function insert(app: Database.Database, n: number): void {
  const stmt = app.prepare('INSERT INTO t (v) VALUES (?)');
  app.transaction(() => {
    for (let i = 0; i < n; i++) stmt.run(`${i}:`.padEnd(200, 'x'));
  })();
}

function target(name: string, root: string): ReplicaTarget & { client: FaultInjectingClient; root: string } {
  return { name, client: new FaultInjectingClient(new FileReplicaClient(root)), root };
}

function open(dbPath: string, replicas: readonly ReplicaTarget[], extra: Partial<DbReplicatorOptions> = {}): Promise<DbReplicator> {
  return DbReplicator.open({
    dbPath,
    replicas,
    uploadRetryBaseMs: 5,
    uploadRetryMaxMs: 50,
    replicaCheckIntervalMs: 0,
    checkpointIntervalMs: 0,
    validationIntervalMs: 0,
    ...extra,
  });
}

async function assertRestoresTo(dir: string, root: string, app: Database.Database): Promise<void> {
  const out = join(dir, `restored-${Math.random().toString(36).slice(2)}.db`);
  await restore({ client: new FileReplicaClient(root), outputPath: out, integrityCheck: 'full' });
  const db = new Database(out, { readonly: true });
  try {
    assert.deepEqual(logicalDump(db), logicalDump(app), `${root} restores to the database`);
  } finally {
    db.close();
  }
}

async function levelFiles(root: string, level: number): Promise<string[]> {
  return (await listAll(new FileReplicaClient(root).ltxFiles(level))).map((f) => `${f.minTxid}-${f.maxTxid}`);
}

describe('a database with several replicas', () => {
  it('one replica that is down holds back neither the others nor the application, keeps its local files, and catches up', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const a = target('a', join(dir, 'a'));
      const b = target('b', join(dir, 'b'));
      const c = target('c', join(dir, 'c'));
      // Pruning as eagerly as it goes: only the down replica's need keeps files.
      const rep = await open(dbPath, [a, b, c], { localL0RetentionMs: 1 });
      try {
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        b.client.setErrorRate(1, ['init', 'list', 'open', 'write', 'delete']);
        const downAt = rep.status().localTxid;
        for (let i = 0; i < 12; i++) {
          insert(app, 20);
          await rep.sync();
        }
        const local = rep.status().localTxid;
        assert.ok(local >= downAt + 12n);
        await rep.waitForReplication(local, { replica: 'a', timeoutMs: WAIT_MS });
        await rep.waitForReplication(local, { replica: 'c', timeoutMs: WAIT_MS });
        const byName = new Map(rep.status().replicas.map((r) => [r.name, r]));
        assert.equal(byName.get('a')!.replicatedTxid, local);
        assert.equal(byName.get('c')!.replicatedTxid, local);
        assert.ok(byName.get('b')!.replicatedTxid <= downAt, 'the failing replica is behind');
        assert.ok(byName.get('b')!.lastError !== undefined, 'and says why');
        assert.equal(rep.status().replicatedTxid, byName.get('b')!.replicatedTxid, 'the database-wide position is the lowest');
        await assert.rejects(rep.waitForReplication(local, { timeoutMs: 300 }), /replica b did not reach TXID/);
        // The files b still needs stay on disk while a and c have them all.
        await sleep(50);
        const kept = await new LocalMeta(defaultMetaDir(dbPath)).txids();
        for (let t = byName.get('b')!.replicatedTxid + 1n; t <= local; t++) assert.ok(kept.includes(t), `local L0 ${t} kept for replica b`);

        b.client.setErrorRate(0);
        await rep.waitForReplication(local, { timeoutMs: WAIT_MS });
        assert.deepEqual(await levelFiles(b.root, 0), await levelFiles(a.root, 0), 'b caught up file for file');
      } finally {
        await rep.close();
      }
      for (const t of [a, b, c]) await assertRestoresTo(dir, t.root, app);
      app.close();
    });
  });

  it('a replica down for longer than laggingReplicaKeepMs stops holding local files; it gets a snapshot when it answers again', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const a = target('a', join(dir, 'a'));
      const b = target('b', join(dir, 'b'));
      const rep = await open(dbPath, [a, b], { localL0RetentionMs: 1, laggingReplicaKeepMs: 100 });
      try {
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        b.client.setErrorRate(1, ['init', 'list', 'open', 'write', 'delete']);
        const downAt = rep.status().replicas[1]!.replicatedTxid;
        // Long enough past the limit for a's pruning to run without b.
        for (let i = 0; i < 10; i++) {
          insert(app, 20);
          await rep.syncAndWait({ replica: 'a', timeoutMs: WAIT_MS });
          await sleep(40);
        }
        assert.ok(rep.status().replicas[1]!.lastError !== undefined);
        const kept = await new LocalMeta(defaultMetaDir(dbPath)).txids();
        assert.ok(!kept.includes(downAt + 1n), `the file b needs next was pruned (kept: ${kept.join(',')})`);
        b.client.setErrorRate(0);
        await rep.waitForReplication(rep.status().localTxid, { timeoutMs: WAIT_MS });
        assert.equal((await levelFiles(b.root, 9)).length, 1, 'b was brought up to date with a snapshot');
      } finally {
        await rep.close();
      }
      await assertRestoresTo(dir, a.root, app);
      await assertRestoresTo(dir, b.root, app);
      app.close();
    });
  });

  it('a replica added later, after the local files it would need were pruned, is brought up to date with a snapshot', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const a = target('a', join(dir, 'a'));
      const first = await open(dbPath, [a], { localL0RetentionMs: 1 });
      try {
        for (let i = 0; i < 8; i++) {
          insert(app, 30);
          await first.syncAndWait({ timeoutMs: WAIT_MS });
          await sleep(20);
        }
      } finally {
        await first.close();
      }
      const kept = await new LocalMeta(defaultMetaDir(dbPath)).txids();
      assert.ok(!kept.includes(1n), `TXID 1 was pruned locally (kept: ${kept.join(',')})`);

      const b = target('b', join(dir, 'b'));
      const both = await open(dbPath, [a, b]);
      try {
        insert(app, 10);
        const txid = await both.syncAndWait({ timeoutMs: WAIT_MS });
        const snapshots = await levelFiles(b.root, 9);
        assert.equal(snapshots.length, 1, 'b got one snapshot');
        assert.ok(BigInt(snapshots[0]!.split('-')[1]!) <= txid);
        insert(app, 10);
        await both.syncAndWait({ timeoutMs: WAIT_MS });
        assert.ok((await levelFiles(b.root, 0)).length >= 1, 'then L0 files follow the snapshot');
        assert.equal(both.status().replicas[1]!.lastError, undefined);
      } finally {
        await both.close();
      }
      await assertRestoresTo(dir, a.root, app);
      await assertRestoresTo(dir, b.root, app);
      app.close();
    });
  });

  it('verify() checks each replica and heals only the one that lost files', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const a = target('a', join(dir, 'a'));
      const b = target('b', join(dir, 'b'));
      const rep = await open(dbPath, [a, b]);
      try {
        for (let i = 0; i < 3; i++) {
          insert(app, 10);
          await rep.syncAndWait({ timeoutMs: WAIT_MS });
        }
        await rm(join(b.root, 'ltx'), { recursive: true, force: true });
        const aBefore = await readdir(join(a.root, 'ltx', '0'));
        const status = await rep.verify();
        assert.equal(status.ok, true, 'the primary is fine');
        const byName = new Map(rep.status().replicas.map((r) => [r.name, r]));
        assert.equal(byName.get('a')!.validation?.ok, true);
        assert.equal(byName.get('b')!.validation?.ok, false);
        assert.match(byName.get('b')!.validation!.healedBy ?? '', /^snapshot 1-/);
        assert.deepEqual(await levelFiles(b.root, 9), [`1-${rep.status().localTxid}`]);
        assert.deepEqual(await levelFiles(a.root, 9), [], 'the healthy replica was not touched');
        assert.deepEqual(await readdir(join(a.root, 'ltx', '0')), aBefore);
        const files = await readdir(defaultMetaDir(dbPath));
        assert.ok(files.includes('validation.json') && files.includes('validation-b.json'), files.join(','));
      } finally {
        await rep.close();
      }
      await assertRestoresTo(dir, b.root, app);
      app.close();
    });
  });

  it('restore picks the replica with the newest state', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const a = target('a', join(dir, 'a'));
      const b = target('b', join(dir, 'b'));
      const rep = await open(dbPath, [a, b]);
      try {
        await rep.syncAndWait({ timeoutMs: WAIT_MS });
        a.client.setErrorRate(1, ['write']);
        insert(app, 10);
        await rep.sync();
        await rep.waitForReplication(rep.status().localTxid, { replica: 'b', timeoutMs: WAIT_MS });
        const choice = await chooseReplica([a, b]);
        assert.equal(choice.chosen.name, 'b');
        assert.deepEqual(
          choice.considered.map((c) => [c.name, c.txid]),
          [
            ['a', 1n],
            ['b', 2n],
          ],
        );
        const older = await chooseReplica([a, b], { txid: 1n });
        assert.equal(older.chosen.name, 'a', 'a tie goes to the first');
        a.client.setErrorRate(0);
      } finally {
        await rep.close();
      }
      app.close();
    });
  });

  it('refuses two replicas of one name, and client with replicas, before touching the database', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      openAppDb(dbPath).close();
      const a = target('same', join(dir, 'a'));
      const b = target('same', join(dir, 'b'));
      await assert.rejects(open(dbPath, [a, b]), (err: unknown) => err instanceof DatabaseSetupError && /two replicas are named "same"/.test(err.message));
      await assert.rejects(
        DbReplicator.open({ dbPath, client: a.client, replicas: [b] }),
        (err: unknown) => err instanceof DatabaseSetupError && /either client or replicas/.test(err.message),
      );
      assert.deepEqual((await readdir(dir)).sort(), ['app.db']);
    });
  });
});
