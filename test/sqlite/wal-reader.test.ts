import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { walChecksum } from '../../src/sqlite/wal-checksum.js';
import { PrevFrameMismatchError, WalFormatError, WalOffsetError, type PrevFrameMismatchCode } from '../../src/sqlite/wal-errors.js';
import { walFrameSize, WAL_HEADER_SIZE } from '../../src/sqlite/wal-header.js';
import { readWalFrame, WalFrameReader, type WalEndReason, type WalFrameInfo } from '../../src/sqlite/wal-reader.js';
import { walPageMap } from '../../src/sqlite/wal-page-map.js';
import { buildWal, withTempDir, type FrameSpec, type WalSpec } from './helpers.js';

const PAGE = 512;
const FRAME = walFrameSize(PAGE);
const SALT1 = 0x11223344;
const SALT2 = 0x55667788;

function page(fill: number): Uint8Array {
  return new Uint8Array(PAGE).fill(fill);
}

/** Three transactions: {1,2} commit 2, {3} commit 3, {2,4} commit 4, then an uncommitted {5}. */
const FRAMES: FrameSpec[] = [
  { pgno: 1, data: page(0xa1) },
  { pgno: 2, commit: 2, data: page(0xa2) },
  { pgno: 3, commit: 3, data: page(0xa3) },
  { pgno: 2, data: page(0xb2) },
  { pgno: 4, commit: 4, data: page(0xa4) },
  { pgno: 5, data: page(0xa5) },
];

function spec(overrides: Partial<WalSpec> = {}): WalSpec {
  return { pageSize: PAGE, salt1: SALT1, salt2: SALT2, frames: FRAMES, ...overrides };
}

async function withWal<T>(bytes: Uint8Array, fn: (fh: FileHandle, path: string) => Promise<T>): Promise<T> {
  return withTempDir(async (dir) => {
    const path = join(dir, 'test.db-wal');
    await writeFile(path, bytes);
    const fh = await open(path, 'r');
    try {
      return await fn(fh, path);
    } finally {
      await fh.close();
    }
  });
}

async function readAll(reader: WalFrameReader): Promise<{ frames: { offset: number; pgno: number; commit: number; first: number }[]; end: WalEndReason | undefined }> {
  const frames: { offset: number; pgno: number; commit: number; first: number }[] = [];
  for await (const f of reader) frames.push({ offset: f.offset, pgno: f.pgno, commit: f.commit, first: f.data[0]! });
  return { frames, end: reader.endReason };
}

function offsetOf(index: number): number {
  return WAL_HEADER_SIZE + index * FRAME;
}

/**
 * A one-frame WAL spelled out byte by byte, with checksums worked out
 * independently of the code under test: header salts 0x11223344/0x55667788,
 * 512-byte pages, page 1 = bytes 0..255 twice, commit size 1.
 */
function literalWal(bigEndian: boolean): { bytes: Uint8Array; header: [number, number]; frame: [number, number] } {
  const header: [number, number] = bigEndian ? [0x2726fe1b, 0x23664f5c] : [0x18fe2524, 0x594f631e];
  const frame: [number, number] = bigEndian ? [0x02bb5bbc, 0xf63dc570] : [0x178c41f2, 0x7e1fa4a6];
  const words = [bigEndian ? 0x377f0683 : 0x377f0682, 3007000, 512, 0, 0x11223344, 0x55667788, ...header, 1, 1, 0x11223344, 0x55667788, ...frame];
  const bytes = new Uint8Array(WAL_HEADER_SIZE + FRAME);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w));
  for (let i = 0; i < PAGE; i++) bytes[WAL_HEADER_SIZE + 24 + i] = i & 0xff;
  return { bytes, header, frame };
}

