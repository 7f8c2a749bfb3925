import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { ReplicaPosition } from '../../src/replication/replica-position.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { chunked, makeLtxFile } from '../storage/ltx-fixtures.js';
import { openAppDb, withTempDir } from './helpers.js';

const WAIT_MS = 20_000;

async function put(client: FileReplicaClient, level: number, minTxid: bigint, maxTxid: bigint): Promise<void> {
  await client.writeLtxFile(level, minTxid, maxTxid, chunked(await makeLtxFile({ minTxid, maxTxid, timestamp: Date.now() })));
}

describe('ReplicaPosition: where a replica stands, kept in one place', () => {
  it('an empty replica: the first check makes the position known at 0', async () => {
    await withTempDir(async (dir) => {
      const p = new ReplicaPosition(new FileReplicaClient(join(dir, 'replica')));
      assert.equal(p.known, false);
      assert.equal(p.txid, 0n);
      assert.equal(p.checkDue(Number.MAX_SAFE_INTEGER), true, 'an unknown position is always due for a listing');
      const check = await p.check(0n);
      assert.equal(check.kind, 'first');
      assert.equal(p.known, true);
      assert.equal(p.txid, 0n);
      assert.equal(p.checkDue(Number.MAX_SAFE_INTEGER), false);
    });
  });

  it('after uploads: moves with each one, tells its listeners, and a listing agrees', async () => {
    await withTempDir(async (dir) => {
      const client = new FileReplicaClient(join(dir, 'replica'));
      const p = new ReplicaPosition(client);
      await p.check(0n);
      const seen: bigint[] = [];
      p.onChange((t) => seen.push(t));
      for (let t = 1n; t <= 3n; t++) {
        p.attempting(t);
        await put(client, 0, t, t);
        p.uploaded(t);
      }
      assert.equal(p.txid, 3n);
      assert.deepEqual(seen, [1n, 2n, 3n]);
      const check = await p.check(3n);
      assert.equal(check.kind, 'current');
      assert.equal(check.newest?.maxTxid, 3n);
      assert.equal(p.txid, 3n);
    });
  });

  it('an upload that failed but landed is found by the next listing', async () => {
    await withTempDir(async (dir) => {
      const client = new FileReplicaClient(join(dir, 'replica'));
      const p = new ReplicaPosition(client);
      await p.check(0n);
      p.attempting(1n);
      await put(client, 0, 1n, 1n);
      p.uploadFailed();
      assert.equal(p.txid, 0n);
      assert.equal(p.checkDue(Number.MAX_SAFE_INTEGER), true);
      assert.equal((await p.check(1n)).kind, 'current');
      assert.equal(p.txid, 1n);
    });
  });

  it('after a restart: a new position learns the replica\'s TXID from L0, or from the higher levels once L0 is gone', async () => {
    await withTempDir(async (dir) => {
      const client = new FileReplicaClient(join(dir, 'replica'));
      for (let t = 1n; t <= 4n; t++) await put(client, 0, t, t);
      const first = new ReplicaPosition(client);
      assert.equal((await first.check(4n)).kind, 'first');
      assert.equal(first.txid, 4n);

      await put(client, 1, 1n, 4n);
      const l0 = [];
      for await (const f of client.ltxFiles(0)) l0.push(f);
      await client.deleteLtxFiles(l0);
      const again = new ReplicaPosition(client);
      assert.equal(await again.list(), 4n, 'list() reads without moving the position');
      assert.equal(again.known, false);
      assert.equal((await again.check(4n)).kind, 'first');
      assert.equal(again.txid, 4n);
    });
  });

  it('after the replica was deleted: behind, the position stays at what was uploaded; a healing snapshot makes it current again', async () => {
    await withTempDir(async (dir) => {
      const root = join(dir, 'replica');
      const client = new FileReplicaClient(root);
      const p = new ReplicaPosition(client);
      await p.check(0n);
      for (let t = 1n; t <= 3n; t++) {
        await put(client, 0, t, t);
        p.uploaded(t);
      }
      await rm(root, { recursive: true, force: true });
      const behind = await p.check(3n);
      assert.deepEqual(behind.kind === 'behind' ? [behind.listed, behind.uploaded] : behind.kind, [0n, 3n]);
      assert.equal(p.txid, 3n, 'uploads go on from where they were; the replicator heals the replica');
      await put(client, 9, 1n, 3n);
      assert.equal((await p.check(3n)).kind, 'current');
      assert.equal(p.txid, 3n);
    });
  });

  it('another writer ahead of what was uploaded: ahead, and the position does not move', async () => {
    await withTempDir(async (dir) => {
      const client = new FileReplicaClient(join(dir, 'replica'));
      const p = new ReplicaPosition(client);
      await p.check(0n);
      await put(client, 0, 1n, 1n);
      const ahead = await p.check(5n);
      assert.equal(ahead.kind, 'ahead');
      assert.equal(p.txid, 0n);
    });
  });

  it('after a reset: an adopted position is taken as it is, with no listing due', async () => {
    await withTempDir(async (dir) => {
      const p = new ReplicaPosition(new FileReplicaClient(join(dir, 'replica')));
      p.adopt(7n);
      assert.equal(p.txid, 7n);
      assert.equal(p.ours, 7n);
      assert.equal(p.checkDue(60_000), false);
      p.markStale();
      assert.equal(p.checkDue(60_000), true);
    });
  });
});

describe('DbReplicator reads every replica position from its ReplicaPosition', () => {
  it('starts at 0 on an empty replica, follows uploads, is learnt again after a restart, and after the replica was reset', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const root = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const options = { dbPath, client: new FileReplicaClient(root), replicaCheckIntervalMs: 0, checkpointIntervalMs: 0, validationIntervalMs: 0 };
      try {
        let rep = await DbReplicator.open(options);
        try {
          assert.equal(rep.status().replicatedTxid, 0n);
          app.exec("INSERT INTO t (v) VALUES ('a')");
          const txid = await rep.syncAndWait({ timeoutMs: WAIT_MS });
          assert.equal(rep.status().replicatedTxid, txid);
          assert.equal(rep.status().replicas[0]!.replicatedTxid, txid);
        } finally {
          await rep.close();
        }
        const closedAt = rep.status().localTxid;

        rep = await DbReplicator.open(options);
        try {
          await rep.waitForReplication(closedAt, { timeoutMs: WAIT_MS });
          assert.equal(rep.status().replicatedTxid, closedAt, 'the position is listed again after a restart');

          // The replica is emptied behind the replicator's back: it is healed, and the position follows.
          await rm(root, { recursive: true, force: true });
          app.exec("INSERT INTO t (v) VALUES ('b')");
          const txid = await rep.syncAndWait({ timeoutMs: WAIT_MS });
          const deadline = Date.now() + WAIT_MS;
          while ((await new FileReplicaClient(root).ltxFiles(9).next()).done === true && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
          assert.equal(rep.status().replicatedTxid, txid);
          const check = await rep.verify();
          assert.equal(check.restorableTxid, txid, 'the healed replica restores to the position the replicator reports');
        } finally {
          await rep.close();
        }
      } finally {
        app.close();
      }
    });
  });
});
