import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeLtx, type DecodedLtxFile } from '../../src/ltx/decoder.js';
import { LtxEncoder } from '../../src/ltx/encoder.js';
import { compactLtx } from '../../src/ltx/compactor.js';
import { decodeDatabase, restoreDatabase } from '../../src/ltx/database.js';
import { MemorySource } from '../../src/ltx/byte-source.js';
import { MemorySink } from '../../src/ltx/byte-sink.js';
import { hasNoChecksum, isSnapshot } from '../../src/ltx/header.js';
import { checksumDatabaseFile } from '../../src/sqlite/database-file.js';
import { DatabaseChecksum } from '../../src/ltx/checksum.js';
import { LTX_TESTDATA, VECTOR_SETS, hex64, readManifest, readVector } from '../helpers/testdata.js';

async function reencode(f: DecodedLtxFile, encoding: 'frame' | 'block'): Promise<Uint8Array> {
  const { reserved: _reserved, ...header } = f.header;
  const sink = new MemorySink();
  const enc = new LtxEncoder(sink, header, { encoding });
  for (const p of f.pages) await enc.writePage(p.pgno, p.data);
  const trackedIncrement = !hasNoChecksum(header) && !isSnapshot(header);
  await enc.finish(trackedIncrement ? { postApplyChecksum: f.trailer.postApplyChecksum } : {});
  return sink.bytes();
}

function sameContent(a: DecodedLtxFile, b: DecodedLtxFile): void {
  const { reserved: _ra, ...ha } = a.header;
  const { reserved: _rb, ...hb } = b.header;
  assert.deepEqual(ha, hb);
  assert.deepEqual(
    a.pages.map((p) => [p.pgno, Buffer.from(p.data).toString('hex')]),
    b.pages.map((p) => [p.pgno, Buffer.from(p.data).toString('hex')]),
  );
  assert.equal(a.trailer.postApplyChecksum, b.trailer.postApplyChecksum);
}

async function compactFiles(dir: string, names: string[], encoding: 'frame' | 'block'): Promise<DecodedLtxFile> {
  const sink = new MemorySink();
  await compactLtx(
    names.map((n) => ({ source: new MemorySource(readVector(dir, n)), name: n })),
    sink,
    { encoding },
  );
  return decodeLtx(sink.bytes(), { strict: true });
}

const file = (entries: { file: string }[], prefix: string): string => entries.find((e) => e.file.startsWith(prefix))!.file;

