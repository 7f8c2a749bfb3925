import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { createCompactionCounters } from '../../src/compaction/counters.js';
import { CompactionOptionsError } from '../../src/compaction/errors.js';
import { enforceL0Retention } from '../../src/compaction/l0-retention.js';
import { enforceSnapshotRetention } from '../../src/compaction/snapshot-retention.js';
import { calcRestorePlan } from '../../src/restore/plan.js';
import type { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { LtxFileInfo } from '../../src/storage/replica-client.js';
import { makeLtxFile } from '../storage/ltx-fixtures.js';
import { makeReplica, makeTempDir, placeRaw, putSynthetic } from '../restore/replica-fixtures.js';
import { ranges } from './fixtures.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2024, 5, 1, 12);

/** Files of one level as [min, max, created hours before NOW]. */
async function fill(client: FileReplicaClient, level: number, files: [number, number, number][]): Promise<void> {
  for (const [min, max, ageH] of files) await putSynthetic(client, level, BigInt(min), BigInt(max), NOW - ageH * HOUR);
}

/** L0 files min..max, one per TXID, created `ageMs(txid)` before NOW. */
async function fillL0(client: FileReplicaClient, from: number, to: number, ageMs: (t: number) => number): Promise<void> {
  for (let t = from; t <= to; t++) await putSynthetic(client, 0, BigInt(t), BigInt(t), NOW - ageMs(t));
}

describe('enforceSnapshotRetention', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const replica = (): Promise<FileReplicaClient> => makeReplica(dir, `s${n++}`);
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('snapshot-retention'));
  });
  after(() => cleanup());

  /** Four snapshots (two older than a day), L1..L3 and L0, all contiguous from TXID 1 to 45. */
  async function layered(): Promise<FileReplicaClient> {
    const c = await replica();
    await fill(c, 9, [
      [1, 10, 30],
      [1, 20, 25],
      [1, 30, 2],
      [1, 40, 1],
    ]);
    await fill(c, 3, [[1, 35, 3]]);
    await fill(c, 2, [
      [1, 15, 4],
      [16, 35, 3],
      [36, 40, 1],
    ]);
    await fill(c, 1, [
      [1, 5, 5],
      [6, 15, 4],
      [16, 25, 3],
      [26, 35, 3],
      [36, 45, 1],
    ]);
    await fillL0(c, 44, 45, () => HOUR);
    return c;
  }

  it('deletes snapshots older than the retention and trims levels 1..max up to the newest one deleted', async () => {
    const c = await layered();
    const counters = createCompactionCounters();
    const r = await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW, counters });
    assert.deepEqual(await ranges(c, 9), ['1-30', '1-40']);
    assert.deepEqual(r.deletedSnapshots.map((f) => `${f.minTxid}-${f.maxTxid}`), ['1-10', '1-20']);
    assert.equal(r.floorTxid, 20n);
    assert.deepEqual(await ranges(c, 3), ['1-35'], 'the last file of a level is kept');
    assert.deepEqual(await ranges(c, 2), ['16-35', '36-40']);
    assert.deepEqual(await ranges(c, 1), ['16-25', '26-35', '36-45']);
    assert.deepEqual(await ranges(c, 0), ['44-44', '45-45'], 'L0 is left to L0 retention');
    assert.equal(counters.filesDeleted[9], 2);
    assert.equal(counters.filesDeleted[1], 2);
    assert.equal(counters.filesDeleted[2], 1);
    for (const txid of [30n, 35n, 40n, 45n]) assert.equal((await calcRestorePlan(c, { txid })).txid, txid);
  });

  it('on a run that deletes no snapshot, trims up to the oldest snapshot kept', async () => {
    const c = await layered();
    await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW });
    const r = await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW + 1000 });
    assert.deepEqual(r.deletedSnapshots, []);
    assert.equal(r.floorTxid, 30n);
    assert.deepEqual(await ranges(c, 1), ['26-35', '36-45']);
    for (const txid of [30n, 40n, 45n]) assert.equal((await calcRestorePlan(c, { txid })).txid, txid);
  });

  it('always keeps the newest snapshot, and an idle database converges to it', async () => {
    const c = await replica();
    await fill(c, 9, [
      [1, 10, 80],
      [1, 12, 50],
    ]);
    await fill(c, 1, [
      [1, 10, 81],
      [11, 12, 51],
    ]);
    // Only L1 is configured, so L1 is the top level and needs no level above to hold its files.
    const levels = new CompactionLevels([
      { level: 0, intervalMs: 0 },
      { level: 1, intervalMs: 30_000 },
    ]);
    const first = await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW, levels });
    assert.deepEqual(await ranges(c, 9), ['1-12']);
    assert.equal(first.floorTxid, 10n);
    assert.deepEqual(await ranges(c, 1), ['1-10', '11-12'], 'nothing is below the floor of 10');
    const second = await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW, levels });
    assert.equal(second.floorTxid, 12n);
    assert.deepEqual(await ranges(c, 1), ['11-12']);
    assert.deepEqual(await ranges(c, 9), ['1-12']);
  });

  it('keeps files the next level up does not hold yet, so that compaction finds its sources', async () => {
    const c = await replica();
    await fill(c, 9, [
      [1, 5, 30],
      [1, 50, 1],
    ]);
    await fill(c, 3, [[1, 20, 5]]);
    await fill(c, 2, [
      [1, 20, 5],
      [21, 30, 4],
      [31, 40, 3],
    ]);
    await fill(c, 1, [
      [1, 20, 5],
      [21, 30, 4],
      [31, 35, 3],
      [36, 40, 3],
      [41, 50, 1],
    ]);
    const r = await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW });
    assert.equal(r.floorTxid, 5n);
    const again = await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW });
    assert.equal(again.floorTxid, 50n);
    assert.deepEqual(await ranges(c, 3), ['1-20']);
    assert.deepEqual(await ranges(c, 2), ['21-30', '31-40'], 'L2 beyond L3 (TXID 20) stays');
    assert.deepEqual(await ranges(c, 1), ['41-50'], 'L1 up to L2 (TXID 40) goes');
  });

  it('with deleteRemote false decides but deletes nothing; refuses a non-positive retention', async () => {
    const c = await layered();
    const r = await enforceSnapshotRetention({ client: c, retentionMs: 24 * HOUR, now: NOW, deleteRemote: false });
    assert.equal(r.floorTxid, 20n);
    assert.deepEqual(r.deletedFiles, []);
    assert.equal((await ranges(c, 9)).length, 4);
    assert.equal((await ranges(c, 1)).length, 5);
    await assert.rejects(enforceSnapshotRetention({ client: c, retentionMs: 0, now: NOW }), CompactionOptionsError);
  });

  it('does nothing without snapshots', async () => {
    const c = await replica();
    await fill(c, 1, [[1, 5, 50]]);
    const r = await enforceSnapshotRetention({ client: c, retentionMs: HOUR, now: NOW, levels: new CompactionLevels() });
    assert.equal(r.floorTxid, 0n);
    assert.deepEqual(await ranges(c, 1), ['1-5']);
  });
});

