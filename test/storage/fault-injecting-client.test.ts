import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultInjectingClient, InjectedFaultError, type ReplicaOp } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { ReplicaFileNotFoundError } from '../../src/storage/errors.js';
import { chunked, collect, listAll, makeLtxFile } from './ltx-fixtures.js';

const T0 = Date.UTC(2025, 2, 3, 4, 5, 6, 7);
const MAX_ATTEMPTS = 100;

/** The retry loop a replication loop would run: try again on any failure, up to a bound. */
async function retry<T>(fn: () => Promise<T>): Promise<{ value: T; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    try {
      return { value: await fn(), attempts };
    } catch (err) {
      if (attempts >= MAX_ATTEMPTS) throw err;
    }
  }
}

/** Reads a whole file, resuming at the byte where a broken stream stopped, as a resumable restore does. */
async function resumableRead(client: FaultInjectingClient, level: number, min: bigint, max: bigint): Promise<{ bytes: Uint8Array; breaks: number }> {
  const parts: Uint8Array[] = [];
  let offset = 0;
  let breaks = 0;
  for (;;) {
    try {
      for await (const chunk of await client.openLtxFile(level, min, max, { offset })) {
        parts.push(chunk);
        offset += chunk.length;
      }
      return { bytes: new Uint8Array(Buffer.concat(parts)), breaks };
    } catch (err) {
      assert.ok(err instanceof InjectedFaultError, String(err));
      if (++breaks > MAX_ATTEMPTS) throw err;
    }
  }
}

