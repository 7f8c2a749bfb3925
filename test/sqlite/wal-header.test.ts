import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TidemarkError } from '../../src/errors.js';
import { walChecksum } from '../../src/sqlite/wal-checksum.js';
import { WalFormatError, type WalFormatCode } from '../../src/sqlite/wal-errors.js';
import {
  formatSalts,
  isValidWalPageSize,
  parseWalHeader,
  walFrameSize,
  WAL_FORMAT_VERSION,
  WAL_HEADER_SIZE,
  WAL_MAGIC_BIG_ENDIAN,
  WAL_MAGIC_LITTLE_ENDIAN,
} from '../../src/sqlite/wal-header.js';
import { readWalHeader } from '../../src/sqlite/wal-reader.js';
import { blob, buildWal, openWalDb, withTempDir } from './helpers.js';

function expectFormatError(fn: () => unknown, code: WalFormatCode, offset: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WalFormatError);
    assert.ok(err instanceof TidemarkError);
    assert.equal(err.code, code);
    assert.equal(err.offset, offset);
    assert.equal(err.file, 'x.db-wal');
    assert.match(err.message, new RegExp(`^x\\.db-wal at offset ${offset}: `));
    return true;
  });
}

/** A header with one field changed and the checksum recomputed, so only that field is wrong. */
function headerWith(field: number, value: number): Uint8Array {
  const h = buildWal({ pageSize: 4096, salt1: 1, salt2: 2, frames: [] });
  const view = new DataView(h.buffer);
  view.setUint32(field, value);
  const sum = walChecksum(h, false, undefined, 0, 24);
  view.setUint32(24, sum.s0);
  view.setUint32(28, sum.s1);
  return h;
}

describe('WAL header', () => {
  for (const pageSize of [512, 4096, 65536]) {
    it(`parses the header SQLite writes for ${pageSize}-byte pages`, async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, 'h.db');
        const db = openWalDb(path, pageSize);
        try {
          db.exec('CREATE TABLE t(x BLOB)');
          db.prepare('INSERT INTO t VALUES (?)').run(blob(1, 100));
          const h = await readWalHeader(`${path}-wal`);
          // Written on a little-endian host, so little-endian checksum words.
          assert.equal(h.magic, WAL_MAGIC_LITTLE_ENDIAN);
          assert.equal(h.bigEndianChecksum, false);
          assert.equal(h.version, WAL_FORMAT_VERSION);
          // The WAL stores the page size itself, 65536 included (no code 1 as in the database header).
          assert.equal(h.pageSize, pageSize);
          assert.equal(h.checkpointSeq, 0);
          const fh = await open(`${path}-wal`, 'r');
          try {
            assert.deepEqual(await readWalHeader(fh), h);
            assert.equal((await fh.stat()).size % walFrameSize(pageSize), WAL_HEADER_SIZE % walFrameSize(pageSize));
          } finally {
            await fh.close();
          }
        } finally {
          db.close();
        }
      });
    });
  }

  it('parses a hand-built big-endian header with known fields', () => {
    const h = parseWalHeader(buildWal({ pageSize: 1024, bigEndian: true, checkpointSeq: 7, salt1: 0xdeadbeef, salt2: 0x01020304, frames: [] }));
    assert.equal(h.magic, WAL_MAGIC_BIG_ENDIAN);
    assert.equal(h.bigEndianChecksum, true);
    assert.equal(h.pageSize, 1024);
    assert.equal(h.checkpointSeq, 7);
    assert.equal(h.salt1, 0xdeadbeef);
    assert.equal(h.salt2, 0x01020304);
    assert.equal(formatSalts(h), 'deadbeef/01020304');
  });

  it('the header checksum covers the first 24 bytes in the order the magic names', () => {
    const bytes = Uint8Array.from([
      0x37, 0x7f, 0x06, 0x82, 0x00, 0x2d, 0xe2, 0x18, 0x00, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2,
    ]);
    const le = parseWalHeader(buildWal({ pageSize: 4096, salt1: 1, salt2: 2, frames: [] }));
    assert.deepEqual(le.checksum, walChecksum(bytes, false));
    const flipped = Uint8Array.from(bytes);
    flipped[3] = 0x83;
    const be = parseWalHeader(buildWal({ pageSize: 4096, bigEndian: true, salt1: 1, salt2: 2, frames: [] }));
    assert.deepEqual(be.checksum, walChecksum(flipped, true));
    assert.notDeepEqual(le.checksum, be.checksum);
  });

  it('refuses a header shorter than 32 bytes', () => {
    expectFormatError(() => parseWalHeader(new Uint8Array(31), { file: 'x.db-wal' }), 'short-header', 0);
    expectFormatError(() => parseWalHeader(new Uint8Array(0), { file: 'x.db-wal' }), 'short-header', 0);
  });

  it('refuses a bad magic', () => {
    expectFormatError(() => parseWalHeader(headerWith(0, 0x377f0681), { file: 'x.db-wal' }), 'bad-magic', 0);
    expectFormatError(() => parseWalHeader(headerWith(0, 0), { file: 'x.db-wal' }), 'bad-magic', 0);
  });

  it('refuses page sizes that are not a power of two in 512..65536', () => {
    for (const bad of [0, 1, 256, 1000, 131072]) {
      expectFormatError(() => parseWalHeader(headerWith(8, bad), { file: 'x.db-wal' }), 'bad-page-size', 8);
    }
    for (const good of [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]) {
      assert.equal(parseWalHeader(headerWith(8, good)).pageSize, good);
      assert.ok(isValidWalPageSize(good));
    }
  });

  it('refuses a header whose checksum does not match (what a torn header write leaves)', () => {
    const h = buildWal({ pageSize: 4096, salt1: 1, salt2: 2, frames: [] });
    h[19]! ^= 0x01;
    expectFormatError(() => parseWalHeader(h, { file: 'x.db-wal' }), 'header-checksum', 24);
    const h2 = buildWal({ pageSize: 4096, salt1: 1, salt2: 2, frames: [] });
    h2[31]! ^= 0x80;
    expectFormatError(() => parseWalHeader(h2, { file: 'x.db-wal' }), 'header-checksum', 24);
  });

  it('refuses another format version even with a valid checksum', () => {
    expectFormatError(() => parseWalHeader(headerWith(4, 3007001), { file: 'x.db-wal' }), 'bad-version', 4);
  });

  it('readWalHeader names the path in its errors and reports an empty WAL as short-header', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'empty-wal');
      await writeFile(path, new Uint8Array(0));
      await assert.rejects(readWalHeader(path), (err: unknown) => {
        assert.ok(err instanceof WalFormatError);
        assert.equal(err.code, 'short-header');
        assert.equal(err.file, path);
        return true;
      });
      const fh = await open(path, 'r');
      try {
        await assert.rejects(readWalHeader(fh, { file: 'named' }), /^WalFormatError: named at offset 0: /);
      } finally {
        await fh.close();
      }
    });
  });
});
