// The final sync at close, as shutdown-sync-timeout and shutdown-sync-interval shape it: a replica that
// fails a few uploads is retried at the shutdown's own interval (not the backoff), and with a single
// attempt the first failure is the error. Real SQLite, a directory replica behind FaultInjectingClient.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { ReplicationTimeoutError } from '../../src/replication/errors.js';
import { Store } from '../../src/store/store.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';

/** A backoff so long that only the shutdown's retry interval can get the upload through in time. */
const SLOW_BACKOFF = { uploadRetryBaseMs: 120_000, uploadRetryMaxMs: 120_000 };

describe('final sync at close', () => {
  let dir: string;
  let n = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-shutdown-sync-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function setup(): Promise<{ app: Database.Database; flaky: FaultInjectingClient; r: DbReplicator; replica: FileReplicaClient }> {
    const dbPath = join(dir, `db${++n}.db`);
    const app = new Database(dbPath);
    app.pragma('journal_mode = wal');
    app.exec('CREATE TABLE t (x)');
    const replica = new FileReplicaClient(join(dir, `replica${n}`));
    const flaky = new FaultInjectingClient(replica);
    const r = await DbReplicator.open({ dbPath, client: flaky, syncIntervalMs: 60_000, ...SLOW_BACKOFF });
    await r.syncAndWait();
    return { app, flaky, r, replica };
  }

  async function newestOnReplica(replica: FileReplicaClient): Promise<bigint> {
    let max = 0n;
    for await (const f of replica.ltxFiles(0)) if (f.maxTxid > max) max = f.maxTxid;
    return max;
  }

  it('retries failed uploads every retryIntervalMs until the replica holds the last commit', async () => {
    const { app, flaky, r, replica } = await setup();
    app.prepare('INSERT INTO t VALUES (?)').run(1);
    flaky.failNext('write', { count: 3 });
    const writesBefore = flaky.calls.write;
    await r.close({ timeoutMs: 20_000, retryIntervalMs: 20 });
    app.close();
    assert.equal(flaky.calls.write - writesBefore, 4, 'three failures, then the upload');
    assert.equal(await newestOnReplica(replica), 2n);
  });

  it('without retryIntervalMs the backoff rules, and the timeout names the replica and the error', async () => {
    const { app, flaky, r } = await setup();
    app.prepare('INSERT INTO t VALUES (?)').run(1);
    flaky.failNext('write', { count: 3 });
    await assert.rejects(r.close({ timeoutMs: 500 }), (err: unknown) => {
      assert.ok(err instanceof ReplicationTimeoutError);
      assert.match(err.message, /did not reach TXID 0000000000000002 within 500 ms .*injected write failure/);
      return true;
    });
    app.close();
  });

  it('with singleAttempt, one upload per replica: the first failure is the error, a success closes', async () => {
    const failing = await setup();
    failing.app.prepare('INSERT INTO t VALUES (?)').run(1);
    failing.flaky.failNext('write', { count: 1 });
    const before = failing.flaky.calls.write;
    await assert.rejects(failing.r.close({ singleAttempt: true }), /injected write failure/);
    failing.app.close();
    assert.equal(failing.flaky.calls.write - before, 1, 'exactly one attempt');

    const fine = await setup();
    fine.app.prepare('INSERT INTO t VALUES (?)').run(1);
    await fine.r.close({ singleAttempt: true });
    fine.app.close();
    assert.equal(await newestOnReplica(fine.replica), 2n);
  });

  it('Store.close passes the shutdown settings to every database', async () => {
    const paths = [join(dir, 'store-a.db'), join(dir, 'store-b.db')];
    const flakies = paths.map((p, i) => {
      const app = new Database(p);
      app.pragma('journal_mode = wal');
      app.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
      app.close();
      return new FaultInjectingClient(new FileReplicaClient(join(dir, `store-replica-${i}`)));
    });
    const store = await Store.open(
      paths.map((path, i) => ({ path, client: flakies[i]!, replicator: { syncIntervalMs: 60_000 } })),
      { compaction: false },
    );
    for (const p of paths) await store.replicator(p)!.syncAndWait();
    for (const [i, p] of paths.entries()) {
      const app = new Database(p);
      app.prepare('INSERT INTO t VALUES (?)').run(2);
      app.close();
      flakies[i]!.failNext('write', { count: 2 });
    }
    await store.close({ timeoutMs: 20_000, retryIntervalMs: 20 });
    for (const f of flakies) assert.ok(f.injectedFaults >= 2);
  });
});
