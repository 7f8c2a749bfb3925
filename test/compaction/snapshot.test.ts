import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compactLevel } from '../../src/compaction/compact-level.js';
import { compactSnapshot, snapshotDue } from '../../src/compaction/compact-snapshot.js';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { createCompactionCounters } from '../../src/compaction/counters.js';
import { CompactionOptionsError } from '../../src/compaction/errors.js';
import { LevelMaxCache } from '../../src/compaction/level-max-cache.js';
import { decodeHeader } from '../../src/ltx/header.js';
import { makeTempDir } from '../restore/replica-fixtures.js';
import { collect } from '../storage/ltx-fixtures.js';
import { EPOCH, equalBytes, imageOf, ranges, ReplicatedModel, restoreImage, verifyStrict } from './fixtures.js';

const DAY = 24 * 3_600_000;
const LEVELS = new CompactionLevels();

describe('compactSnapshot', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const model = async (txs: number): Promise<ReplicatedModel> => {
    const m = await ReplicatedModel.create(dir, `s${n++}`);
    for (let i = 0; i < txs; i++) await m.commit({ writes: [1 + (i % 4), 6 + (i % 3)], commit: 6 + (i % 4), dtMs: 60_000 });
    return m;
  };
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('compact-snapshot'));
  });
  after(() => cleanup());

  it('merges what a latest restore would into 9/1-<txid>, stamped with its newest input', async () => {
    const m = await model(8);
    await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    const counters = createCompactionCounters();
    const r = await compactSnapshot({ client: m.remote, now: m.now + 1, localL0: m.local, counters });
    assert.ok(r.status === 'compacted');
    assert.deepEqual(await ranges(m.remote, 9), ['1-8']);
    assert.equal(r.file.createdAt.getTime(), m.stateAt(8n).timestamp);
    assert.equal(counters.filesWritten[9], 1);
    const header = decodeHeader(await collect(await m.remote.openLtxFile(9, 1n, 8n)));
    assert.equal(header.minTxid, 1n);
    assert.equal(header.commit, m.stateAt(8n).pages.length);
    await verifyStrict(m.remote, 9);
    // Nothing else left: the snapshot alone restores the database.
    await m.remote.deleteLtxFiles([...(await m.remote.ltxFiles(1)[Symbol.asyncIterator]().next().then((x) => (x.done ? [] : [x.value])))]);
    const { plan, image } = await restoreImage(m.remote, { txid: 8n });
    assert.deepEqual(
      plan.files.map((f) => f.level),
      [9],
    );
    assert.ok(equalBytes(image, imageOf(m.stateAt(8n))));
  });

  it('is too early within the day of the newest snapshot, and skips an idle database', async () => {
    const m = await model(3);
    const day = Math.floor(m.now / DAY) * DAY;
    assert.equal((await compactSnapshot({ client: m.remote, now: m.now })).status, 'compacted');
    const early = await compactSnapshot({ client: m.remote, now: m.now + 60_000 });
    assert.ok(early.status === 'too-early');
    assert.equal(early.windowStart.getTime(), day);
    assert.equal(early.nextCompactionAt.getTime(), day + DAY);
    const idle = await compactSnapshot({ client: m.remote, now: day + DAY + 5 });
    assert.equal(idle.status, 'nothing-to-compact');
    await m.commit({ writes: [2], commit: 6, dtMs: DAY });
    const next = await compactSnapshot({ client: m.remote, now: m.now + 5 });
    assert.ok(next.status === 'compacted');
    assert.deepEqual(await ranges(m.remote, 9), ['1-3', '1-4']);
    const { plan, image } = await restoreImage(m.remote);
    assert.deepEqual(
      plan.files.map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`),
      ['9:1-4'],
    );
    assert.ok(equalBytes(image, imageOf(m.stateAt(4n))));
  });

  it('with more files than maxInputs takes the snapshot in steps', async () => {
    const m = await model(7);
    const r = await compactSnapshot({ client: m.remote, now: m.now, maxInputs: 3 });
    assert.ok(r.status === 'compacted');
    assert.deepEqual(await ranges(m.remote, 9), ['1-3', '1-5', '1-7']);
    assert.equal(r.file.maxTxid, 7n);
    assert.equal(r.files.length, 3);
    for (const txid of [3n, 5n, 7n]) {
      const { image } = await restoreImage(m.remote, { txid });
      assert.ok(equalBytes(image, imageOf(m.stateAt(txid))));
    }
    await verifyStrict(m.remote, 9);
    await assert.rejects(compactSnapshot({ client: m.remote, maxInputs: 1 }), CompactionOptionsError);
  });

  it('reports nothing to compact on an empty replica', async () => {
    const m = await ReplicatedModel.create(dir, 'empty');
    assert.equal((await compactSnapshot({ client: m.remote, now: EPOCH })).status, 'nothing-to-compact');
  });

  it('snapshotDue tells a replicator when to snapshot its database', async () => {
    const m = await model(2);
    const cache = new LevelMaxCache();
    assert.equal(await snapshotDue({ client: m.remote, now: m.now, cache }), undefined);
    await compactSnapshot({ client: m.remote, now: m.now, cache });
    assert.equal((await snapshotDue({ client: m.remote, now: m.now + 1, cache }))?.status, 'too-early');
    const day = Math.floor(m.now / DAY) * DAY + DAY;
    assert.equal((await snapshotDue({ client: m.remote, now: day + 1, cache }))?.status, 'nothing-to-compact');
    cache.note(await m.commit({ writes: [1], commit: 6, dtMs: DAY }));
    assert.equal(await snapshotDue({ client: m.remote, now: m.now, cache }), undefined);
  });
});
