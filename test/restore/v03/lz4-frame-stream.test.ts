import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeLz4Frames } from '../../../src/restore/v03/lz4-frame-stream.js';
import { V03CorruptObjectError } from '../../../src/restore/v03/errors.js';
import { Xxh32Stream } from '../../../src/ltx/xxh32.js';
import { xxh32 } from '../../../src/ltx/xxh32.js';
import { chunked, collect, lz4Cli, V03_FIXTURE_GENERATION, V03_FIXTURE_REPLICA } from './helpers.js';
import { listFiles } from './helpers.js';

const GEN_DIR = join(V03_FIXTURE_REPLICA, 'generations', V03_FIXTURE_GENERATION);

/** Data that compresses somewhat: runs, repeats of earlier stretches (also across 64 KiB blocks), and noise. */
const sampleData = fc
  .record({
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    length: fc.integer({ min: 0, max: 600 * 1024 }),
    noise: fc.integer({ min: 0, max: 100 }),
  })
  .map(({ seed, length, noise }) => {
    const out = new Uint8Array(length);
    let x = seed;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    let p = 0;
    while (p < length) {
      const kind = next() % 100;
      const n = Math.min(length - p, 1 + (next() % 3000));
      if (kind < noise) for (let i = 0; i < n; i++) out[p + i] = next() & 0xff;
      else if (kind % 2 === 0 && p > 0) {
        const from = next() % p;
        for (let i = 0; i < n; i++) out[p + i] = out[from + (i % (p - from))]!;
      } else out.fill(next() & 0xff, p, p + n);
      p += n;
    }
    return out;
  });

const cliOptions = fc.record({
  blockSize: fc.constantFrom('-B4', '-B5', '-B6', '-B7'),
  linked: fc.boolean(),
  blockChecksum: fc.boolean(),
  contentSize: fc.boolean(),
  noContentChecksum: fc.boolean(),
  level: fc.constantFrom('-1', '-9'),
});

function cliArgs(o: { blockSize: string; linked: boolean; blockChecksum: boolean; contentSize: boolean; noContentChecksum: boolean; level: string }): string[] {
  const args = ['-z', '-q', o.blockSize, o.level];
  if (o.linked) args.push('-BD');
  if (o.blockChecksum) args.push('-BX');
  if (o.contentSize) args.push('--content-size');
  if (o.noContentChecksum) args.push('--no-frame-crc');
  return args;
}

async function decodeError(bytes: Uint8Array, sizes?: number[]): Promise<V03CorruptObjectError> {
  try {
    await collect(decodeLz4Frames(chunked(bytes, sizes), 'obj'));
  } catch (err) {
    assert.ok(err instanceof V03CorruptObjectError, `expected V03CorruptObjectError, got ${String(err)}`);
    assert.equal(err.object, 'obj');
    assert.match(err.message, /^obj: /);
    return err;
  }
  assert.fail('decoding succeeded');
}