describe('WAL frame reader on hand-built WALs', () => {
  for (const bigEndian of [false, true]) {
    it(`validates a one-frame WAL with known checksums (${bigEndian ? 'big' : 'little'}-endian)`, async () => {
      const { bytes, header, frame } = literalWal(bigEndian);
      await withWal(bytes, async (fh) => {
        const reader = await WalFrameReader.open(fh);
        assert.deepEqual(reader.header.checksum, { s0: header[0], s1: header[1] });
        const f = await reader.next();
        assert.ok(f !== null, 'the frame is valid');
        assert.equal(f.pgno, 1);
        assert.equal(f.commit, 1);
        assert.equal(f.data[255], 255);
        assert.deepEqual(reader.checksum, { s0: frame[0], s1: frame[1] });
        assert.equal(await reader.next(), null);
        assert.equal(reader.endReason, 'end-of-file');
      });
      // The same bytes read with the other word order do not validate.
      const other = literalWal(!bigEndian).bytes;
      other.set(bytes.subarray(WAL_HEADER_SIZE + 16, WAL_HEADER_SIZE + 24), WAL_HEADER_SIZE + 16);
      await withWal(other, async (fh) => {
        const reader = await WalFrameReader.open(fh);
        assert.equal(await reader.next(), null);
        assert.equal(reader.endReason, 'checksum-mismatch');
      });
    });
  }

  for (const bigEndian of [false, true]) {
    it(`reads every valid frame with its fields (${bigEndian ? 'big' : 'little'}-endian checksums)`, async () => {
      await withWal(buildWal(spec({ bigEndian })), async (fh) => {
        const reader = await WalFrameReader.open(fh);
        assert.equal(reader.header.bigEndianChecksum, bigEndian);
        const { frames, end } = await readAll(reader);
        assert.deepEqual(
          frames,
          FRAMES.map((f, i) => ({ offset: offsetOf(i), pgno: f.pgno, commit: f.commit ?? 0, first: f.data[0] })),
        );
        assert.equal(end, 'end-of-file');
        assert.equal(reader.offset, offsetOf(FRAMES.length));
        assert.equal(reader.frames, FRAMES.length);
        // The running checksum is the last frame's stored checksum.
        const last = await readWalFrame(fh, offsetOf(FRAMES.length - 1), PAGE);
        assert.deepEqual(reader.checksum, last.checksum);
      });
    });
  }

  it('computes the frame checksum over pgno, commit and the page, seeded by the header checksum', async () => {
    const bytes = buildWal(spec({ frames: [{ pgno: 9, commit: 9, data: page(3) }] }));
    await withWal(bytes, async (fh) => {
      const reader = await WalFrameReader.open(fh);
      const frame = (await reader.next())!;
      const head = Uint8Array.from([0, 0, 0, 9, 0, 0, 0, 9]);
      const expected = walChecksum(page(3), false, walChecksum(head, false, reader.header.checksum));
      assert.deepEqual(frame.checksum, expected);
    });
  });

  it('returns the same frames whatever the chunk size', async () => {
    const bytes = buildWal(spec());
    await withWal(bytes, async (fh) => {
      const reference = await readAll(await WalFrameReader.open(fh));
      for (const chunkBytes of [1, FRAME, FRAME + 1, 2 * FRAME, 5 * FRAME, 1 << 20]) {
        assert.deepEqual(await readAll(await WalFrameReader.open(fh, { chunkBytes })), reference, `chunkBytes ${chunkBytes}`);
      }
    });
  });

  const endings: { name: string; reason: WalEndReason; at: number; mutate: (b: Uint8Array) => Uint8Array }[] = [
    { name: 'a file cut inside a frame', reason: 'partial-frame', at: 4, mutate: (b) => b.subarray(0, offsetOf(4) + 100) },
    { name: 'a file cut inside a frame header', reason: 'partial-frame', at: 4, mutate: (b) => b.subarray(0, offsetOf(4) + 10) },
    { name: 'a file cut at a frame boundary', reason: 'end-of-file', at: 4, mutate: (b) => b.subarray(0, offsetOf(4)) },
    { name: 'a flipped page byte', reason: 'checksum-mismatch', at: 3, mutate: (b) => flip(b, offsetOf(3) + 24 + 200) },
    { name: 'a flipped commit field', reason: 'checksum-mismatch', at: 2, mutate: (b) => flip(b, offsetOf(2) + 7) },
    { name: 'a flipped stored checksum', reason: 'checksum-mismatch', at: 1, mutate: (b) => flip(b, offsetOf(1) + 20) },
    { name: 'a flipped salt', reason: 'salt-mismatch', at: 3, mutate: (b) => flip(b, offsetOf(3) + 9) },
  ];
  for (const { name, reason, at, mutate } of endings) {
    it(`ends the valid WAL at ${name} (${reason})`, async () => {
      await withWal(mutate(buildWal(spec())), async (fh) => {
        const reader = await WalFrameReader.open(fh);
        const { frames, end } = await readAll(reader);
        assert.equal(frames.length, at);
        assert.equal(end, reason);
        assert.equal(reader.offset, offsetOf(at));
        assert.equal(await reader.next(), null, 'stays at the end');
      });
    });
  }

  it('a checksum break ends the WAL even when later frames would chain from the stored value', async () => {
    // Frame 1's stored checksum is wrong; frame 2 is computed from the correct chain, as SQLite would never write.
    const bytes = buildWal(spec({ frames: [FRAMES[0]!, { ...FRAMES[1]!, checksum: { s0: 1, s1: 2 } }, FRAMES[2]!] }));
    await withWal(bytes, async (fh) => {
      const { frames, end } = await readAll(await WalFrameReader.open(fh));
      assert.equal(frames.length, 1);
      assert.equal(end, 'checksum-mismatch');
    });
  });

  it('a frame for page 0 ends the WAL', async () => {
    const bytes = buildWal(spec({ frames: [FRAMES[0]!, { pgno: 0, commit: 1, data: page(1) }] }));
    await withWal(bytes, async (fh) => {
      const { frames, end } = await readAll(await WalFrameReader.open(fh));
      assert.equal(frames.length, 1);
      assert.equal(end, 'zero-pgno');
    });
  });

  it('stale frames of an earlier generation (other salts) after the live ones are not read', async () => {
    const stale = FRAMES.map((f) => ({ ...f, salts: [SALT1 - 1, 0x99] as [number, number] }));
    const bytes = buildWal(spec({ frames: [FRAMES[0]!, FRAMES[1]!, ...stale.slice(2)] }));
    await withWal(bytes, async (fh) => {
      const { frames, end } = await readAll(await WalFrameReader.open(fh));
      assert.equal(frames.length, 2);
      assert.equal(end, 'salt-mismatch');
    });
  });

  it('an empty WAL (header only) has no frames', async () => {
    await withWal(buildWal(spec({ frames: [] })), async (fh) => {
      const reader = await WalFrameReader.open(fh);
      assert.equal(await reader.next(), null);
      assert.equal(reader.endReason, 'end-of-file');
      const map = await walPageMap(await WalFrameReader.open(fh));
      assert.equal(map.pages.size, 0);
      assert.equal(map.commit, 0);
      assert.equal(map.maxOffset, WAL_HEADER_SIZE);
    });
  });

  it('a frame view is valid until the next read', async () => {
    await withWal(buildWal(spec()), async (fh) => {
      const reader = await WalFrameReader.open(fh, { chunkBytes: FRAME });
      const first = (await reader.next()) as WalFrameInfo;
      assert.equal(first.data[0], 0xa1);
      await reader.next();
      assert.equal(first.data[0], 0xa2, 'one-frame chunks reuse the buffer');
    });
  });

  it('stops with the abort reason when its signal is aborted', async () => {
    await withWal(buildWal(spec()), async (fh) => {
      const controller = new AbortController();
      const reader = await WalFrameReader.open(fh, { chunkBytes: FRAME, signal: controller.signal });
      await reader.next();
      controller.abort(new Error('stop'));
      await assert.rejects(reader.next(), /stop/);
    });
  });
});