for (const set of VECTOR_SETS) {
  describe(`re-encoding and compaction: ${set.dir}`, () => {
    const manifest = readManifest(set.dir, set.manifest);

    for (const entry of manifest) {
      it(`${entry.file}: re-encoded pages decode to identical content`, async () => {
        const original = await decodeLtx(readVector(set.dir, entry.file));
        for (const encoding of ['frame', 'block'] as const) {
          const again = await decodeLtx(await reencode(original, encoding), { strict: true });
          sameContent(original, again);
          assert.ok(again.pages.every((p) => p.flags === (encoding === 'frame' ? 0 : 1)));
        }
      });
    }

    for (const prefix of ['H_', 'I_']) {
      it(`${prefix}… re-encodes byte for byte`, async () => {
        const name = file(manifest, prefix);
        const bytes = readVector(set.dir, name);
        const out = await reencode(await decodeLtx(bytes), set.encoding);
        assert.equal(out.length, bytes.length);
        assert.ok(Buffer.from(out).equals(Buffer.from(bytes)), `${name} differs after re-encoding`);
      });
    }

    it('compacting C+D gives E', async () => {
      const got = await compactFiles(set.dir, [file(manifest, 'C_'), file(manifest, 'D_')], set.encoding);
      sameContent(got, await decodeLtx(readVector(set.dir, file(manifest, 'E_'))));
    });

    it('compacting D+F gives J (page 5 above commit 3 is dropped)', async () => {
      const got = await compactFiles(set.dir, [file(manifest, 'D_'), file(manifest, 'F_')], set.encoding);
      sameContent(got, await decodeLtx(readVector(set.dir, file(manifest, 'J_'))));
      assert.deepEqual(got.pages.map((p) => p.pgno), [1, 2]);
    });

    it('restoring C+D+F gives K byte for byte', async () => {
      const expected = readFileSync(join(LTX_TESTDATA, set.dir, 'K_restore_C+D+F.db'));
      const names = ['C_', 'D_', 'F_'].map((p) => file(manifest, p));
      const direct = new MemorySink();
      await restoreDatabase(names.map((n) => ({ source: new MemorySource(readVector(set.dir, n)), name: n })), direct);
      assert.ok(Buffer.from(direct.bytes()).equals(expected), 'direct restore differs from K');

      const compacted = new MemorySink();
      await compactLtx(names.map((n) => ({ source: new MemorySource(readVector(set.dir, n)), name: n })), compacted);
      const viaFile = new MemorySink();
      await decodeDatabase(new MemorySource(compacted.bytes()), viaFile);
      assert.ok(Buffer.from(viaFile.bytes()).equals(expected), 'restore through a compacted file differs from K');
    });

    it('compaction refuses a checksum-tracking input when writing NoChecksum output', async () => {
      await assert.rejects(
        compactFiles(set.dir, [file(manifest, 'A_'), file(manifest, 'B_')], set.encoding),
        /post-apply checksum not allowed/,
      );
    });

    it('checksum-tracking compaction chains A+B to the post-apply checksum of B', async () => {
      const sink = new MemorySink();
      const names = [file(manifest, 'A_'), file(manifest, 'B_')];
      await compactLtx(
        names.map((n) => ({ source: new MemorySource(readVector(set.dir, n)), name: n })),
        sink,
        { headerFlags: 0 },
      );
      const got = await decodeLtx(sink.bytes(), { strict: true });
      assert.equal(hex64(got.trailer.postApplyChecksum), 'dfac0f81a2e761eb');
    });

    it('checksum-tracking files chain: an increment built on A reproduces B', async () => {
      const a = await decodeLtx(readVector(set.dir, file(manifest, 'A_')));
      const b = await decodeLtx(readVector(set.dir, file(manifest, 'B_')));
      // Move the database checksum from A's state to A+B's state by swapping page versions.
      const sum = new DatabaseChecksum(a.header.pageSize, a.trailer.postApplyChecksum);
      const before = new Map(a.pages.map((p) => [p.pgno, p.data]));
      for (const p of b.pages) {
        const old = before.get(p.pgno);
        if (old) sum.toggle(p.pgno, old);
        sum.toggle(p.pgno, p.data);
      }
      const { reserved: _r, ...h } = b.header;
      assert.equal(h.preApplyChecksum, a.trailer.postApplyChecksum);
      const sink = new MemorySink();
      const enc = new LtxEncoder(sink, h, { encoding: set.encoding });
      for (const p of b.pages) await enc.writePage(p.pgno, p.data);
      const res = await enc.finish({ postApplyChecksum: sum.digest() });
      assert.equal(hex64(res.postApplyChecksum), 'dfac0f81a2e761eb');
      sameContent(await decodeLtx(sink.bytes(), { strict: true }), b);
    });

    it('compaction refuses a gap in TXIDs', async () => {
      await assert.rejects(compactFiles(set.dir, [file(manifest, 'C_'), file(manifest, 'F_')], set.encoding), /non-contiguous/);
    });
  });
}

describe('legacy v2 layout', () => {
  const dir = join(LTX_TESTDATA, 'legacy-v2');
  it('decodes, and its post-apply checksum equals the checksum of its database', async () => {
    const bytes = new Uint8Array(readFileSync(join(dir, '000000000000000d-000000000000000d.ltx')));
    const f = await decodeLtx(bytes, { file: '000000000000000d-000000000000000d.ltx' });
    assert.equal(f.layout, 'legacy-v2');
    assert.equal(f.header.minTxid, 13n);
    assert.equal(f.pages.length, 3);
    assert.equal(hex64(f.trailer.postApplyChecksum), 'fe3831a381c602b9');
    const db = await checksumDatabaseFile(join(dir, 'database'));
    assert.equal(hex64(db.checksum), 'fe3831a381c602b9');
    assert.equal(db.pageCount, 10);
  });

  it('is refused when the v3 layout is required', async () => {
    const bytes = new Uint8Array(readFileSync(join(dir, '000000000000000d-000000000000000d.ltx')));
    await assert.rejects(decodeLtx(bytes, { layout: 'v3' }));
  });
});
