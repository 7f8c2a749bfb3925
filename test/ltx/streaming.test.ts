import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, createReadStream, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { LtxEncoder } from '../../src/ltx/encoder.js';
import { LtxDecoder, decodeLtx } from '../../src/ltx/decoder.js';
import { IterableSource, type ByteSource } from '../../src/ltx/byte-source.js';
import { makeHeader } from '../../src/ltx/header.js';
import { MemorySink } from '../../src/ltx/byte-sink.js';
import { ESTIMATED_PAGE_INDEX_SIZE, fetchPage, readPageMap } from '../../src/ltx/random-access.js';
import { writableSink } from '../../src/io/stream-sink.js';
import { withFileSource } from '../../src/io/file-source.js';
import { writeFileAtomic } from '../../src/io/atomic-file.js';

const PAGE = 4096;

function page(pgno: number): Uint8Array {
  const p = new Uint8Array(PAGE);
  const dv = new DataView(p.buffer);
  for (let i = 0; i < PAGE; i += 64) dv.setUint32(i, (pgno * 2654435761 + i) >>> 0);
  return p;
}

describe('streaming and bounded memory', () => {
  it('encodes a 400 MB snapshot (an index larger than the output buffer) with heap growth far below the file size', async () => {
    const pages = 100_000;
    let written = 0;
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const enc = new LtxEncoder(
      {
        write(chunk) {
          written += chunk.length;
          peak = Math.max(peak, process.memoryUsage().heapUsed);
        },
      },
      makeHeader({ pageSize: PAGE, commit: pages, minTxid: 1n, maxTxid: 1n }),
    );
    for (let p = 1; p <= pages; p++) await enc.writePage(p, page(p));
    const r = await enc.finish();
    assert.equal(r.size, written);
    assert.equal(r.pageCount, pages);
    // One index entry per page plus a few output buffers; 400 MB of pages never sit in memory.
    assert.ok(peak - before < 64 * 1024 * 1024, `heap grew by ${((peak - before) / 2 ** 20).toFixed(1)} MiB`);
  });

  it('a file whose index exceeds 32 KiB decodes strictly and is read by random access in three range reads', async () => {
    const pages = 20_000;
    const sink = new MemorySink();
    const enc = new LtxEncoder(sink, makeHeader({ pageSize: 512, commit: pages, minTxid: 1n, maxTxid: 1n }));
    const small = (p: number): Uint8Array => page(p).subarray(0, 512);
    for (let p = 1; p <= pages; p++) await enc.writePage(p, small(p));
    await enc.finish();
    const bytes = sink.bytes();
    const f = await decodeLtx(bytes, { strict: true });
    assert.equal(f.pages.length, pages);
    assert.ok(Number(f.indexSizeField) > ESTIMATED_PAGE_INDEX_SIZE);
    let reads = 0;
    const file = {
      size: bytes.length,
      readAt: (offset: number, length: number) => {
        reads++;
        return Promise.resolve(bytes.slice(offset, offset + length));
      },
    };
    const map = await readPageMap(file);
    assert.equal(reads, 3);
    assert.equal(map.pages.size, pages);
    for (const p of [1, 777, pages]) assert.ok(Buffer.from((await fetchPage(file, map, p))!).equals(Buffer.from(small(p))));
  });

  it('parallel compression on the worker thread writes the same bytes as the single-threaded encoder', async () => {
    for (const encoding of ['frame', 'block'] as const) {
      const files: Uint8Array[] = [];
      for (const parallel of [false, true]) {
        const sink = new MemorySink();
        const enc = new LtxEncoder(sink, makeHeader({ pageSize: PAGE, commit: 1000, minTxid: 1n, maxTxid: 1n, timestamp: 1 }), { encoding, parallel });
        for (let p = 1; p <= 1000; p++) {
          // Mix compressible and random pages so payload sizes vary within each batch.
          await enc.writePage(p, p % 3 === 0 ? new Uint8Array(randomBytes(PAGE)) : page(p));
        }
        await enc.finish();
        files.push(sink.bytes());
      }
      const [serial, parallel] = files;
      // Random pages differ between the two runs, so compare structure, then content per page.
      const a = await decodeLtx(serial!, { strict: true });
      const b = await decodeLtx(parallel!, { strict: true });
      assert.equal(b.pages.length, 1000);
      for (let i = 0; i < 1000; i++) {
        if ((i + 1) % 3 !== 0) assert.ok(Buffer.from(a.pages[i]!.data).equals(Buffer.from(b.pages[i]!.data)));
        else assert.equal(b.pages[i]!.data.length, PAGE);
      }
    }
    const fixed: Uint8Array[] = [];
    for (const parallel of [false, true]) {
      const sink = new MemorySink();
      const enc = new LtxEncoder(sink, makeHeader({ pageSize: PAGE, commit: 700, minTxid: 1n, maxTxid: 1n, timestamp: 1 }), { parallel });
      for (let p = 1; p <= 700; p++) await enc.writePage(p, page(p));
      await enc.finish();
      fixed.push(sink.bytes());
    }
    assert.ok(Buffer.from(fixed[0]!).equals(Buffer.from(fixed[1]!)), 'parallel output differs from serial output');
  });

  it('writes to a Node file stream with backpressure and reads back through a file source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-stream-'));
    try {
      const path = join(dir, '0000000000000001-0000000000000001.ltx');
      const out = createWriteStream(path, { highWaterMark: 16 * 1024 });
      const enc = new LtxEncoder(writableSink(out), makeHeader({ pageSize: PAGE, commit: 2000, minTxid: 1n, maxTxid: 1n }));
      for (let p = 1; p <= 2000; p++) await enc.writePage(p, page(p));
      const res = await enc.finish();
      out.end();
      await finished(out);
      assert.equal(statSync(path).size, res.size);

      const viaFile = await withFileSource(path, async (src) => {
        const dec = new LtxDecoder(src, { strict: true, file: path });
        await dec.readHeader();
        let n = 0;
        for await (const p of dec.pages()) {
          n++;
          assert.ok(Buffer.from(p.data).equals(Buffer.from(page(p.pgno))));
        }
        return { n, summary: await dec.finish() };
      });
      assert.equal(viaFile.n, 2000);
      assert.equal(viaFile.summary.trailer.fileChecksum, res.fileChecksum);

      // The same bytes through a Node readable stream in small chunks.
      const src: ByteSource = new IterableSource(createReadStream(path, { highWaterMark: 777 }));
      const dec = new LtxDecoder(src);
      await dec.readHeader();
      const summary = await dec.finish();
      assert.equal(summary.pageCount, 2000);
      assert.equal((await decodeLtx(new Uint8Array(readFileSync(path)))).pages.length, 2000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writeFileAtomic leaves no file under the final name when encoding fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-atomic-'));
    try {
      const path = join(dir, 'out.ltx');
      await assert.rejects(
        writeFileAtomic(path, async (sink) => {
          const enc = new LtxEncoder(sink, makeHeader({ pageSize: PAGE, commit: 3, minTxid: 1n, maxTxid: 1n }));
          await enc.writePage(1, page(1));
          await enc.writePage(3, page(3));
        }),
        /sequential/,
      );
      assert.throws(() => statSync(path), /ENOENT/);
      assert.throws(() => statSync(path + '.tmp'), /ENOENT/);
      await writeFileAtomic(path, async (sink) => {
        const enc = new LtxEncoder(sink, makeHeader({ pageSize: PAGE, commit: 1, minTxid: 1n, maxTxid: 1n }));
        await enc.writePage(1, page(1));
        await enc.finish();
      });
      assert.equal((await decodeLtx(new Uint8Array(readFileSync(path)))).pages.length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
