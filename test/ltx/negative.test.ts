import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeLtx } from '../../src/ltx/decoder.js';
import { LtxError } from '../../src/ltx/errors.js';
import { LTX_TESTDATA, hex64, readManifest, readVector } from '../helpers/testdata.js';

const DIR = 'negative';
/** Files Go accepts that the strict checks must refuse. */
const STRICT_REJECTS = new Set([
  'm7_bad_index_size_field.ltx',
  'm9_snapshot_missing_last_page.ltx',
  'm12_incr_pgno_gt_commit.ltx',
  'm13_incr_out_of_order.ltx',
  'm14_snapshot_dup_page.ltx',
]);

async function verdict(bytes: Uint8Array, strict: boolean): Promise<LtxError | null> {
  try {
    await decodeLtx(bytes, { strict, file: 'x.ltx' });
    return null;
  } catch (err) {
    assert.ok(err instanceof LtxError, `expected an LtxError, got ${String(err)}`);
    return err;
  }
}

for (const results of ['results.go-decoder-v0.5.1.json', 'results.go-decoder-head-lz4v4.1.21.json']) {
  describe(`negative vectors against ${results}`, () => {
    const entries = readManifest(DIR, results);

    it('covers every file in the folder', () => {
      const files = readdirSync(join(LTX_TESTDATA, DIR)).filter((f) => f.endsWith('.ltx')).sort();
      assert.deepEqual(entries.map((e) => e.file).sort(), files);
      assert.equal(files.length, 16);
    });

    for (const e of entries) {
      const goRejects = (e.error ?? '') !== '';
      it(`${e.file}: ${goRejects ? 'rejected' : 'accepted'} as Go did`, async () => {
        const bytes = readVector(DIR, e.file);
        const err = await verdict(bytes, false);
        if (goRejects) {
          assert.ok(err, `Go rejected with "${e.error}", we accepted`);
          assert.match(err.message, /^x\.ltx at offset \d+: /, 'error names the file and offset');
        } else {
          assert.equal(err, null, `Go accepted, we rejected: ${err?.message}`);
          const f = await decodeLtx(bytes);
          assert.equal(f.pages.length, e.pages?.length ?? 0);
          // Go reports each page with its index entry; with a duplicate page the later entry wins.
          const byPgno = new Map(f.index.map((x) => [x.pgno, x]));
          e.pages?.forEach((p, i) => {
            assert.equal(f.pages[i]!.pgno, p.pgno);
            assert.equal(byPgno.get(p.pgno)?.offset, p.index_offset);
            assert.equal(byPgno.get(p.pgno)?.size, p.index_size);
          });
          assert.equal(hex64(f.trailer.fileChecksum), e.file_checksum);
        }
      });

      it(`${e.file}: with strict checks ${goRejects || STRICT_REJECTS.has(e.file) ? 'rejected' : 'accepted'}`, async () => {
        const err = await verdict(readVector(DIR, e.file), true);
        if (goRejects || STRICT_REJECTS.has(e.file)) assert.ok(err, 'strict decoding accepted the file');
        else assert.equal(err, null, `strict decoding rejected: ${err?.message}`);
      });
    }
  });
}

describe('negative vectors: specific reasons', () => {
  const cases: [string, RegExp][] = [
    ['m10_flag_bit0.ltx', /invalid flags: 0x00000003/],
    ['m11_trailing_bytes.ltx', /file checksum mismatch/],
    ['m8_bad_file_checksum.ltx', /file checksum mismatch/],
    ['m15_short_page_frame.ltx', /ends after \d+ of 512 page bytes|unexpected end/],
    ['m16_long_page_frame.ltx', /more than|exceeds|capacity/],
  ];
  for (const [file, re] of cases) {
    it(`${file} fails for the right reason`, async () => {
      const err = await verdict(readVector(DIR, file), false);
      assert.ok(err);
      assert.match(err.message, re);
    });
  }

  it('m1 (frame without content checksum) is accepted with a warning', async () => {
    const f = await decodeLtx(readVector(DIR, 'm1_no_content_checksum.ltx'), { strict: true });
    assert.equal(f.warnings.length, 1);
    assert.match(f.warnings[0]!, /no content checksum/);
  });

  it('m6 (non-zero reserved bytes) is accepted with a warning', async () => {
    const f = await decodeLtx(readVector(DIR, 'm6_reserved_nonzero.ltx'), { strict: true });
    assert.deepEqual(f.warnings, ['reserved header bytes are not zero']);
  });

  const strictReasons: [string, RegExp][] = [
    ['m7_bad_index_size_field.ltx', /index size field/],
    ['m9_snapshot_missing_last_page.ltx', /snapshot incomplete/],
    ['m12_incr_pgno_gt_commit.ltx', /above the commit/],
    ['m13_incr_out_of_order.ltx', /out of order/],
    ['m14_snapshot_dup_page.ltx', /out of sequence/],
  ];
  for (const [file, re] of strictReasons) {
    it(`${file} fails strict checks for the right reason`, async () => {
      const err = await verdict(readVector(DIR, file), true);
      assert.ok(err);
      assert.match(err.message, re);
    });
  }
});
