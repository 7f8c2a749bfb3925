// The model file: what saveModel writes, loadModel gives back exactly; a file
// cut short, grown, or with any byte changed is refused with a reason (the
// replicator then starts from a full image), never taken for a model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { pageChecksum } from '../../src/ltx/checksum.js';
import { CHECKSUM_FLAG, lockPgno } from '../../src/ltx/constants.js';
import { Crc64 } from '../../src/ltx/crc64.js';
import { DatabaseModel } from '../../src/replication/db-model.js';
import { loadModel, MODEL_FILE, modelPath, saveModel, type ModelLoad } from '../../src/replication/model-file.js';
import { withTempDir } from './helpers.js';

const PAGE_SIZE = 4096;
const HEADER_BYTES = 32;
const TRAILER_BYTES = 8;
/** Sizes of model saved and loaded: empty, one page, a few thousand, and past saveModel's 64 Ki-entry write chunk. */
const ROUND_TRIP_PAGES = [0, 1, 3, 4321, 70_000];
/** Every truncation and every byte is tried on a model this small. */
const SMALL_PAGES = 8;
/** A bigger model, where offsets in header, body and trailer are sampled. */
const LARGE_PAGES = 3000;
const SAMPLED_OFFSETS = 200;
/** The lowest bit, the highest bit, and every bit of a byte. */
const FLIP_MASKS = [0x01, 0x80, 0xff];

/** A model of `pages` pages with distinct content per page. */
function modelOf(pages: number, txid: bigint, pageSize = PAGE_SIZE): DatabaseModel {
  const m = new DatabaseModel(pageSize, txid);
  m.setCommit(pages);
  const data = new Uint8Array(pageSize);
  for (let p = 1; p <= pages; p++) {
    new DataView(data.buffer).setUint32(0, p * 2654435761);
    m.setPage(p, data);
  }
  return m;
}

function assertSameModel(actual: DatabaseModel, expected: DatabaseModel): void {
  assert.equal(actual.pageSize, expected.pageSize);
  assert.equal(actual.txid, expected.txid);
  assert.equal(actual.commit, expected.commit);
  assert.equal(actual.checksum, expected.checksum);
  assert.deepEqual(actual.sums(), expected.sums());
}

/** Asserts the load was refused, with a reason matching `why`. */
function assertRefused(load: ModelLoad, why: RegExp, label: string): void {
  assert.equal(load.model, null, `${label}: a damaged model file was accepted`);
  if (load.model === null) assert.match(load.reason, why, label);
}

/** Writes `bytes` as the model file of `dir` and loads it. */
async function loadBytes(dir: string, bytes: Uint8Array, pageSize = PAGE_SIZE): Promise<ModelLoad> {
  await writeFile(modelPath(dir), bytes);
  return loadModel(dir, pageSize);
}

/** A model file assembled by hand, with a correct CRC over whatever fields it is given. */
function craft(fields: { version?: number; pageSize: number; txid: bigint; checksum: bigint; sums: bigint[] }): Uint8Array {
  const body = HEADER_BYTES + fields.sums.length * 8;
  const out = new Uint8Array(body + TRAILER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x54444d4d);
  v.setUint32(4, fields.version ?? 1);
  v.setUint32(8, fields.pageSize);
  v.setUint32(12, fields.sums.length);
  v.setBigUint64(16, fields.txid);
  v.setBigUint64(24, fields.checksum);
  fields.sums.forEach((s, i) => v.setBigUint64(HEADER_BYTES + i * 8, s));
  v.setBigUint64(body, new Crc64().update(out, 0, body).digest());
  return out;
}

