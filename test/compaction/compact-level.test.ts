import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { compactLevel } from '../../src/compaction/compact-level.js';
import { compactSnapshot } from '../../src/compaction/compact-snapshot.js';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { createCompactionCounters } from '../../src/compaction/counters.js';
import { CompactionError, CompactionGapError, CompactionOptionsError } from '../../src/compaction/errors.js';
import { LevelMaxCache } from '../../src/compaction/level-max-cache.js';
import type { LocalL0Files } from '../../src/compaction/local-l0.js';
import { HEADER_FLAG_NO_CHECKSUM } from '../../src/ltx/constants.js';
import { decodeHeader } from '../../src/ltx/header.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { ltxFilePath } from '../../src/storage/file-replica-client.js';
import { encodeLtx, makeTempDir, putLtx } from '../restore/replica-fixtures.js';
import { collect } from '../storage/ltx-fixtures.js';
import { EPOCH, PAGE_SIZE, equalBytes, imageOf, listFiles, ranges, ReplicatedModel, restoreImage, verifyStrict } from './fixtures.js';

/** Short intervals so a test covers many windows: L1 10 s, L2 60 s, snapshots hourly. */
const LEVELS = new CompactionLevels(
  [
    { level: 0, intervalMs: 0 },
    { level: 1, intervalMs: 10_000 },
    { level: 2, intervalMs: 60_000 },
  ],
  3_600_000,
);

