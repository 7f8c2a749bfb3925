import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { restore } from '../../src/restore/restore.js';
import { FaultInjectingClient, InjectedFaultError } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { ReplicaClient } from '../../src/storage/replica-client.js';
import { v03SnapshotKey } from '../../src/storage/v03-replica-client.js';
import { makeTempDir } from '../restore/replica-fixtures.js';
import { collect, V03_EXPECTED_DB, V03_FIXTURE_GENERATION, V03_FIXTURE_REPLICA } from '../restore/v03/helpers.js';
import { canReadV03, toV03Reader } from '../../src/storage/v03-reader.js';

const GEN = V03_FIXTURE_GENERATION;

describe('FaultInjectingClient around a client that reads v0.3 backups', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await makeTempDir('faults-v03')));
  after(() => cleanup());

  it('passes the v0.3 calls through, counted as list and open, so a restore still finds the v0.3 backups', async () => {
    const faults = new FaultInjectingClient(new FileReplicaClient(V03_FIXTURE_REPLICA));
    assert.ok(canReadV03(faults));
    const out = join(dir, 'through.db');
    const r = await restore({ client: faults, outputPath: out });
    assert.equal(r.format, 'v0.3');
    assert.ok((await readFile(out)).equals(await readFile(V03_EXPECTED_DB)));
    // One snapshot and six segments opened; the generation, its snapshots and its segments listed, besides the LTX levels.
    assert.equal(faults.calls.open, 7);
    assert.ok(faults.calls.list >= 3, `${faults.calls.list} listings`);
  });

  it('applies queued failures, random failures and broken reads to the v0.3 calls', async () => {
    const faults = new FaultInjectingClient(new FileReplicaClient(V03_FIXTURE_REPLICA));
    assert.ok(canReadV03(faults));
    faults.failNext('list').failNext('open');
    await assert.rejects(toV03Reader(faults).v03Generations(), InjectedFaultError);
    assert.deepEqual(await toV03Reader(faults).v03Generations(), [GEN]);
    await assert.rejects(toV03Reader(faults).openV03WalSegment(GEN, 0, 0), InjectedFaultError);
    const stored = await readFile(join(V03_FIXTURE_REPLICA, v03SnapshotKey(GEN, 0)));
    assert.ok((await collect(await toV03Reader(faults).openV03Snapshot(GEN, 0))).equals(stored));

    faults.truncateReadsAfter(10);
    await assert.rejects(collect(await toV03Reader(faults).openV03Snapshot(GEN, 0)), /connection reset after 10 bytes/);
    faults.truncateReadsAfter();

    faults.setErrorRate(1, ['list']);
    await assert.rejects(toV03Reader(faults).v03Snapshots(GEN), InjectedFaultError);
    await assert.rejects(toV03Reader(faults).v03WalSegments(GEN), InjectedFaultError);
    faults.setErrorRate(0);
    assert.equal((await toV03Reader(faults).v03WalSegments(GEN)).length, 6);
    assert.equal(faults.injectedFaults, 5);
    assert.deepEqual({ list: faults.calls.list, open: faults.calls.open }, { list: 5, open: 3 });
  });

  it('has no v0.3 calls when the wrapped client has none', () => {
    const inner = new FileReplicaClient(V03_FIXTURE_REPLICA);
    // A client with the ReplicaClient calls only, as a backend without v0.3 support is.
    const ltxOnly: ReplicaClient = {
      type: 'ltx-only',
      init: (signal) => inner.init(signal),
      ltxFiles: (level, seek, opts) => inner.ltxFiles(level, seek, opts),
      openLtxFile: (level, min, max, opts) => inner.openLtxFile(level, min, max, opts),
      writeLtxFile: (level, min, max, data, signal) => inner.writeLtxFile(level, min, max, data, signal),
      deleteLtxFiles: (files, signal) => inner.deleteLtxFiles(files, signal),
      deleteAll: (signal) => inner.deleteAll(signal),
    };
    const faults = new FaultInjectingClient(ltxOnly);
    assert.equal(canReadV03(faults), false);
    assert.equal(faults.listRawDirs, undefined);
    assert.equal(faults.openRawObject, undefined);
  });
});