describe('enforceL0Retention', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const replica = (): Promise<FileReplicaClient> => makeReplica(dir, `l${n++}`);
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('l0-retention'));
  });
  after(() => cleanup());

  const MIN = 60_000;

  it('deletes old L0 files that L1 holds, stops at the first recent one, and removes the local copies', async () => {
    const c = await replica();
    const local = await replica();
    // TXIDs 1..10 created 20..11 minutes ago, 11..12 one minute ago.
    const age = (t: number): number => (t <= 10 ? (21 - t) * MIN : MIN);
    await fillL0(c, 1, 12, age);
    await fillL0(local, 1, 12, age);
    await fill(c, 1, [[1, 8, 0.2]]);
    const counters = createCompactionCounters();
    const r = await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW, localL0: local, counters });
    assert.equal(r.maxL1Txid, 8n);
    assert.deepEqual(r.deleted.map((f) => Number(f.minTxid)), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(r.eligible, 8);
    assert.equal(r.notCompacted, 2);
    assert.equal(r.tooRecent, 2);
    assert.deepEqual(counters.l0Retention, { eligible: 8, notCompacted: 2, tooRecent: 2 });
    assert.equal(counters.filesDeleted[0], 8);
    assert.deepEqual(await ranges(c, 0), ['9-9', '10-10', '11-11', '12-12']);
    assert.deepEqual(await ranges(local, 0), ['9-9', '10-10', '11-11', '12-12']);
    assert.equal((await calcRestorePlan(c)).txid, 12n);
  });

  it('keeps the newest L0 file even when L1 holds it and it is old', async () => {
    const c = await replica();
    await fillL0(c, 1, 4, () => 60 * MIN);
    await fill(c, 1, [[1, 4, 0.5]]);
    const r = await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW });
    assert.equal(r.eligible, 4);
    assert.deepEqual(await ranges(c, 0), ['4-4']);
  });

  it('keeps every L0 file restorable to exactly: deleting stops where an L1 file reaching past a kept file begins', async () => {
    const c = await replica();
    // TXIDs 1..14 old, 15..16 recent; L1 holds 1-8 and 9-16, so deleting 9..14 would strand 15 and 16.
    await fillL0(c, 1, 16, (t) => (t <= 14 ? 60 * MIN : MIN));
    await fill(c, 1, [
      [1, 8, 0.5],
      [9, 16, 0.1],
    ]);
    const r = await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW });
    assert.equal(r.eligible, 14);
    assert.deepEqual(r.deleted.map((f) => Number(f.minTxid)), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual((await ranges(c, 0))[0], '9-9');
    for (const txid of [9n, 12n, 15n, 16n]) assert.equal((await calcRestorePlan(c, { txid })).txid, txid, `TXID ${txid} restorable`);
  });

  it('never deletes an L0 file that falls in a hole of L1', async () => {
    const c = await replica();
    await fillL0(c, 1, 9, () => 60 * MIN);
    await fill(c, 1, [
      [1, 3, 1],
      [6, 8, 1],
    ]);
    const r = await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW });
    assert.deepEqual(r.deleted.map((f) => Number(f.minTxid)), [1, 2, 3, 6, 7, 8]);
    assert.equal(r.notCompacted, 3);
    assert.deepEqual(await ranges(c, 0), ['4-4', '5-5', '9-9']);
  });

  it('deletes old L0 files below the start of a trimmed L1 only when a snapshot holds them', async () => {
    const c = await replica();
    await fillL0(c, 1, 10, () => 60 * MIN);
    await fill(c, 1, [[6, 10, 1]]);
    const r = await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW });
    assert.deepEqual(r.deleted.map((f) => Number(f.minTxid)), [6, 7, 8, 9], 'no snapshot: TXIDs 1..5 exist only in L0');
    assert.equal(r.notCompacted, 5);
    await fill(c, 9, [[1, 5, 1]]);
    const again = await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW });
    assert.deepEqual(again.deleted.map((f) => Number(f.minTxid)), [1, 2, 3, 4, 5]);
    assert.deepEqual(await ranges(c, 0), ['10-10']);
  });

  it('does nothing while L1 is empty or with retention off', async () => {
    const c = await replica();
    await fillL0(c, 1, 3, () => 60 * MIN);
    assert.deepEqual((await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW })).deleted, []);
    await fill(c, 1, [[1, 3, 1]]);
    assert.deepEqual((await enforceL0Retention({ client: c, l0RetentionMs: 0, now: NOW })).deleted, []);
    assert.equal((await ranges(c, 0)).length, 3);
  });

  it('counts a file whose creation time the backend lost as old enough', async () => {
    const c = await replica();
    for (let t = 1n; t <= 3n; t++) await placeRaw(c, 0, t, t, await makeLtxFile({ minTxid: t, maxTxid: t, timestamp: NOW }), new Date(0));
    await fill(c, 1, [[1, 3, 0]]);
    const r = await enforceL0Retention({ client: c, l0RetentionMs: 5 * MIN, now: NOW });
    assert.deepEqual(r.deleted.map((f) => Number(f.minTxid)), [1, 2]);
  });

  it('with deleteRemote false removes only the local copies, through a deleter the replicator supplies', async () => {
    const c = await replica();
    await fillL0(c, 1, 5, () => 60 * MIN);
    await fill(c, 1, [[1, 5, 1]]);
    const seen: LtxFileInfo[][] = [];
    const r = await enforceL0Retention({
      client: c,
      l0RetentionMs: 5 * MIN,
      now: NOW,
      deleteRemote: false,
      localL0: {
        delete: (files) => {
          seen.push([...files]);
          return Promise.resolve();
        },
      },
    });
    assert.equal(r.deleted.length, 4);
    assert.deepEqual(seen.map((b) => b.map((f) => Number(f.minTxid))), [[1, 2, 3, 4]]);
    assert.equal((await ranges(c, 0)).length, 5);
  });

  it('reports a failed local delete without hiding the remote one', async () => {
    const c = await replica();
    await fillL0(c, 1, 3, () => 60 * MIN);
    await fill(c, 1, [[1, 3, 1]]);
    const r = await enforceL0Retention({
      client: c,
      l0RetentionMs: 5 * MIN,
      now: NOW,
      localL0: { delete: () => Promise.reject(new Error('EACCES: permission denied')) },
    });
    assert.deepEqual(await ranges(c, 0), ['3-3']);
    assert.match(String(r.localDeleteError?.message), /2 local L0 file\(s\): EACCES/);
  });
});
