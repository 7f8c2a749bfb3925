import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calcRestorePlan } from '../../src/restore/plan.js';
import { restore } from '../../src/restore/restore.js';
import { decodeHeader } from '../../src/ltx/header.js';
import { formatFilename } from '../../src/ltx/file-name.js';
import { LTX_TESTDATA, VECTOR_SETS, readVector } from '../helpers/testdata.js';
import { listDir, makeReplica, makeTempDir, placeRaw } from './replica-fixtures.js';

/** Which Go-written vectors go where; every layout rebuilds the same database as Go's restore of C+D+F. */
const LAYOUTS: { name: string; files: [level: number, prefix: string][]; plan: string[] }[] = [
  {
    name: 'three L0 files',
    files: [
      [0, 'C_'],
      [0, 'D_'],
      [0, 'F_'],
    ],
    plan: ['0/0000000000000001-0000000000000001', '0/0000000000000002-0000000000000002', '0/0000000000000003-0000000000000003'],
  },
  {
    name: 'L1 compaction of C+D, then F',
    files: [
      [1, 'E_'],
      [0, 'D_'],
      [0, 'F_'],
    ],
    plan: ['1/0000000000000001-0000000000000002', '0/0000000000000003-0000000000000003'],
  },
  {
    name: 'C, then an L1 compaction of D+F',
    files: [
      [0, 'C_'],
      [0, 'D_'],
      [1, 'J_'],
    ],
    plan: ['0/0000000000000001-0000000000000001', '1/0000000000000002-0000000000000003'],
  },
];

for (const set of VECTOR_SETS) {
  describe(`restore of Go-written files (${set.dir})`, () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let expected: Buffer;

    before(async () => {
      ({ dir, cleanup } = await makeTempDir('restore-golden'));
      expected = await readFile(join(LTX_TESTDATA, set.dir, 'K_restore_C+D+F.db'));
    });
    after(() => cleanup());

    for (const layout of LAYOUTS) {
      it(`${layout.name}: rebuilds K_restore_C+D+F.db byte for byte`, async () => {
        const client = await makeReplica(dir, `${layout.name.replace(/\W+/g, '-')}`);
        const names = await listDir(join(LTX_TESTDATA, set.dir));
        for (const [level, prefix] of layout.files) {
          const file = names.find((n) => n.startsWith(prefix));
          assert.ok(file, `${set.dir} has a ${prefix}* vector`);
          const bytes = readVector(set.dir, file);
          const h = decodeHeader(bytes);
          await placeRaw(client, level, h.minTxid, h.maxTxid, bytes, new Date(h.timestamp));
        }

        const plan = await calcRestorePlan(client);
        assert.deepEqual(
          plan.files.map((f) => `${f.level}/${formatFilename(f.minTxid, f.maxTxid).replace('.ltx', '')}`),
          layout.plan,
        );
        assert.equal(plan.txid, 3n);

        const outputPath = join(dir, `${layout.name.replace(/\W+/g, '-')}.db`);
        // The vectors' pages are patterns, not SQLite b-trees, so there is no integrity check here.
        const r = await restore({ client, outputPath });
        assert.equal(r.txid, 3n);
        assert.equal(r.pageSize, 512);
        assert.equal(r.pageCount, 3);
        assert.equal(r.bytes, expected.length);
        assert.equal(r.files, layout.plan.length);
        assert.deepEqual(await readFile(outputPath), expected);
      });
    }
  });
}
