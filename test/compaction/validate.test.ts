import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { createCompactionCounters } from '../../src/compaction/counters.js';
import { validateLevel, validateLevels } from '../../src/compaction/validate-level.js';
import type { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { ListOptions, LtxFileInfo, ReplicaClient } from '../../src/storage/replica-client.js';
import { makeReplica, makeTempDir, putSynthetic } from '../restore/replica-fixtures.js';

/** A real replica whose listings come back in reverse, as a misbehaving backend's might. */
function reversedListings(inner: ReplicaClient): ReplicaClient {
  return {
    type: inner.type,
    init: (s) => inner.init(s),
    async *ltxFiles(level: number, seek?: bigint, opts?: ListOptions): AsyncGenerator<LtxFileInfo> {
      const all: LtxFileInfo[] = [];
      for await (const f of inner.ltxFiles(level, seek, opts)) all.push(f);
      yield* all.reverse();
    },
    openLtxFile: (...a) => inner.openLtxFile(...a),
    writeLtxFile: (...a) => inner.writeLtxFile(...a),
    deleteLtxFiles: (...a) => inner.deleteLtxFiles(...a),
    deleteAll: (s) => inner.deleteAll(s),
  };
}

describe('validateLevel', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const replica = (): Promise<FileReplicaClient> => makeReplica(dir, `v${n++}`);
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('validate'));
  });
  after(() => cleanup());

  async function fill(c: FileReplicaClient, level: number, files: [number, number][]): Promise<void> {
    for (const [min, max] of files) await putSynthetic(c, level, BigInt(min), BigInt(max));
  }

  it('finds nothing wrong with a contiguous level or an empty one', async () => {
    const c = await replica();
    await fill(c, 1, [
      [1, 4],
      [5, 9],
      [10, 10],
    ]);
    assert.deepEqual(await validateLevel(c, 1), []);
    assert.deepEqual(await validateLevel(c, 2), []);
  });

  it('names gaps and overlaps with their TXID ranges', async () => {
    const c = await replica();
    await fill(c, 1, [
      [1, 4],
      [7, 9],
      [8, 12],
      [13, 13],
    ]);
    const counters = createCompactionCounters();
    const issues = await validateLevel(c, 1, { counters });
    assert.deepEqual(
      issues.map((i) => [i.kind, i.from, i.to, `${i.prev.minTxid}-${i.prev.maxTxid}`, `${i.file.minTxid}-${i.file.maxTxid}`]),
      [
        ['gap', 5n, 6n, '1-4', '7-9'],
        ['overlap', 8n, 9n, '7-9', '8-12'],
      ],
    );
    assert.match(issues[0]!.message, /level 1: no file covers TXIDs 0000000000000005-0000000000000006/);
    assert.equal(counters.validationIssues[1], 2);
    assert.equal(counters.validationIssuesTotal, 2);
  });

  it('reports files listed out of order', async () => {
    const c = await replica();
    await fill(c, 2, [
      [1, 4],
      [5, 8],
    ]);
    const issues = await validateLevel(reversedListings(c), 2);
    assert.deepEqual(
      issues.map((i) => [i.kind, i.from, i.to]),
      [['unsorted', 1n, 5n]],
    );
  });

  it('validateLevels checks every configured level but not snapshots', async () => {
    const c = await replica();
    await fill(c, 0, [
      [1, 1],
      [3, 3],
    ]);
    await fill(c, 3, [
      [1, 2],
      [2, 3],
    ]);
    await fill(c, 9, [
      [1, 2],
      [1, 3],
    ]);
    const counters = createCompactionCounters();
    const issues = await validateLevels(c, new CompactionLevels(), { counters });
    assert.deepEqual(
      issues.map((i) => [i.level, i.kind]),
      [
        [0, 'gap'],
        [3, 'overlap'],
      ],
    );
    assert.deepEqual(counters.validationIssues, { 0: 1, 1: 0, 2: 0, 3: 1 });
  });
});
