import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeLtx } from '../../src/ltx/decoder.js';
import { LtxEncoder } from '../../src/ltx/encoder.js';
import { LtxError, LtxEncodeError } from '../../src/ltx/errors.js';
import { MemorySink } from '../../src/ltx/byte-sink.js';
import { MemorySource } from '../../src/ltx/byte-source.js';
import { compactLtx } from '../../src/ltx/compactor.js';
import { restoreDatabase } from '../../src/ltx/database.js';
import { fetchPage, readPageMap, type RandomAccessFile } from '../../src/ltx/random-access.js';
import { makeHeader, type LtxHeader } from '../../src/ltx/header.js';
import { HEADER_FLAG_NO_CHECKSUM, lockPgno, type PageEncoding } from '../../src/ltx/constants.js';
import { Crc64, crc64 } from '../../src/ltx/crc64.js';
import { DatabaseChecksum } from '../../src/ltx/checksum.js';
import { readVector, VECTOR_SETS } from '../helpers/testdata.js';

const PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

/** Page content of a few shapes: zeros, repeated runs, text-like, random. */
function pageContent(kind: number, seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  switch (kind % 4) {
    case 0:
      break;
    case 1:
      for (let i = 0; i < size; i++) out[i] = (seed + (i >> 5)) & 0xff;
      break;
    case 2:
      for (let i = 0; i < size; i++) out[i] = i % 97 < 60 ? 97 + (next() % 6) : 0;
      break;
    default:
      for (let i = 0; i < size; i++) out[i] = next() & 0xff;
  }
  return out;
}

interface FileSpec {
  pageSize: number;
  snapshot: boolean;
  commit: number;
  pgnos: number[];
  kinds: number[];
  encoding: PageEncoding;
  tracked: boolean;
  /** Compress on the worker thread too. */
  parallel?: boolean;
}

const fileSpec = fc
  .record({
    pageSize: fc.constantFrom(...PAGE_SIZES),
    snapshot: fc.boolean(),
    commit: fc.integer({ min: 1, max: 24 }),
    pick: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
    kinds: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 24, maxLength: 24 }),
    encoding: fc.constantFrom<PageEncoding>('frame', 'block'),
    tracked: fc.boolean(),
    parallel: fc.boolean(),
  })
  .map(({ pageSize, snapshot, commit, pick, kinds, encoding, tracked, parallel }): FileSpec => {
    const all = Array.from({ length: commit }, (_, i) => i + 1);
    const pgnos = snapshot ? all : all.filter((p) => pick[p - 1]);
    return { pageSize, snapshot, commit, pgnos, kinds, encoding, tracked: tracked && snapshot, parallel };
  });

async function encodeSpec(s: FileSpec, minTxid = s.snapshot ? 1n : 5n): Promise<{ bytes: Uint8Array; pages: Map<number, Uint8Array>; header: LtxHeader }> {
  const header = makeHeader({
    flags: s.tracked ? 0 : HEADER_FLAG_NO_CHECKSUM,
    pageSize: s.pageSize,
    commit: s.commit,
    minTxid,
    maxTxid: minTxid + 2n,
    timestamp: 1_700_000_000_000,
  });
  const sink = new MemorySink();
  const enc = new LtxEncoder(sink, header, { encoding: s.encoding, parallel: s.parallel ?? false });
  const pages = new Map<number, Uint8Array>();
  for (const pgno of s.pgnos) {
    const data = pageContent(s.kinds[(pgno - 1) % s.kinds.length]!, pgno * 7 + Number(minTxid), s.pageSize);
    pages.set(pgno, data);
    await enc.writePage(pgno, data);
  }
  await enc.finish();
  return { bytes: sink.bytes(), pages, header };
}

class MemoryRandomAccess implements RandomAccessFile {
  reads = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  readAt(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    if (offset < 0 || offset + length > this.bytes.length) return Promise.reject(new RangeError('out of range'));
    return Promise.resolve(this.bytes.slice(offset, offset + length));
  }
}