describe('compactLevel', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const model = async (txs: number, dtMs = 1000): Promise<ReplicatedModel> => {
    const m = await ReplicatedModel.create(dir, `m${n++}`);
    for (let i = 0; i < txs; i++) await m.commit({ writes: [1 + (i % 5), 2 + ((i * 3) % 7)], commit: 8, dtMs });
    return m;
  };

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('compaction'));
  });
  after(() => cleanup());

  it('merges the new L0 files into one L1 file that keeps the newest timestamp and restores like the L0 files', async () => {
    const m = await model(6);
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    assert.equal(r.status, 'compacted');
    assert.ok(r.status === 'compacted');
    assert.deepEqual(await ranges(m.remote, 1), ['1-6']);
    assert.equal(r.inputs.length, 6);
    assert.equal(r.file.createdAt.getTime(), m.stateAt(6n).timestamp);
    const header = decodeHeader(await collect(await m.remote.openLtxFile(1, 1n, 6n)));
    assert.equal(header.flags, HEADER_FLAG_NO_CHECKSUM);
    assert.equal(header.timestamp, m.stateAt(6n).timestamp);
    assert.equal(header.preApplyChecksum, 0n);
    assert.equal(header.commit, 8);
    assert.equal((await verifyStrict(m.remote)).length, 1);
    const { plan, image } = await restoreImage(m.remote);
    assert.equal(plan.txid, 6n);
    assert.ok(equalBytes(image, imageOf(m.stateAt(6n))));
  });

  it('continues from the destination: only files past its newest TXID are merged', async () => {
    const m = await model(3);
    await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    for (let i = 0; i < 4; i++) await m.commit({ writes: [3, 9], commit: 9, dtMs: 4000 });
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    assert.equal(r.status, 'compacted');
    assert.deepEqual(await ranges(m.remote, 1), ['1-3', '4-7']);
    const { image } = await restoreImage(m.remote, { txid: 7n });
    assert.ok(equalBytes(image, imageOf(m.stateAt(7n))));
    await verifyStrict(m.remote);
  });

  it('is too early when the destination already has a file from the current window', async () => {
    const m = await model(2);
    // Window of 10 s starting at EPOCH+10 s; the L0 files are from EPOCH+1 s and +2 s.
    const first = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: EPOCH + 10_500 });
    assert.equal(first.status, 'compacted');
    await m.commit({ writes: [1], commit: 8, dtMs: 9000 }); // EPOCH + 11 s, inside the window
    const l1 = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: EPOCH + 11_500 });
    assert.equal(l1.status, 'compacted', 'the L1 file made before stands for EPOCH+2 s, before the window');
    const again = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: EPOCH + 12_000 });
    assert.equal(again.status, 'too-early');
    assert.ok(again.status === 'too-early');
    assert.equal(again.windowStart.getTime(), EPOCH + 10_000);
    assert.equal(again.nextCompactionAt.getTime(), EPOCH + 20_000);
    assert.equal(again.latest.maxTxid, 3n);
  });

  it('reports nothing to compact when the source holds no newer TXID, and for an empty source', async () => {
    const m = await model(3);
    assert.equal((await compactLevel({ client: m.remote, dstLevel: 2, levels: LEVELS, now: m.now })).status, 'nothing-to-compact');
    await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 60_000 });
    assert.equal(r.status, 'nothing-to-compact');
    assert.ok(r.status === 'nothing-to-compact');
    assert.equal(r.srcMaxTxid, 3n);
    assert.equal(r.dstMaxTxid, 3n);
  });

  it('refuses to compact across a hole in the source and writes nothing', async () => {
    const m = await model(5);
    await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    for (let i = 0; i < 4; i++) await m.commit({ writes: [2], commit: 8, dtMs: 1000 });
    await m.remote.deleteLtxFiles((await listFiles(m.remote, 0)).filter((f) => f.minTxid === 7n || f.minTxid === 8n));
    const counters = createCompactionCounters();
    await assert.rejects(
      compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 60_000, counters }),
      (err: unknown) => {
        assert.ok(err instanceof CompactionGapError);
        assert.equal(err.from, 7n);
        assert.equal(err.to, 8n);
        assert.equal(err.sourceLevel, 0);
        assert.match(err.message, /0000000000000007-0000000000000008/);
        return true;
      },
    );
    assert.deepEqual(await ranges(m.remote, 1), ['1-5']);
    assert.equal(counters.gaps[1], 1);
    assert.equal(counters.failures[1], 1);
  });

  it('refuses a hole between the destination and the first source file', async () => {
    const m = await model(6);
    await m.remote.deleteLtxFiles((await listFiles(m.remote, 0)).filter((f) => f.minTxid === 1n));
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 }), (err: unknown) => {
      assert.ok(err instanceof CompactionGapError);
      assert.equal(err.from, 1n);
      assert.equal(err.to, 1n);
      return true;
    });
    assert.deepEqual(await ranges(m.remote, 1), []);
  });

  it('skips a hole that a snapshot covers and writes the files after it as their own file', async () => {
    const m = await model(8);
    await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 }); // L1 1-8
    const snap = await compactSnapshot({ client: m.remote, levels: LEVELS, now: m.now + 2 }); // L9 1-8
    assert.equal(snap.status, 'compacted');
    for (let i = 0; i < 6; i++) await m.commit({ writes: [4, 5], commit: 8, dtMs: 1000 });
    // TXIDs 9..10 lost from L0, but the newest snapshot reaches 8 only: still a real hole.
    await m.remote.deleteLtxFiles((await listFiles(m.remote, 0)).filter((f) => f.minTxid === 9n || f.minTxid === 10n));
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 60_000 }), CompactionGapError);
    // A snapshot past the hole (from a full restore elsewhere, say) makes it harmless.
    const state = m.stateAt(12n);
    await putLtx(
      m.remote,
      9,
      await encodeLtx({
        pageSize: PAGE_SIZE,
        commit: state.pages.length,
        minTxid: 1n,
        maxTxid: 12n,
        timestamp: state.timestamp,
        pages: state.pages.map((data, i) => ({ pgno: i + 1, data })),
      }),
    );
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 60_000 });
    assert.equal(r.status, 'compacted');
    assert.ok(r.status === 'compacted');
    assert.deepEqual(r.bridgedGaps, [{ from: 9n, to: 10n }]);
    assert.deepEqual(await ranges(m.remote, 1), ['1-8', '11-14']);
    const { image } = await restoreImage(m.remote, { txid: 14n });
    assert.ok(equalBytes(image, imageOf(m.stateAt(14n))));
  });

  it('reads local L0 copies first: a corrupted or truncated replica copy does not matter', async () => {
    const m = await model(6);
    const files = await listFiles(m.remote, 0);
    const corrupt = ltxFilePath(m.remote.root, 0, 2n, 2n);
    const bytes = await readFile(corrupt);
    bytes[150] = bytes[150]! ^ 0xff;
    await writeFile(corrupt, bytes);
    await truncate(ltxFilePath(m.remote.root, 0, 4n, 4n), 120);
    const counters = createCompactionCounters();
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1, localL0: m.local, counters });
    assert.equal(r.status, 'compacted');
    assert.ok(r.status === 'compacted');
    assert.equal(r.localReads, files.length);
    assert.equal(counters.localReads, files.length);
    assert.equal(counters.filesWritten[1], 1);
    assert.equal(counters.filesMerged[1], 6);
    await verifyStrict(m.remote);
    for (const txid of [6n]) {
      const { image } = await restoreImage(m.remote, { txid });
      assert.ok(equalBytes(image, imageOf(m.stateAt(txid))));
    }
  });

  it('without a good copy anywhere the merge fails naming the file, and nothing is left on the replica', async () => {
    const m = await model(4);
    const path = ltxFilePath(m.remote.root, 0, 3n, 3n);
    const bytes = await readFile(path);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x01;
    await writeFile(path, bytes);
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1 }), (err: unknown) => {
      assert.ok(err instanceof CompactionError);
      assert.match(err.message, /ltx\/0\/0000000000000003-0000000000000003\.ltx/);
      return true;
    });
    assert.deepEqual(await ranges(m.remote, 1), []);
    assert.deepEqual(await readdir(dirname(ltxFilePath(m.remote.root, 1, 1n, 1n))).catch(() => []), []);
  });

  it('falls back to the replica copy when a local copy is damaged', async () => {
    const m = await model(4);
    const path = ltxFilePath(m.local.root, 0, 2n, 2n);
    const bytes = await readFile(path);
    bytes[bytes.length - 30] = bytes[bytes.length - 30]! ^ 0x10;
    await writeFile(path, bytes);
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1, localL0: m.local });
    assert.equal(r.status, 'compacted');
    assert.ok(r.status === 'compacted');
    assert.equal(r.localReads, 3);
    const { image } = await restoreImage(m.remote, { txid: 4n });
    assert.ok(equalBytes(image, imageOf(m.stateAt(4n))));
  });

  it('falls back to the replica copy when a local copy vanishes while being read', async () => {
    const m = await model(4);
    const local: LocalL0Files = {
      open: async (min, max) => {
        const stream = await m.local.openLtxFile(0, min, max);
        if (min !== 3n) return stream;
        // Removed by a local reset after it was opened: the read itself finds it gone.
        await m.local.deleteLtxFiles([{ level: 0, minTxid: min, maxTxid: max, size: 0, createdAt: new Date(0) }]);
        return stream;
      },
    };
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1, localL0: local });
    assert.ok(r.status === 'compacted');
    assert.equal(r.localReads, 3);
    const { image } = await restoreImage(m.remote, { txid: 4n });
    assert.ok(equalBytes(image, imageOf(m.stateAt(4n))));
  });

  it('resumes replica reads that break off mid-file', async () => {
    const m = await model(5);
    const flaky = new FaultInjectingClient(m.remote, { truncateReadsAfter: 300 });
    const r = await compactLevel({ client: flaky, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    assert.equal(r.status, 'compacted');
    assert.ok(flaky.injectedFaults > 0);
    const { image } = await restoreImage(m.remote, { txid: 5n });
    assert.ok(equalBytes(image, imageOf(m.stateAt(5n))));
  });

  it('splits a long run of sources into files of at most maxInputs', async () => {
    const m = await model(7);
    const r = await compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1, maxInputs: 3 });
    assert.ok(r.status === 'compacted');
    assert.deepEqual(await ranges(m.remote, 1), ['1-3', '4-6', '7-7']);
    assert.equal(r.files.length, 3);
    assert.equal(r.file.maxTxid, 7n);
    const l2 = await compactLevel({ client: m.remote, dstLevel: 2, levels: LEVELS, now: m.now + 60_000, verify: true });
    assert.ok(l2.status === 'compacted');
    assert.deepEqual(l2.issues, []);
    assert.deepEqual(await ranges(m.remote, 2), ['1-7']);
    await verifyStrict(m.remote);
    for (const txid of [3n, 6n, 7n]) {
      const { image } = await restoreImage(m.remote, { txid });
      assert.ok(equalBytes(image, imageOf(m.stateAt(txid))));
    }
  });

  it('with a LevelMaxCache fed with the uploads, an idle database is checked without a single replica request', async () => {
    const m = await model(3);
    const client = new FaultInjectingClient(m.remote);
    const cache = new LevelMaxCache();
    // A cache the replicator does not feed: L0 is listed on every check, never answered from a stale entry.
    assert.equal((await compactLevel({ client, dstLevel: 1, levels: LEVELS, now: m.now + 1, cache })).status, 'compacted');
    let before = client.totalCalls;
    assert.equal((await compactLevel({ client, dstLevel: 1, levels: LEVELS, now: m.now + 10_000, cache })).status, 'nothing-to-compact');
    assert.equal(client.totalCalls - before, 1, 'one listing, of L0');
    await m.commit({ writes: [1], commit: 8, dtMs: 20_000 });
    assert.equal((await compactLevel({ client, dstLevel: 1, levels: LEVELS, now: m.now + 1, cache })).status, 'compacted');
    // Fed with each upload, as a replicator does, the checks need no request at all.
    cache.note((await listFiles(m.remote, 0)).pop()!);
    before = client.totalCalls;
    for (let i = 1; i <= 5; i++) {
      const r = await compactLevel({ client, dstLevel: 1, levels: LEVELS, now: m.now + i * 10_000, cache });
      assert.equal(r.status, 'nothing-to-compact');
    }
    assert.equal(client.totalCalls, before);
    cache.note(await m.commit({ writes: [1], commit: 8, dtMs: 60_000 }));
    const r = await compactLevel({ client, dstLevel: 1, levels: LEVELS, now: m.now + 1, cache });
    assert.equal(r.status, 'compacted');
    assert.equal(cache.get(1)?.maxTxid, 5n);
  });

  it('a failed upload stops the merge even when the upload never read a byte', async () => {
    const m = await ReplicatedModel.create(dir, `m${n++}`);
    // 3000 incompressible pages: far more than the pipe holds, so the merge would wait on a reader forever.
    await m.commit({ writes: [], commit: 3000, dtMs: 1000 });
    await m.commit({ writes: [7], commit: 3000, dtMs: 1000 });
    const client = new FaultInjectingClient(m.remote).failNext('write');
    await assert.rejects(compactLevel({ client, dstLevel: 1, levels: LEVELS, now: m.now + 1 }), (err: unknown) => {
      assert.ok(err instanceof CompactionError);
      assert.match(err.message, /injected write failure/);
      return true;
    });
    assert.deepEqual(await ranges(m.remote, 1), []);
    const r = await compactLevel({ client, dstLevel: 1, levels: LEVELS, now: m.now + 1 });
    assert.equal(r.status, 'compacted');
    const { image } = await restoreImage(m.remote, { txid: 2n });
    assert.ok(equalBytes(image, imageOf(m.stateAt(2n))));
  });

  it('an abort stops a compaction with the abort reason and leaves nothing behind', async () => {
    const m = await model(4);
    const controller = new AbortController();
    const reason = new Error('replicator closing');
    controller.abort(reason);
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, now: m.now + 1, signal: controller.signal }), (err) => err === reason);
    const slow = new FaultInjectingClient(m.remote, { delayMs: 20 });
    const late = new AbortController();
    const running = compactLevel({ client: slow, dstLevel: 1, levels: LEVELS, now: m.now + 1, signal: late.signal });
    setTimeout(() => late.abort(reason), 30);
    await assert.rejects(running, (err) => err === reason);
    assert.deepEqual(await ranges(m.remote, 1), []);
  });

  it('refuses levels it does not compact', async () => {
    const m = await model(1);
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 0, levels: LEVELS }), CompactionOptionsError);
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 3, levels: LEVELS }), CompactionOptionsError);
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 9, levels: LEVELS }), /compactSnapshot/);
    await assert.rejects(compactLevel({ client: m.remote, dstLevel: 1, levels: LEVELS, maxInputs: 0 }), CompactionOptionsError);
  });
});
