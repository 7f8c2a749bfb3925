import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calcRestorePlan, type RestorePlan } from '../../src/restore/plan.js';
import {
  NoBackupsError,
  RestoreGapError,
  RestoreOptionsError,
  RestoreTargetUnavailableError,
} from '../../src/restore/errors.js';
import type { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { ListOptions, LtxFileInfo, ReplicaClient } from '../../src/storage/replica-client.js';
import { makeReplica, makeTempDir, putSynthetic, T0 } from './replica-fixtures.js';

/** `L<level> <min>-<max>` in decimal, for readable expectations. */
function show(plan: RestorePlan): string[] {
  return plan.files.map((f) => `L${f.level} ${f.minTxid}-${f.maxTxid}`);
}

/** Files of one level, as `[min, max]` pairs (timestamps: max TXID in seconds after T0). */
async function fill(client: FileReplicaClient, level: number, ranges: [number, number][]): Promise<void> {
  for (const [min, max] of ranges) await putSynthetic(client, level, BigInt(min), BigInt(max));
}

function l0(from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  for (let t = from; t <= to; t++) out.push([t, t]);
  return out;
}

/** Wraps a client to record each listing call (level and options). */
function spy(inner: ReplicaClient): { client: ReplicaClient; listings: { level: number; useMetadata: boolean }[] } {
  const listings: { level: number; useMetadata: boolean }[] = [];
  const client: ReplicaClient = {
    type: inner.type,
    init: (s) => inner.init(s),
    ltxFiles(level: number, seek?: bigint, opts: ListOptions = {}) {
      listings.push({ level, useMetadata: opts.useMetadata === true });
      return inner.ltxFiles(level, seek, opts);
    },
    openLtxFile: (...a) => inner.openLtxFile(...a),
    writeLtxFile: (...a) => inner.writeLtxFile(...a),
    deleteLtxFiles: (...a) => inner.deleteLtxFiles(...a),
    deleteAll: (s) => inner.deleteAll(s),
  };
  return { client, listings };
}

/**
 * A listing-only replica, for what a directory cannot hold: two entries with
 * the same level and TXIDs that differ only in their creation time.
 */
function listingOnly(files: LtxFileInfo[]): ReplicaClient {
  const fail = (): never => {
    throw new Error('listing-only replica');
  };
  return {
    type: 'memory',
    init: async () => undefined,
    async *ltxFiles(level: number) {
      yield* files.filter((f) => f.level === level);
    },
    openLtxFile: fail,
    writeLtxFile: fail,
    deleteLtxFiles: fail,
    deleteAll: fail,
  };
}

describe('calcRestorePlan', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const replica = (): Promise<FileReplicaClient> => makeReplica(dir, `r${n++}`);

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('restore-plan'));
  });
  after(() => cleanup());

  describe('empty and minimal replicas', () => {
    it('an empty replica is NoBackupsError naming the replica', async () => {
      const client = await replica();
      await assert.rejects(calcRestorePlan(client), (err: unknown) => {
        assert.ok(err instanceof NoBackupsError);
        assert.equal(err.message, `no backups found in ${client.root}`);
        return true;
      });
      await assert.rejects(calcRestorePlan(client, { txid: 3n }), NoBackupsError);
      await assert.rejects(calcRestorePlan(client, { timestamp: new Date(T0) }), NoBackupsError);
      await assert.rejects(calcRestorePlan(client, { replicaName: 's3://bucket/db' }), /^NoBackupsError: no backups found in s3:\/\/bucket\/db$/);
    });

    it('L0 files only, from TXID 1', async () => {
      const client = await replica();
      await fill(client, 0, l0(1, 4));
      const plan = await calcRestorePlan(client);
      assert.deepEqual(show(plan), ['L0 1-1', 'L0 2-2', 'L0 3-3', 'L0 4-4']);
      assert.equal(plan.txid, 4n);
    });

    it('a single file in any level, here L5', async () => {
      const client = await replica();
      await fill(client, 5, [[1, 20]]);
      assert.deepEqual(show(await calcRestorePlan(client)), ['L5 1-20']);
    });

    it('a snapshot alone', async () => {
      const client = await replica();
      await fill(client, 9, [[1, 7]]);
      const plan = await calcRestorePlan(client);
      assert.deepEqual(show(plan), ['L9 1-7']);
      assert.equal(plan.txid, 7n);
    });
  });

  describe('snapshots, compactions and L0 together', () => {
    it('takes the newest snapshot, then L1, then L0', async () => {
      const client = await replica();
      await fill(client, 9, [
        [1, 5],
        [1, 10],
      ]);
      await fill(client, 1, [
        [1, 10],
        [11, 20],
        [21, 30],
      ]);
      await fill(client, 0, l0(21, 33));
      assert.deepEqual(show(await calcRestorePlan(client)), ['L9 1-10', 'L1 11-20', 'L1 21-30', 'L0 31-31', 'L0 32-32', 'L0 33-33']);
    });

    it('overlapping compactions: the file reaching furthest wins at each step', async () => {
      const client = await replica();
      await fill(client, 2, [[1, 20]]);
      await fill(client, 1, [
        [1, 10],
        [11, 18],
        [19, 26],
      ]);
      await fill(client, 0, l0(15, 28));
      // From 0: L2 1-20 beats L1 1-10. From 20: L1 19-26 (min 19 <= 21) beats L0 21-21. Then L0 27, 28.
      assert.deepEqual(show(await calcRestorePlan(client)), ['L2 1-20', 'L1 19-26', 'L0 27-27', 'L0 28-28']);
    });

    it('a file that overlaps what is already covered still extends the chain', async () => {
      const client = await replica();
      await fill(client, 0, l0(1, 8));
      await fill(client, 1, [[5, 12]]);
      // L0 1..8 are all candidates only one step at a time; L1 5-12 is not eligible until TXID 4 is covered.
      assert.deepEqual(show(await calcRestorePlan(client)), ['L0 1-1', 'L0 2-2', 'L0 3-3', 'L0 4-4', 'L1 5-12']);
    });

    it('a gap in one level bridged by another level is not a gap', async () => {
      const client = await replica();
      await fill(client, 1, [
        [1, 10],
        [21, 30],
      ]);
      await fill(client, 0, l0(11, 20));
      const plan = await calcRestorePlan(client);
      assert.equal(plan.files.length, 12);
      assert.deepEqual(show(plan).slice(0, 2), ['L1 1-10', 'L0 11-11']);
      assert.deepEqual(show(plan).slice(-1), ['L1 21-30']);
    });

    it('L0 files older than the snapshot are passed over', async () => {
      const client = await replica();
      await fill(client, 9, [[1, 6]]);
      await fill(client, 0, l0(1, 8));
      assert.deepEqual(show(await calcRestorePlan(client)), ['L9 1-6', 'L0 7-7', 'L0 8-8']);
    });

    it('L0 retention removed early files: the compaction covers them (Litestream #1084)', async () => {
      const client = await replica();
      await fill(client, 1, [
        [1, 4],
        [5, 8],
      ]);
      await fill(client, 0, l0(6, 9));
      assert.deepEqual(show(await calcRestorePlan(client)), ['L1 1-4', 'L1 5-8', 'L0 9-9']);
    });

    it('lists each level once, with cheap timestamps when no time is asked for', async () => {
      const inner = await replica();
      await fill(inner, 9, [[1, 3]]);
      await fill(inner, 1, [[4, 6]]);
      await fill(inner, 0, l0(4, 8));
      const { client, listings } = spy(inner);
      await calcRestorePlan(client);
      assert.deepEqual(listings.map((l) => l.level).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.ok(listings.every((l) => !l.useMetadata));
    });
  });

  describe('tie-breaking between files that reach the same TXID', () => {
    it('prefers the smaller MinTXID', async () => {
      const client = await replica();
      await fill(client, 0, l0(1, 1));
      await fill(client, 1, [[2, 5]]);
      await fill(client, 2, [[3, 10]]);
      await fill(client, 4, [[6, 10]]);
      // From 5 both reach 10; L2 3-10 starts earlier, even though L4 is the higher level.
      assert.deepEqual(show(await calcRestorePlan(client)), ['L0 1-1', 'L1 2-5', 'L2 3-10']);
    });

    it('then the higher level', async () => {
      const client = await replica();
      await fill(client, 0, l0(1, 1));
      await fill(client, 1, [[2, 10]]);
      await fill(client, 2, [[2, 10]]);
      await fill(client, 0, l0(2, 10));
      assert.deepEqual(show(await calcRestorePlan(client)), ['L0 1-1', 'L2 2-10']);
    });

    it('then the earlier creation time', async () => {
      const at = (s: number): Date => new Date(T0 + s * 1000);
      const file = (level: number, min: bigint, max: bigint, created: Date): LtxFileInfo => ({
        level,
        minTxid: min,
        maxTxid: max,
        size: 1000,
        createdAt: created,
      });
      const client = listingOnly([
        file(0, 1n, 1n, at(1)),
        file(1, 2n, 9n, at(30)),
        file(1, 2n, 9n, at(20)),
        file(1, 2n, 9n, at(40)),
      ]);
      const plan = await calcRestorePlan(client);
      assert.equal(plan.files.length, 2);
      assert.equal(plan.files[1]!.createdAt.getTime(), at(20).getTime());
    });
  });

  describe('gaps', () => {
    it('a missing range between L0 files is RestoreGapError naming it', async () => {
      const client = await replica();
      await fill(client, 0, [...l0(1, 4), ...l0(8, 10)]);
      await assert.rejects(calcRestorePlan(client), (err: unknown) => {
        assert.ok(err instanceof RestoreGapError);
        assert.match(err.message, /^replica has no file covering TXIDs 0000000000000005-0000000000000007 /);
        assert.match(err.message, /files reach TXID 0000000000000004/);
        assert.match(err.message, /next file is level 0 0000000000000008-0000000000000008\.ltx/);
        assert.equal(err.from, 5n);
        assert.equal(err.to, 7n);
        assert.equal(err.restorableTxid, 4n);
        return true;
      });
    });

    it('no snapshot: the chain must start at TXID 1', async () => {
      const client = await replica();
      await fill(client, 1, [[3, 10]]);
      await fill(client, 0, l0(11, 12));
      await assert.rejects(calcRestorePlan(client), (err: unknown) => {
        assert.ok(err instanceof RestoreGapError);
        assert.match(err.message, /no file covering TXIDs 0000000000000001-0000000000000002 \(no snapshot or file starts at TXID 0000000000000001/);
        assert.equal(err.restorableTxid, 0n);
        return true;
      });
    });

    it('a gap in a higher level with nothing below it', async () => {
      const client = await replica();
      await fill(client, 2, [
        [1, 10],
        [21, 30],
      ]);
      await assert.rejects(calcRestorePlan(client), /no file covering TXIDs 000000000000000b-0000000000000014/);
    });

    it('the smallest gap is reported when levels resume at different TXIDs', async () => {
      const client = await replica();
      await fill(client, 9, [[1, 4]]);
      await fill(client, 1, [[7, 9]]);
      await fill(client, 0, l0(9, 10));
      await assert.rejects(calcRestorePlan(client), (err: unknown) => {
        assert.ok(err instanceof RestoreGapError);
        assert.equal(err.from, 5n);
        assert.equal(err.to, 6n);
        return true;
      });
    });

    it('a level-9 file that does not start at TXID 1 is not taken as a snapshot', async () => {
      const client = await replica();
      await fill(client, 9, [[3, 9]]);
      await fill(client, 0, l0(1, 2));
      assert.deepEqual(show(await calcRestorePlan(client)), ['L0 1-1', 'L0 2-2']);
    });
  });

  describe('target TXID', () => {
    let client: FileReplicaClient;
    before(async () => {
      client = await replica();
      await fill(client, 9, [
        [1, 5],
        [1, 10],
      ]);
      await fill(client, 1, [[11, 15]]);
      await fill(client, 0, l0(1, 18));
    });

    it('the newest snapshot at or below the target, then files up to it exactly', async () => {
      assert.deepEqual(show(await calcRestorePlan(client, { txid: 12n })), ['L9 1-10', 'L0 11-11', 'L0 12-12']);
      assert.deepEqual(show(await calcRestorePlan(client, { txid: 10n })), ['L9 1-10']);
      assert.deepEqual(show(await calcRestorePlan(client, { txid: 7n })), ['L9 1-5', 'L0 6-6', 'L0 7-7']);
      assert.deepEqual(show(await calcRestorePlan(client, { txid: 15n })), ['L9 1-10', 'L1 11-15']);
      assert.deepEqual(show(await calcRestorePlan(client, { txid: 17n })), ['L9 1-10', 'L1 11-15', 'L0 16-16', 'L0 17-17']);
      assert.deepEqual(show(await calcRestorePlan(client, { txid: 2n })), ['L0 1-1', 'L0 2-2']);
      const plan = await calcRestorePlan(client, { txid: 13n });
      assert.equal(plan.txid, 13n);
      assert.deepEqual(show(plan), ['L9 1-10', 'L0 11-11', 'L0 12-12', 'L0 13-13']);
    });

    it('a target past the newest file names the highest restorable TXID', async () => {
      await assert.rejects(calcRestorePlan(client, { txid: 40n }), (err: unknown) => {
        assert.ok(err instanceof RestoreTargetUnavailableError);
        assert.equal(
          err.message,
          'cannot restore to TXID 0000000000000028: the highest restorable TXID below it is 0000000000000012',
        );
        assert.equal(err.restorableTxid, 18n);
        return true;
      });
    });

    it('a target inside a compaction whose L0 files are gone cannot be reached exactly', async () => {
      const c = await replica();
      await fill(c, 1, [
        [1, 4],
        [5, 10],
      ]);
      await fill(c, 0, l0(9, 12));
      await assert.rejects(calcRestorePlan(c, { txid: 7n }), (err: unknown) => {
        assert.ok(err instanceof RestoreTargetUnavailableError);
        assert.equal(err.restorableTxid, 4n);
        assert.match(err.message, /highest restorable TXID below it is 0000000000000004$/);
        return true;
      });
      assert.deepEqual(show(await calcRestorePlan(c, { txid: 10n })), ['L1 1-4', 'L1 5-10']);
      assert.deepEqual(show(await calcRestorePlan(c, { txid: 11n })), ['L1 1-4', 'L1 5-10', 'L0 11-11']);
    });

    it('a gap below the target is named in the error', async () => {
      const c = await replica();
      await fill(c, 0, [...l0(1, 4), ...l0(8, 10)]);
      await assert.rejects(calcRestorePlan(c, { txid: 9n }), (err: unknown) => {
        assert.ok(err instanceof RestoreTargetUnavailableError);
        assert.equal(err.restorableTxid, 4n);
        assert.match(err.message, /replica has no file covering TXIDs 0000000000000005-0000000000000007/);
        return true;
      });
      assert.deepEqual(show(await calcRestorePlan(c, { txid: 3n })), ['L0 1-1', 'L0 2-2', 'L0 3-3']);
    });

    it('nothing at or below the target', async () => {
      const c = await replica();
      await fill(c, 0, l0(5, 6));
      await assert.rejects(calcRestorePlan(c, { txid: 2n }), (err: unknown) => {
        assert.ok(err instanceof RestoreTargetUnavailableError);
        assert.equal(err.restorableTxid, undefined);
        assert.match(err.message, /no TXID at or below it can be restored/);
        return true;
      });
    });

    it('rejects TXID 0 and a TXID together with a timestamp', async () => {
      await assert.rejects(calcRestorePlan(client, { txid: 0n }), RestoreOptionsError);
      await assert.rejects(calcRestorePlan(client, { txid: 1n, timestamp: new Date() }), RestoreOptionsError);
      await assert.rejects(calcRestorePlan(client, { timestamp: new Date(Number.NaN) }), RestoreOptionsError);
    });
  });

  describe('target timestamp', () => {
    const at = (s: number): Date => new Date(T0 + s * 1000);

    it('uses files created strictly before the time', async () => {
      const client = await replica();
      await fill(client, 0, l0(1, 6));
      assert.deepEqual(show(await calcRestorePlan(client, { timestamp: at(3.5) })), ['L0 1-1', 'L0 2-2', 'L0 3-3']);
      // File 3 was created exactly at 3 s: not strictly before.
      assert.deepEqual(show(await calcRestorePlan(client, { timestamp: at(3) })), ['L0 1-1', 'L0 2-2']);
      assert.equal((await calcRestorePlan(client, { timestamp: at(100) })).txid, 6n);
    });

    it('lists with the header timestamps (useMetadata)', async () => {
      const inner = await replica();
      await fill(inner, 0, l0(1, 3));
      const { client, listings } = spy(inner);
      await calcRestorePlan(client, { timestamp: at(2.5) });
      assert.equal(listings.length, 10);
      assert.ok(listings.every((l) => l.useMetadata));
    });

    it('a compaction created after the time is passed over for the files it replaced', async () => {
      const client = await replica();
      await fill(client, 9, [[1, 3]]);
      // The compaction carries its last input's timestamp: 6 s.
      await fill(client, 1, [[4, 6]]);
      await fill(client, 0, l0(4, 8));
      assert.deepEqual(show(await calcRestorePlan(client, { timestamp: at(5.5) })), ['L9 1-3', 'L0 4-4', 'L0 5-5']);
      assert.deepEqual(show(await calcRestorePlan(client, { timestamp: at(6.5) })), ['L9 1-3', 'L1 4-6']);
    });

    it('a snapshot created at or after the time is not used', async () => {
      const client = await replica();
      await fill(client, 9, [[1, 4]]);
      await fill(client, 0, l0(1, 6));
      assert.deepEqual(show(await calcRestorePlan(client, { timestamp: at(4) })), ['L0 1-1', 'L0 2-2', 'L0 3-3']);
      assert.deepEqual(show(await calcRestorePlan(client, { timestamp: at(5.5) })), ['L9 1-4', 'L0 5-5']);
    });

    it('a time before every file is RestoreTargetUnavailableError', async () => {
      const client = await replica();
      await fill(client, 0, l0(1, 3));
      await assert.rejects(calcRestorePlan(client, { timestamp: at(0.5) }), (err: unknown) => {
        assert.ok(err instanceof RestoreTargetUnavailableError);
        assert.equal(err.message, `cannot restore to ${at(0.5).toISOString()}: the replica holds no state from before that time`);
        return true;
      });
    });

    it('a gap before the time ends the plan at the gap, as Litestream does, and the plan names it', async () => {
      const client = await replica();
      await fill(client, 0, [...l0(1, 3), ...l0(6, 8)]);
      const plan = await calcRestorePlan(client, { timestamp: at(7.5) });
      assert.deepEqual(show(plan), ['L0 1-1', 'L0 2-2', 'L0 3-3']);
      assert.equal(plan.txid, 3n);
      assert.equal(plan.gap?.from, 4n);
      assert.equal(plan.gap?.to, 5n);
      assert.equal(plan.gap?.next.minTxid, 6n);
      // The latest state has no time to fall back on: the same gap is an error there.
      await assert.rejects(calcRestorePlan(client), RestoreGapError);
      // Nothing before the gap: still an error, not an empty plan.
      const headless = await replica();
      await fill(headless, 0, l0(6, 8));
      await assert.rejects(calcRestorePlan(headless, { timestamp: at(7.5) }), RestoreGapError);
      // Before the files beyond the gap were created, the state is complete.
      assert.deepEqual(show(await calcRestorePlan(client, { timestamp: at(5) })), ['L0 1-1', 'L0 2-2', 'L0 3-3']);
    });
  });
});