describe('LTX property tests', () => {
  it('encode then decode returns the same header and pages (all page sizes, both encodings)', async () => {
    await fc.assert(
      fc.asyncProperty(fileSpec, async (s) => {
        const { bytes, pages, header } = await encodeSpec(s);
        const f = await decodeLtx(bytes, { strict: true, pageChecksums: true });
        const { reserved: _r, ...h } = f.header;
        assert.deepEqual(h, header);
        assert.deepEqual(f.pages.map((p) => p.pgno), [...pages.keys()]);
        for (const p of f.pages) {
          assert.ok(Buffer.from(p.data).equals(Buffer.from(pages.get(p.pgno)!)));
          assert.equal(p.flags, s.encoding === 'frame' ? 0 : 1);
        }
        if (s.tracked) {
          const sum = new DatabaseChecksum(s.pageSize);
          for (const [pgno, d] of pages) sum.toggle(pgno, d);
          assert.equal(f.trailer.postApplyChecksum, sum.digest());
        } else {
          assert.equal(f.trailer.postApplyChecksum, 0n);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('random access through the page index returns every page', async () => {
    await fc.assert(
      fc.asyncProperty(fileSpec, async (s) => {
        const { bytes, pages } = await encodeSpec(s);
        const f = new MemoryRandomAccess(bytes);
        const map = await readPageMap(f);
        assert.deepEqual([...map.pages.keys()].sort((a, b) => a - b), [...pages.keys()]);
        for (const [pgno, data] of pages) {
          const got = await fetchPage(f, map, pgno);
          assert.ok(got && Buffer.from(got).equals(Buffer.from(data)));
        }
        assert.equal(await fetchPage(f, map, s.commit + 1), null);
      }),
      { numRuns: 40 },
    );
  });

  it('compaction and restore equal applying the files one by one', async () => {
    const chain = fc.record({
      pageSize: fc.constantFrom(512, 4096),
      encoding: fc.constantFrom<PageEncoding>('frame', 'block'),
      steps: fc.array(
        fc.record({
          commit: fc.integer({ min: 1, max: 20 }),
          pick: fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
          kind: fc.integer({ min: 0, max: 7 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(chain, async ({ pageSize, encoding, steps }) => {
        const model = new Map<number, Uint8Array>();
        const files: Uint8Array[] = [];
        let commit = 0;
        for (let i = 0; i < steps.length + 1; i++) {
          const snapshot = i === 0;
          const step = snapshot ? { commit: 8, pick: [], kind: 1 } : steps[i - 1]!;
          const pgnos = Array.from({ length: step.commit }, (_, k) => k + 1).filter(
            (p) => snapshot || step.pick[p - 1] || p > commit,
          );
          const spec: FileSpec = { pageSize, snapshot, commit: step.commit, pgnos, kinds: [step.kind, i + 3], encoding, tracked: false };
          const { bytes, pages } = await encodeSpec(spec, BigInt(i + 1));
          // Each file here covers exactly one TXID.
          const rewritten = await retxid(bytes, BigInt(i + 1));
          files.push(rewritten);
          for (const [p, d] of pages) model.set(p, d);
          for (const p of [...model.keys()]) if (p > step.commit) model.delete(p);
          commit = step.commit;
        }
        const inputs = () => files.map((b, i) => ({ source: new MemorySource(b), name: `f${i}` }));
        const compacted = new MemorySink();
        await compactLtx(inputs(), compacted, { encoding });
        const c = await decodeLtx(compacted.bytes(), { strict: true });
        assert.equal(c.header.minTxid, 1n);
        assert.equal(c.header.maxTxid, BigInt(files.length));
        assert.equal(c.header.commit, commit);
        assert.deepEqual(c.pages.map((p) => p.pgno), [...model.keys()].sort((a, b) => a - b));
        for (const p of c.pages) assert.ok(Buffer.from(p.data).equals(Buffer.from(model.get(p.pgno)!)));

        const db = new MemorySink();
        await restoreDatabase(inputs(), db);
        const image = db.bytes();
        assert.equal(image.length, commit * pageSize);
        for (let p = 1; p <= commit; p++) {
          const want = model.get(p)!;
          assert.ok(Buffer.from(image.subarray((p - 1) * pageSize, p * pageSize)).equals(Buffer.from(want)), `page ${p}`);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('the encoder refuses the lock page, pages above commit, and out-of-order pages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PAGE_SIZES), fc.integer({ min: 1, max: 1000 }), async (pageSize, extra) => {
        const lock = lockPgno(pageSize);
        const data = new Uint8Array(pageSize);
        const incr = () => new LtxEncoder(new MemorySink(), makeHeader({ pageSize, commit: lock + 10, minTxid: 2n, maxTxid: 2n }));
        await assert.rejects(incr().writePage(lock, data), LtxEncodeError);
        const small = new LtxEncoder(new MemorySink(), makeHeader({ pageSize, commit: extra, minTxid: 2n, maxTxid: 2n }));
        await assert.rejects(small.writePage(extra + 1, data), /above the commit/);
        const ordered = incr();
        await ordered.writePage(lock + 2, data);
        await assert.rejects(ordered.writePage(lock + 1, data), /ascending/);
        await assert.rejects(ordered.finish(), /encoder is failed/);
        const snap = new LtxEncoder(new MemorySink(), makeHeader({ pageSize, commit: 3, minTxid: 1n, maxTxid: 1n }));
        await snap.writePage(1, data);
        await assert.rejects(snap.writePage(3, data), /sequential/);
      }),
      { numRuns: 16 },
    );
  });

  it('snapshots that cross the lock page skip it and restore it as zeros', async () => {
    const pageSize = 65536;
    const lock = lockPgno(pageSize);
    const commit = lock + 2;
    const sink = new MemorySink();
    const enc = new LtxEncoder(sink, makeHeader({ pageSize, commit, minTxid: 1n, maxTxid: 1n }));
    const page = new Uint8Array(pageSize).fill(7);
    for (let p = 1; p <= commit; p++) if (p !== lock) await enc.writePage(p, page);
    await enc.finish();
    let zeros = 0;
    let size = 0;
    await restoreDatabase([{ source: new MemorySource(sink.bytes()) }], {
      write(chunk) {
        if (size === (lock - 1) * pageSize) zeros = chunk.every((b) => b === 0) ? chunk.length : -1;
        size += chunk.length;
      },
    });
    assert.equal(size, commit * pageSize);
    assert.equal(zeros, pageSize);
  });

  it('garbage and mutated files never crash the decoder: valid, or an LtxError', async () => {
    const seeds = VECTOR_SETS.flatMap((s) =>
      ['A_snapshot_checksum.ltx', 'B_incr_checksum.ltx', 'G_incr_lockpage_nochecksum.ltx', 'I_commit0_checksum.ltx'].map((n) => readVector(s.dir, n)),
    );
    const mutation = fc.record({
      seed: fc.integer({ min: 0, max: seeds.length - 1 }),
      flips: fc.array(fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), { maxLength: 4 }),
      writes: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
      cut: fc.option(fc.nat()),
    });
    const check = async (bytes: Uint8Array, strict: boolean): Promise<void> => {
      try {
        await decodeLtx(bytes, { strict });
      } catch (err) {
        if (!(err instanceof LtxError)) throw err;
      }
      try {
        const f = new MemoryRandomAccess(bytes);
        const map = await readPageMap(f);
        for (const pgno of map.pages.keys()) await fetchPage(f, map, pgno);
      } catch (err) {
        if (!(err instanceof LtxError)) throw err;
      }
    };
    await fc.assert(
      fc.asyncProperty(mutation, fc.boolean(), async (m, strict) => {
        const b = new Uint8Array(seeds[m.seed]!);
        for (const f of m.flips) b[f.at % b.length]! ^= 1 << f.bit;
        for (const w of m.writes) b[w.at % b.length] = w.value;
        await check(m.cut === null ? b : b.subarray(0, m.cut % (b.length + 1)), strict);
      }),
      { numRuns: 1500 },
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.boolean(), async (raw, strict) => {
        // Give most inputs a valid-looking header so the fuzzing reaches the page block.
        const b = new Uint8Array(raw.length + 100);
        b.set(readVector('go-v0.5.1-frame', 'D_incr_nochecksum.ltx').subarray(0, 100));
        b.set(raw, 100);
        await check(b, strict);
        await check(raw, strict);
      }),
      { numRuns: 1500 },
    );
  });

  it('CRC-64 matches a bit-by-bit reference for any split of the input', () => {
    const reference = (data: Uint8Array): bigint => {
      let crc = 0xffffffffffffffffn;
      for (const byte of data) {
        crc ^= BigInt(byte);
        for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ 0xd800000000000000n : crc >> 1n;
      }
      return crc ^ 0xffffffffffffffffn;
    };
    assert.equal(crc64(new TextEncoder().encode('123456789')), 0xb90956c775a41001n);
    assert.equal(crc64(new Uint8Array(0)), 0n);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, a, b) => {
        const cut1 = a % (data.length + 1);
        const cut2 = cut1 + (b % (data.length - cut1 + 1));
        const want = reference(data);
        assert.equal(crc64(data), want);
        // Unaligned views exercise the byte-wise head of the word loop.
        const shifted = new Uint8Array(data.length + 3);
        shifted.set(data, 3);
        const c = new Crc64().update(shifted.subarray(3, 3 + cut1)).update(shifted, 3 + cut1, 3 + cut2).update(data, cut2);
        assert.equal(c.digest(), want);
      }),
      { numRuns: 300 },
    );
  });
});

/** Rewrites a file's TXIDs to [txid, txid] by re-encoding it. */
async function retxid(bytes: Uint8Array, txid: bigint): Promise<Uint8Array> {
  const f = await decodeLtx(bytes);
  const { reserved: _r, ...h } = f.header;
  const sink = new MemorySink();
  const enc = new LtxEncoder(sink, { ...h, minTxid: txid, maxTxid: txid }, { encoding: f.pages[0]?.flags === 1 ? 'block' : 'frame' });
  for (const p of f.pages) await enc.writePage(p.pgno, p.data);
  await enc.finish();
  return sink.bytes();
}
