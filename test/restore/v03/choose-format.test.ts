import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { chooseRestoreFormat, shouldUseV03Restore } from '../../../src/restore/v03/choose-format.js';
import { restore } from '../../../src/restore/restore.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import { putSynthetic } from '../replica-fixtures.js';
import { copyFixtureReplica, V03_EXPECTED_DB, V03_FIXTURE_GENERATION, withTempDir } from './helpers.js';
import { at, ltxFile, synthListing } from './synthetic.js';

const GEN = 'aaaaaaaaaaaaaaaa';
/** A v0.3 generation with a snapshot at 10 s and segments up to 30 s. */
const V03 = synthListing({
  [GEN]: {
    snapshots: [[0, 10]],
    segments: [
      [0, 0, 10],
      [0, 40, 20],
      [1, 0, 30],
    ],
  },
});
const NONE = synthListing({});

describe('shouldUseV03Restore (Litestream v0.5 shouldUseV3Restore)', () => {
  it('no v0.3 objects: LTX, whatever the target', () => {
    assert.equal(shouldUseV03Restore({ v03: NONE, ltxFiles: [] }), false);
    assert.equal(shouldUseV03Restore({ v03: NONE, ltxFiles: [ltxFile(0, 1n, 1n, 5)] }, at(100)), false);
    // Generations that exist but hold nothing count as no backups.
    assert.equal(shouldUseV03Restore({ v03: synthListing({ [GEN]: { snapshots: [], segments: [] } }), ltxFiles: [] }), false);
  });

  it('no LTX files: v0.3, even with only WAL segments or a timestamp before every snapshot', () => {
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [] }), true);
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [] }, at(1)), true);
    const walOnly = synthListing({ [GEN]: { snapshots: [], segments: [[0, 0, 3]] } });
    assert.equal(shouldUseV03Restore({ v03: walOnly, ltxFiles: [] }), true);
  });

  it('latest: v0.3 when its newest object (a WAL segment counts) is newer than the newest LTX file of any level', () => {
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [ltxFile(9, 1n, 5n, 29), ltxFile(0, 6n, 6n, 25)] }), true);
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [ltxFile(9, 1n, 5n, 5), ltxFile(3, 1n, 9n, 31)] }), false);
    // A tie goes to LTX.
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [ltxFile(0, 1n, 1n, 30)] }), false);
  });

  it('at a time: v0.3 when its newest snapshot at or before it is newer than the LTX snapshot strictly before it', () => {
    const l9 = [ltxFile(9, 1n, 5n, 8)];
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: l9 }, at(15)), true);
    // An LTX snapshot newer than the v0.3 one wins, even if the v0.3 WAL runs on after it.
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [ltxFile(9, 1n, 5n, 12)] }, at(25)), false);
    // v0.3 compares its snapshots with <=, LTX with <: at exactly 10 s only the v0.3 snapshot qualifies.
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [ltxFile(9, 1n, 5n, 10)] }, at(10)), true);
    // Equal times go to LTX.
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [ltxFile(9, 1n, 5n, 10)] }, at(11)), false);
    // No v0.3 snapshot yet at that time: LTX.
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: l9 }, at(9)), false);
    // LTX files but no LTX snapshot before the time: v0.3.
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: [ltxFile(0, 1n, 1n, 2)] }, at(15)), true);
  });

  it('at a time: the LTX snapshot compared is the last one in listing order, as Litestream takes it', () => {
    // Listing (TXID) order puts the snapshot created at 12 s first; the last one qualifying was created at 9 s.
    const l9 = [ltxFile(9, 1n, 5n, 12), ltxFile(9, 1n, 8n, 9)];
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: l9 }, at(15)), true);
  });

  it('at a time: level-9 timestamps from metadata take precedence over the cheap listing', () => {
    const cheap = [ltxFile(9, 1n, 5n, 40)];
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: cheap, ltxSnapshots: [ltxFile(9, 1n, 5n, 12)] }, at(15)), false);
    assert.equal(shouldUseV03Restore({ v03: V03, ltxFiles: cheap, ltxSnapshots: [ltxFile(9, 1n, 5n, 8)] }, at(15)), true);
  });
});

describe('restore() on a replica holding both v0.3 and LTX backups', () => {
  /** The golden v0.3 replica with its objects dated 100..106 s, plus LTX files created at the given seconds. */
  async function mixedReplica(dir: string, name: string, ltxTimes: { l9?: number; l0?: number }): Promise<FileReplicaClient> {
    const root = await copyFixtureReplica(dir, name);
    const genDir = join(root, 'generations', V03_FIXTURE_GENERATION);
    let t = 100;
    for (const sub of ['snapshots', 'wal']) {
      for (const f of (await readdir(join(genDir, sub))).sort()) {
        await utimes(join(genDir, sub, f), at(t), at(t));
        t++;
      }
    }
    const client = new FileReplicaClient(root);
    if (ltxTimes.l9 !== undefined) await putSynthetic(client, 9, 1n, 1n, at(ltxTimes.l9).getTime());
    if (ltxTimes.l0 !== undefined) {
      await putSynthetic(client, 0, 1n, 1n, at(ltxTimes.l0 - 1).getTime());
      await putSynthetic(client, 0, 2n, 2n, at(ltxTimes.l0).getTime());
    }
    return client;
  }

  it('follows the rule for the latest state, a time, and a TXID', async () => {
    await withTempDir('v03-mixed', async (dir) => {
      const expected = await readFile(V03_EXPECTED_DB);
      const older = await mixedReplica(dir, 'ltx-older', { l9: 50, l0: 60 });
      let r = await restore({ client: older, outputPath: join(dir, 'a.db') });
      assert.equal(r.format, 'v0.3');
      assert.ok((await readFile(join(dir, 'a.db'))).equals(expected));
      assert.equal((await chooseRestoreFormat(older)).format, 'v0.3');

      const newer = await mixedReplica(dir, 'ltx-newer', { l9: 50, l0: 200 });
      r = await restore({ client: newer, outputPath: join(dir, 'b.db') });
      assert.equal(r.format, 'ltx');
      assert.equal(r.txid, 2n);
      // At 150 s the newest v0.3 snapshot (100 s) is newer than the LTX one (50 s).
      r = await restore({ client: newer, outputPath: join(dir, 'c.db'), timestamp: at(150) });
      assert.equal(r.format, 'v0.3');
      assert.ok((await readFile(join(dir, 'c.db'))).equals(expected));
      // Before the v0.3 snapshot only LTX qualifies.
      r = await restore({ client: newer, outputPath: join(dir, 'd.db'), timestamp: at(99) });
      assert.equal(r.format, 'ltx');
      // A TXID always means LTX.
      r = await restore({ client: older, outputPath: join(dir, 'e.db'), txid: 1n });
      assert.equal(r.format, 'ltx');
      assert.equal(r.txid, 1n);
    });
  });
});