describe('decodeLz4Frames', () => {
  it('decodes every object of the golden v0.3 replica as the lz4 tool does', async () => {
    const files = await listFiles(GEN_DIR);
    assert.equal(files.length, 7);
    for (const f of files) {
      const bytes = await readFile(join(GEN_DIR, f));
      const got = await collect(decodeLz4Frames(chunked(bytes, [1, 7, 64]), f));
      assert.deepEqual(got, lz4Cli(['-d'], bytes), f);
    }
  });

  it('decodes whatever frame options the lz4 tool writes, in any input chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(sampleData, cliOptions, fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 5 }), async (data, opts, sizes) => {
        const compressed = lz4Cli(cliArgs(opts), data);
        const got = await collect(decodeLz4Frames(chunked(compressed, sizes), 'x'));
        assert.equal(got.length, data.length);
        assert.ok(got.equals(Buffer.from(data)), `options ${cliArgs(opts).join(' ')}`);
      }),
      { numRuns: 40 },
    );
  });

  it('follows matches of linked blocks into the blocks before them', async () => {
    let x = 12345;
    const noise = new Uint8Array(64 * 1024).map(() => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x >>> 16;
    });
    const data = Buffer.concat([noise, noise, noise]);
    const compressed = lz4Cli(['-z', '-q', '-B4', '-BD'], data);
    // Noise does not compress: only references from each block into the one before make it this small.
    assert.ok(compressed.length < noise.length * 1.2, `linked frame is ${compressed.length} bytes`);
    assert.ok((await collect(decodeLz4Frames(chunked(compressed, [5000]), 'x'))).equals(data));
  });

  it('reads concatenated frames and skips skippable frames', async () => {
    const a = Buffer.from('first frame '.repeat(1000));
    const b = Buffer.from('second frame '.repeat(500));
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a5a, 0);
    skippable.writeUInt32LE(5, 4);
    const input = Buffer.concat([skippable, lz4Cli(['-z', '-q'], a), skippable, lz4Cli(['-z', '-q', '-BD', '-B4'], b)]);
    const got = await collect(decodeLz4Frames(chunked(input, [3]), 'x'));
    assert.ok(got.equals(Buffer.concat([a, b])));
  });

  it('yields each block in a fresh chunk the caller may keep', async () => {
    const data = new Uint8Array(300 * 1024).map((_, i) => (i * 7) % 251);
    const chunks: Uint8Array[] = [];
    for await (const c of decodeLz4Frames(chunked(lz4Cli(['-z', '-q', '-B4'], data)), 'x')) chunks.push(c);
    assert.ok(chunks.length >= 5);
    assert.ok(Buffer.concat(chunks).equals(Buffer.from(data)));
    for (const c of chunks) assert.ok(c.length <= 64 * 1024);
  });

  it('refuses an empty input', async () => {
    const err = await decodeError(new Uint8Array(0));
    assert.match(err.reason, /empty file/);
    assert.equal(err.offset, 0);
  });

  it('refuses every truncation of a frame, naming the object and the end of the data (property)', async () => {
    const data = Buffer.from('truncated frames say where they end '.repeat(4000));
    const withChecksums = lz4Cli(['-z', '-q', '-B4', '-BX', '--content-size'], data);
    const plain = lz4Cli(['-z', '-q', '--no-frame-crc'], data);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(withChecksums, plain), fc.nat(), async (frame, at) => {
        const cut = 1 + (at % (frame.length - 1));
        const err = await decodeError(frame.subarray(0, cut), [4096]);
        assert.match(err.reason, /^truncated: /);
        assert.ok(err.offset !== undefined && err.offset <= cut, `offset ${err.offset} beyond the cut at ${cut}`);
      }),
      { numRuns: 60 },
    );
  });

  it('never yields wrong bytes from a frame with a content checksum, whichever byte is corrupted (property)', async () => {
    const wal = await readFile(join(GEN_DIR, 'wal', '00000000_00000000.wal.lz4'));
    const data = Buffer.from('corruption is caught by some check or other; '.repeat(3000));
    const inputs = [wal, lz4Cli(['-z', '-q', '-B4'], data), lz4Cli(['-z', '-q', '-B4', '-BD', '-BX'], data)];
    const originals = new Map(inputs.map((f) => [f, lz4Cli(['-d'], f)]));
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...inputs), fc.nat(), fc.integer({ min: 1, max: 255 }), async (frame, at, xor) => {
        const bad = Buffer.from(frame);
        const pos = at % bad.length;
        bad[pos] = bad[pos]! ^ xor;
        let out: Buffer;
        try {
          out = await collect(decodeLz4Frames(chunked(bad), 'obj'));
        } catch (err) {
          assert.ok(err instanceof V03CorruptObjectError, String(err));
          assert.ok(err.offset !== undefined && err.offset <= bad.length);
          refused++;
          return;
        }
        // A few changes decode to the same bytes (a match offset moved within a run of one byte value): harmless.
        assert.ok(out.equals(originals.get(frame)!), `corrupting byte ${pos} went unnoticed and changed the output`);
      }),
      { numRuns: 150 },
    );
    assert.ok(refused > 100, `only ${refused} of 150 corruptions refused`);
  });

  it('names the checksum that failed', async () => {
    const data = Buffer.from('content checksum '.repeat(100));
    const frame = lz4Cli(['-z', '-q'], data);
    const bad = Buffer.from(frame);
    bad.writeUInt32LE((bad.readUInt32LE(bad.length - 4) ^ 1) >>> 0, bad.length - 4);
    const err = await decodeError(bad);
    assert.match(err.reason, /LZ4 content checksum mismatch/);
    assert.equal(err.offset, bad.length - 4);

    const hdr = Buffer.from(frame);
    hdr[6] = hdr[6]! ^ 0xff;
    assert.match((await decodeError(hdr)).reason, /frame header checksum mismatch/);
  });

  it('refuses the legacy format, dictionary IDs, garbage after a frame, and a stray partial magic', async () => {
    const data = Buffer.from('legacy '.repeat(100));
    assert.match((await decodeError(lz4Cli(['-z', '-q', '-l'], data))).reason, /legacy LZ4 format/);

    const frame = lz4Cli(['-z', '-q'], data);
    const dict = Buffer.from(frame);
    dict[4] = dict[4]! | 0x01;
    assert.match((await decodeError(dict)).reason, /dictionary ID/);

    const garbage = Buffer.concat([frame, Buffer.from('not lz4!')]);
    const e1 = await decodeError(garbage);
    assert.match(e1.reason, /not an LZ4 frame: magic .* after the last frame/);
    assert.equal(e1.offset, frame.length);

    const stray = Buffer.concat([frame, Buffer.from([0x04, 0x22])]);
    assert.match((await decodeError(stray)).reason, /stray byte/);
  });

  it('closes the source when the consumer stops early or decoding fails', async () => {
    let closed = 0;
    async function* source(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; i < bytes.length; i += 1000) yield bytes.slice(i, i + 1000);
      } finally {
        closed++;
      }
    }
    const frame = lz4Cli(['-z', '-q', '-B4'], new Uint8Array(500 * 1024).map((_, i) => i % 13));
    for await (const _ of decodeLz4Frames(source(frame), 'x')) break;
    assert.equal(closed, 1);
    const bad = Buffer.from(frame);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    await assert.rejects(collect(decodeLz4Frames(source(bad), 'x')), V03CorruptObjectError);
    assert.equal(closed, 2);
  });

  it('stops when the signal fires', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(collect(decodeLz4Frames(chunked(lz4Cli(['-z', '-q'], Buffer.from('x'))), 'x', ac.signal)), /stop/);
  });
});

describe('Xxh32Stream', () => {
  it('matches the one-shot xxh32 however the input is split (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat({ max: 40 }), { maxLength: 12 }), fc.integer(), (data, cuts, seed) => {
        const h = new Xxh32Stream(seed);
        let p = 0;
        for (const c of cuts) {
          const end = Math.min(data.length, p + c);
          h.update(data, p, end);
          p = end;
        }
        h.update(data, p);
        assert.equal(h.digest(), xxh32(data, seed));
      }),
    );
  });

  it('digest leaves the state as it was', () => {
    const h = new Xxh32Stream().update(new TextEncoder().encode('hello world, hello world'));
    assert.equal(h.digest(), h.digest());
    assert.throws(() => h.update(new Uint8Array(4), 3, 2), RangeError);
  });
});