describe('model file', () => {
  for (const pages of ROUND_TRIP_PAGES) {
    it(`round-trips a model of ${pages} page(s)`, async () => {
      await withTempDir(async (dir) => {
        const txid = BigInt(pages) * 1000n + 7n;
        const m = modelOf(pages, txid);
        await saveModel(dir, m);
        assert.equal((await stat(modelPath(dir))).size, HEADER_BYTES + pages * 8 + TRAILER_BYTES);
        assert.deepEqual(await readdir(dir), [MODEL_FILE], 'no temporary file is left');
        const load = await loadModel(dir, PAGE_SIZE);
        assert.ok(load.model !== null, load.model === null ? load.reason : '');
        assertSameModel(load.model, m);
        assert.deepEqual(load.model.unsetPages(), []);
      });
    });
  }

  it('round-trips a model with unset pages and the lock page (512-byte pages)', async () => {
    await withTempDir(async (dir) => {
      const ps = 512;
      const lock = lockPgno(ps);
      const m = new DatabaseModel(ps, 42n);
      m.setCommit(lock + 2);
      m.setPage(1, new Uint8Array(ps).fill(1));
      m.setPage(lock + 1, new Uint8Array(ps).fill(2));
      await saveModel(dir, m);
      const load = await loadModel(dir, ps);
      assert.ok(load.model !== null, load.model === null ? load.reason : '');
      assertSameModel(load.model, m);
      assert.equal(load.model.pageSum(lock), 0n);
      assert.deepEqual(load.model.unsetPages(2), [2, 3], 'unset pages stay unset: a recovery can see them missing');
    });
  });

  it('a later save replaces the earlier one', async () => {
    await withTempDir(async (dir) => {
      await saveModel(dir, modelOf(50, 1n));
      const second = modelOf(3, 2n);
      await saveModel(dir, second);
      const load = await loadModel(dir, PAGE_SIZE);
      assert.ok(load.model !== null);
      assertSameModel(load.model, second);
    });
  });

  it('no file, or something unreadable in its place, gives a reason', async () => {
    await withTempDir(async (dir) => {
      assertRefused(await loadModel(dir, PAGE_SIZE), /^no model file$/, 'missing');
      await mkdir(modelPath(dir));
      assertRefused(await loadModel(dir, PAGE_SIZE), /cannot read/, 'a directory');
    });
  });

  it('a model for another page size is refused, naming both sizes', async () => {
    await withTempDir(async (dir) => {
      await saveModel(dir, modelOf(5, 3n, 1024));
      assertRefused(await loadModel(dir, PAGE_SIZE), /1024-byte pages, the database has 4096/, 'page size');
      const same = await loadModel(dir, 1024);
      assert.ok(same.model !== null, 'the same file is fine for its own page size');
    });
  });

  it('a file truncated at every length is refused', async () => {
    await withTempDir(async (dir) => {
      await saveModel(dir, modelOf(SMALL_PAGES, 9n));
      const whole = await readFile(modelPath(dir));
      for (let len = 0; len < whole.length; len++) {
        assertRefused(await loadBytes(dir, whole.subarray(0, len)), /truncated|wrong size/, `cut to ${len} bytes`);
      }
      assertRefused(await loadBytes(dir, Buffer.concat([whole, Buffer.from([0])])), /wrong size/, 'one byte appended');
      assert.ok((await loadBytes(dir, whole)).model !== null, 'the whole file still loads');
    });
  });

  it('a file with any single byte changed is refused (every byte of a small model)', async () => {
    await withTempDir(async (dir) => {
      await saveModel(dir, modelOf(SMALL_PAGES, 9n));
      const whole = await readFile(modelPath(dir));
      for (let at = 0; at < whole.length; at++) {
        for (const mask of FLIP_MASKS) {
          const bad = Buffer.from(whole);
          bad[at] = bad[at]! ^ mask;
          assertRefused(await loadBytes(dir, bad), /not a version 1|wrong size|checksum|pages/, `byte ${at} ^ ${mask}`);
        }
      }
    });
  });

  it('property: a larger file with a byte changed in its header, body or trailer is refused', async () => {
    await withTempDir(async (dir) => {
      await saveModel(dir, modelOf(LARGE_PAGES, 77n));
      const whole = await readFile(modelPath(dir));
      const body = HEADER_BYTES + LARGE_PAGES * 8;
      const offset = fc.oneof(
        fc.integer({ min: 0, max: HEADER_BYTES - 1 }),
        fc.integer({ min: HEADER_BYTES, max: body - 1 }),
        fc.integer({ min: body, max: whole.length - 1 }),
      );
      await fc.assert(
        fc.asyncProperty(offset, fc.integer({ min: 1, max: 255 }), async (at, mask) => {
          const bad = Buffer.from(whole);
          bad[at] = bad[at]! ^ mask;
          assertRefused(await loadBytes(dir, bad), /not a version 1|wrong size|checksum|pages/, `byte ${at} ^ ${mask}`);
        }),
        { numRuns: SAMPLED_OFFSETS },
      );
    });
  });

  it('a file whose CRC is right but whose content does not add up is refused', async () => {
    await withTempDir(async (dir) => {
      const a = pageChecksum(1, new Uint8Array(PAGE_SIZE).fill(1));
      const b = pageChecksum(2, new Uint8Array(PAGE_SIZE).fill(2));
      const good = craft({ pageSize: PAGE_SIZE, txid: 5n, checksum: CHECKSUM_FLAG | (a ^ b), sums: [a, b] });
      assert.ok((await loadBytes(dir, good)).model !== null, 'the crafted file is a valid one to start from');

      assertRefused(
        await loadBytes(dir, craft({ pageSize: PAGE_SIZE, txid: 5n, checksum: CHECKSUM_FLAG | a, sums: [a, b] })),
        /do not add up/,
        'database checksum not the XOR of the pages',
      );
      assertRefused(await loadBytes(dir, craft({ version: 2, pageSize: PAGE_SIZE, txid: 5n, checksum: CHECKSUM_FLAG | (a ^ b), sums: [a, b] })), /not a version 1/, 'version 2');

      // A lock page entry is not content: a file that counts it in the database checksum is wrong.
      const ps = 512;
      const lock = lockPgno(ps);
      const sums = new Array<bigint>(lock).fill(0n);
      sums[0] = a;
      sums[lock - 1] = b;
      assertRefused(await loadBytes(dir, craft({ pageSize: ps, txid: 1n, checksum: CHECKSUM_FLAG | (a ^ b), sums }), ps), /do not add up/, 'lock page counted');
    });
  });
});