describe('bounded memory', () => {
  it('maps a 64 MiB WAL with memory growth far below its size', async () => {
    const pageSize = 4096;
    const count = 16_384;
    const content = new Uint8Array(pageSize);
    const frames: FrameSpec[] = [];
    for (let i = 0; i < count; i++) frames.push({ pgno: (i % 3000) + 1, commit: i % 100 === 99 ? 3000 : 0, data: content });
    const bytes = buildWal({ pageSize, salt1: 1, salt2: 2, frames });
    frames.length = 0;
    await withWal(bytes, async (fh) => {
      const usage = (): number => {
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const before = usage();
      let peak = before;
      const reader = await WalFrameReader.open(fh);
      let committed = 0;
      for (let f = await reader.next(); f !== null; f = await reader.next()) {
        if (f.commit !== 0) committed++;
        peak = Math.max(peak, usage());
      }
      assert.equal(committed, Math.floor(count / 100));
      const map = await walPageMap(await WalFrameReader.open(fh));
      assert.equal(map.pages.size, 3000);
      assert.ok(peak - before < 24 * 1024 * 1024, `memory grew by ${((peak - before) / 2 ** 20).toFixed(1)} MiB while reading ${(bytes.length / 2 ** 20).toFixed(0)} MiB`);
    });
  });
});

describe('readWalFrame', () => {
  it('returns the frame at an offset as stored, valid or not', async () => {
    const bytes = flip(buildWal(spec()), offsetOf(2) + 30);
    await withWal(bytes, async (fh) => {
      const f = await readWalFrame(fh, offsetOf(2), PAGE);
      assert.equal(f.pgno, 3);
      assert.equal(f.commit, 3);
      assert.equal(f.salt1, SALT1);
      assert.equal(f.salt2, SALT2);
      assert.equal(f.data.length, PAGE);
      assert.equal(f.data[0], 0xa3);
      assert.equal(f.data[6], 0xa3 ^ 0xff);
    });
  });

  it('refuses offsets that are not frame boundaries, and frames the file cuts short', async () => {
    await withWal(buildWal(spec()).subarray(0, offsetOf(5) + 100), async (fh) => {
      for (const bad of [0, 31, 33, offsetOf(1) + 8, -FRAME, 1.5]) {
        await assert.rejects(readWalFrame(fh, bad, PAGE, { file: 'w' }), (err: unknown) => err instanceof WalOffsetError && err.offset === bad);
      }
      await assert.rejects(readWalFrame(fh, offsetOf(5), PAGE, { file: 'w' }), (err: unknown) => {
        assert.ok(err instanceof WalFormatError);
        assert.equal(err.code, 'short-frame');
        assert.match(err.message, new RegExp(`^w at offset ${offsetOf(5)}: `));
        return true;
      });
    });
  });
});

describe('resuming at an offset', () => {
  it('withOffset at each frame boundary returns the same frames and final checksum as a full read', async () => {
    for (const bigEndian of [false, true]) {
      await withWal(buildWal(spec({ bigEndian })), async (fh) => {
        const full = await WalFrameReader.open(fh);
        const all = await readAll(full);
        for (let i = 0; i <= FRAMES.length; i++) {
          const reader = await WalFrameReader.withOffset(fh, offsetOf(i), SALT1, SALT2);
          const rest = await readAll(reader);
          assert.deepEqual(rest.frames, all.frames.slice(i));
          assert.deepEqual(reader.checksum, full.checksum);
        }
      });
    }
  });

  it('resume from a saved position continues the checksum without re-reading', async () => {
    await withWal(buildWal(spec()), async (fh) => {
      const first = await WalFrameReader.open(fh);
      await first.next();
      await first.next();
      const saved = first.position;
      const all = await readAll(first);
      const resumed = await WalFrameReader.resume(fh, saved);
      assert.deepEqual(await readAll(resumed), all);
      // A wrong seed breaks the chain at the first frame: nothing is read rather than something wrong.
      const wrong = await WalFrameReader.resume(fh, { ...saved, checksum: { s0: 1, s1: 1 } });
      assert.equal(await wrong.next(), null);
      assert.equal(wrong.endReason, 'checksum-mismatch');
    });
  });

  async function expectMismatch(p: Promise<unknown>, code: PrevFrameMismatchCode): Promise<void> {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof PrevFrameMismatchError, String(err));
      assert.equal(err.code, code);
      return true;
    });
  }

  it('reports PrevFrameMismatchError when the header has other salts (the WAL restarted)', async () => {
    await withWal(buildWal(spec()), async (fh) => {
      await expectMismatch(WalFrameReader.withOffset(fh, offsetOf(2), SALT1 + 1, SALT2), 'header-salts');
      await expectMismatch(WalFrameReader.withOffset(fh, WAL_HEADER_SIZE, SALT1, SALT2 + 1), 'header-salts');
      await expectMismatch(WalFrameReader.resume(fh, { offset: offsetOf(1), salt1: 1, salt2: 2, checksum: { s0: 0, s1: 0 } }), 'header-salts');
    });
  });

  it('reports PrevFrameMismatchError when the previous frame belongs to another generation', async () => {
    // The header and frame 0 are the new generation; frame 1 onwards are stale frames of the old one.
    const frames = [FRAMES[0]!, ...FRAMES.slice(1).map((f) => ({ ...f, salts: [7, 8] as [number, number] }))];
    await withWal(buildWal(spec({ frames })), async (fh) => {
      await expectMismatch(WalFrameReader.withOffset(fh, offsetOf(3), SALT1, SALT2), 'frame-salts');
      const ok = await WalFrameReader.withOffset(fh, offsetOf(1), SALT1, SALT2);
      assert.equal(await ok.next(), null);
      assert.equal(ok.endReason, 'salt-mismatch');
    });
  });

  it('reports PrevFrameMismatchError when the WAL no longer reaches the offset', async () => {
    await withWal(buildWal(spec()).subarray(0, offsetOf(2) + 50), async (fh) => {
      await expectMismatch(WalFrameReader.withOffset(fh, offsetOf(3), SALT1, SALT2), 'short-frame');
      await expectMismatch(WalFrameReader.withOffset(fh, offsetOf(9), SALT1, SALT2), 'short-frame');
    });
  });

  it('refuses an offset that is not a frame boundary with WalOffsetError', async () => {
    await withWal(buildWal(spec()), async (fh) => {
      await assert.rejects(WalFrameReader.withOffset(fh, offsetOf(2) + 24, SALT1, SALT2), WalOffsetError);
      await assert.rejects(WalFrameReader.withOffset(fh, 0, SALT1, SALT2), WalOffsetError);
    });
  });
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 0xff;
  return out;
}
