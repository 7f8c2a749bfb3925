import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLtx } from '../../src/ltx/decoder.js';
import { decodeDatabase } from '../../src/ltx/database.js';
import { MemorySource } from '../../src/ltx/byte-source.js';
import { MemorySink } from '../../src/ltx/byte-sink.js';
import { VECTOR_SETS, hex, hex64, readManifest, readVector, xorshift } from '../helpers/testdata.js';

for (const set of VECTOR_SETS) {
  describe(`golden vectors: ${set.dir}`, () => {
    const manifest = readManifest(set.dir, set.manifest);

    it('has the expected vectors', () => {
      assert.equal(manifest.length, 10);
    });

    for (const entry of manifest) {
      it(`${entry.file} decodes to exactly what the manifest says`, async () => {
        const bytes = readVector(set.dir, entry.file);
        assert.equal(bytes.length, entry.size);
        const f = await decodeLtx(bytes, { pageChecksums: true, strict: true, file: entry.file });
        const h = f.header;
        const m = entry.header;
        assert.equal(f.layout, 'v3');
        assert.deepEqual(
          {
            Flags: h.flags,
            PageSize: h.pageSize,
            Commit: h.commit,
            MinTXID: hex64(h.minTxid),
            MaxTXID: hex64(h.maxTxid),
            Timestamp: h.timestamp,
            PreApplyChecksum: hex64(h.preApplyChecksum),
            WALOffset: h.walOffset,
            WALSize: h.walSize,
            WALSalt1: h.walSalt1,
            WALSalt2: h.walSalt2,
            NodeID: Number(h.nodeId),
          },
          {
            Flags: m.Flags,
            PageSize: m.PageSize,
            Commit: m.Commit,
            MinTXID: m.MinTXID,
            MaxTXID: m.MaxTXID,
            Timestamp: m.Timestamp,
            PreApplyChecksum: m.PreApplyChecksum,
            WALOffset: m.WALOffset,
            WALSize: m.WALSize,
            WALSalt1: m.WALSalt1,
            WALSalt2: m.WALSalt2,
            NodeID: m.NodeID,
          },
        );
        const pages = entry.pages ?? [];
        assert.equal(f.pages.length, pages.length);
        pages.forEach((mp, i) => {
          const p = f.pages[i]!;
          assert.equal(p.pgno, mp.pgno);
          assert.equal(p.flags, mp.flags);
          assert.equal(p.flags, set.pageFlags);
          assert.equal(hex64(p.checksum!), mp.page_checksum);
          assert.equal(p.offset, mp.index_offset);
          assert.equal(p.size, mp.index_size);
          if (mp.data_hex !== undefined) {
            assert.ok(hex(p.data) === mp.data_hex, `page ${p.pgno} data differs from the manifest`);
          } else {
            // The manifest leaves out the 64 KiB page; it is xorshift(99) by construction.
            assert.ok(Buffer.from(p.data).equals(Buffer.from(xorshift(99, p.data.length))), `page ${p.pgno} data differs`);
          }
        });
        assert.deepEqual(
          f.index,
          pages.map((mp) => ({ pgno: mp.pgno, offset: mp.index_offset, size: mp.index_size })),
        );
        assert.equal(hex64(f.trailer.postApplyChecksum), entry.post_apply_checksum);
        assert.equal(hex64(f.trailer.fileChecksum), entry.file_checksum);
        assert.equal(f.size, entry.size);
        assert.deepEqual(f.warnings, []);

        const dbResult = entry.decode_database_to_sha_or_err;
        if (dbResult !== undefined) {
          const sink = new MemorySink();
          const r = await decodeDatabase(new MemorySource(bytes), sink);
          assert.equal(`ok ${r.size} bytes`, dbResult);
          assert.equal(sink.length, r.size);
        }
      });
    }
  });
}