describe('FaultInjectingClient', () => {
  let dir: string;
  let inner: FileReplicaClient;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-faults-'));
    inner = new FileReplicaClient(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(min: bigint, pages = 2): Promise<Uint8Array> {
    return makeLtxFile({ minTxid: min, maxTxid: min, timestamp: T0 + Number(min), pages });
  }

  it('fails the next calls of an operation before they reach the real client', async () => {
    const c = new FaultInjectingClient(inner).failNext('write');
    const bytes = await file(1n);
    await assert.rejects(c.writeLtxFile(0, 1n, 1n, chunked(bytes)), (err: unknown) => {
      assert.ok(err instanceof InjectedFaultError);
      assert.equal(err.op, 'write');
      assert.equal(err.code, 'ECONNRESET');
      return true;
    });
    assert.deepEqual(await listAll(inner.ltxFiles(0)), [], 'nothing was written');
    await c.writeLtxFile(0, 1n, 1n, chunked(bytes));
    assert.equal((await listAll(inner.ltxFiles(0))).length, 1);
    assert.equal(c.injectedFaults, 1);
  });

  it('fails with a given error a given number of times, per operation', async () => {
    const bytes = await file(1n);
    await inner.writeLtxFile(0, 1n, 1n, chunked(bytes));
    const quota = new Error('quota exceeded');
    const c = new FaultInjectingClient(inner).failNext('open', { error: quota, count: 3 }).failNext('list');
    for (let i = 0; i < 3; i++) await assert.rejects(c.openLtxFile(0, 1n, 1n), quota);
    assert.deepEqual(await collect(await c.openLtxFile(0, 1n, 1n)), bytes);
    const listing = c.ltxFiles(0);
    await assert.rejects(listAll(listing), InjectedFaultError);
    assert.equal((await listAll(c.ltxFiles(0))).length, 1);
    await c.deleteAll();
    assert.equal(c.injectedFaults, 4);
  });

  it('counts every call per operation, and an idle client makes none', async () => {
    const c = new FaultInjectingClient(inner);
    assert.equal(c.totalCalls, 0);
    await c.init();
    const bytes = await file(1n);
    const info = await c.writeLtxFile(0, 1n, 1n, chunked(bytes));
    await c.writeLtxFile(0, 2n, 2n, chunked(await file(2n)));
    await listAll(c.ltxFiles(0));
    await collect(await c.openLtxFile(0, 1n, 1n));
    await c.deleteLtxFiles([info]);
    await c.deleteAll();
    assert.deepEqual(c.calls, { init: 1, list: 1, open: 1, write: 2, delete: 1, deleteAll: 1 });
    assert.equal(c.totalCalls, 7);
    c.resetCalls();
    assert.equal(c.totalCalls, 0);
    c.ltxFiles(0);
    assert.equal(c.calls.list, 0, 'a listing that is never read makes no request');
    await assert.rejects(c.openLtxFile(0, 9n, 9n), ReplicaFileNotFoundError);
    assert.deepEqual(c.calls, { init: 0, list: 0, open: 1, write: 0, delete: 0, deleteAll: 0 });
  });

  it('fails at random at the configured rate, reproducibly from the seed, and a retry loop converges', async () => {
    const failures = async (seed: number): Promise<boolean[]> => {
      const c = new FaultInjectingClient(inner, { seed, errorRate: 0.5, ops: ['list'] });
      const out: boolean[] = [];
      for (let i = 0; i < 40; i++) out.push(await listAll(c.ltxFiles(0)).then(() => false, () => true));
      return out;
    };
    const a = await failures(42);
    assert.deepEqual(await failures(42), a);
    assert.notDeepEqual(await failures(43), a);
    const rate = a.filter(Boolean).length / a.length;
    assert.ok(rate > 0.2 && rate < 0.8, `failure rate ${rate}`);

    const c = new FaultInjectingClient(inner, { seed: 7, errorRate: 0.4 });
    const written: Uint8Array[] = [];
    let attempts = 0;
    for (let i = 1n; i <= 20n; i++) {
      const bytes = await file(i, 3);
      written.push(bytes);
      attempts += (await retry(() => c.writeLtxFile(0, i, i, chunked(bytes)))).attempts;
    }
    assert.ok(attempts > 20, 'some writes were retried');
    const listed = (await retry(() => listAll(c.ltxFiles(0)))).value;
    assert.equal(listed.length, 20);
    for (const f of listed) {
      const got = (await retry(async () => collect(await c.openLtxFile(0, f.minTxid, f.maxTxid)))).value;
      assert.deepEqual(got, written[Number(f.minTxid) - 1]);
    }
    assert.ok(c.injectedFaults > 0);
    assert.equal(c.calls.write, attempts);
  });

  it('leaves the operations outside `ops` alone', async () => {
    const c = new FaultInjectingClient(inner, { errorRate: 1, ops: ['write'] });
    await assert.rejects(c.writeLtxFile(0, 1n, 1n, chunked(await file(1n))), InjectedFaultError);
    assert.deepEqual(await listAll(c.ltxFiles(0)), []);
    await c.deleteAll();
    c.setErrorRate(0);
    await c.writeLtxFile(0, 1n, 1n, chunked(await file(1n)));
    c.setErrorRate(1, ['delete'] satisfies ReplicaOp[]);
    await assert.rejects(c.deleteLtxFiles(await listAll(c.ltxFiles(0))), InjectedFaultError);
  });

  it('breaks read streams off after N bytes with a connection reset, and resuming at the offset converges', async () => {
    const bytes = await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: 60, pageSize: 4096, incompressible: true });
    await inner.writeLtxFile(9, 1n, 1n, chunked(bytes));
    const c = new FaultInjectingClient(inner, { truncateReadsAfter: 1000 });
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of await c.openLtxFile(9, 1n, 1n)) got += chunk.length;
      })(),
      (err: unknown) => err instanceof InjectedFaultError && err.code === 'ECONNRESET' && /after 1000 bytes/.test(err.message),
    );
    assert.equal(got, 1000);

    c.truncateReadsAfter(100_000);
    const { bytes: whole, breaks } = await resumableRead(c, 9, 1n, 1n);
    assert.equal(breaks, Math.ceil(bytes.length / 100_000) - 1);
    assert.deepEqual(whole, bytes);

    c.truncateReadsAfter();
    assert.deepEqual(await collect(await c.openLtxFile(9, 1n, 1n)), bytes);
    assert.deepEqual(await collect(await c.openLtxFile(9, 1n, 1n, { offset: 10, size: 20 })), bytes.subarray(10, 30));
  });

  it('delays every call', async () => {
    const c = new FaultInjectingClient(inner, { delayMs: 40 });
    const start = performance.now();
    await c.init();
    await listAll(c.ltxFiles(0));
    assert.ok(performance.now() - start >= 75, 'two calls took at least two delays');
    c.setDelay(0);
    const ac = new AbortController();
    c.setDelay(10_000);
    const pending = c.init(ac.signal);
    ac.abort();
    await assert.rejects(pending, { name: 'AbortError' });
  });

  it('hides freshly written files from listings for the lag window', async () => {
    let now = 1_000_000;
    const c = new FaultInjectingClient(inner, { listLagMs: 500, now: () => now });
    await c.writeLtxFile(0, 1n, 1n, chunked(await file(1n)));
    now += 300;
    await c.writeLtxFile(0, 2n, 2n, chunked(await file(2n)));
    assert.deepEqual(await listAll(c.ltxFiles(0)), []);
    assert.equal((await listAll(inner.ltxFiles(0))).length, 2, 'the files are stored');
    assert.equal((await collect(await c.openLtxFile(0, 1n, 1n))).length > 0, true, 'and readable by name');
    now += 250;
    assert.deepEqual((await listAll(c.ltxFiles(0))).map((f) => f.minTxid), [1n]);
    now += 300;
    assert.deepEqual((await listAll(c.ltxFiles(0))).map((f) => f.minTxid), [1n, 2n]);
    c.setListLag(0);
    await c.writeLtxFile(0, 3n, 3n, chunked(await file(3n)));
    assert.equal((await listAll(c.ltxFiles(0))).length, 3);
  });

  it('passes the type of the wrapped client through', () => {
    assert.equal(new FaultInjectingClient(inner).type, 'file');
  });
});
