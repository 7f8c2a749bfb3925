// File times as Litestream reads them: a file replica's LTX file carries its
// header timestamp as its mtime, and Litestream compares that mtime, to the
// nanosecond, with a restore target. Node's utimes takes double seconds, and
// libuv's conversion differs between Node versions (microseconds up to Node
// 22, nanoseconds after), so the choice of double is checked against a model
// of both conversions, and the model against this runtime's real one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { open, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFileTimeMs, utimesResultNs, utimesSecondsFor, type UtimesResolution } from '../../src/io/file-time.js';
import { withTempDir } from '../replication/helpers.js';

const LATEST_MS = Date.UTC(2200, 0, 1);
const msArb = fc.integer({ min: 0, max: LATEST_MS });

/** The adjacent double below a finite positive number. */
function nextDown(x: number): number {
  const f = new Float64Array([x]);
  const u = new BigUint64Array(f.buffer);
  u[0] = u[0]! - 1n;
  return f[0]!;
}

/** How this runtime's utimes converts seconds, learned from a time that only nanosecond resolution keeps. */
async function runtimeResolution(path: string): Promise<UtimesResolution> {
  await utimes(path, 1.0000005, 1.0000005);
  return (await stat(path, { bigint: true })).mtimeNs % 1000n === 0n ? 'microseconds' : 'nanoseconds';
}

describe('utimesSecondsFor', () => {
  it('reaches every millisecond exactly where the runtime keeps microseconds', () => {
    fc.assert(
      fc.property(msArb, (ms) => {
        assert.equal(utimesResultNs(utimesSecondsFor(ms, 'microseconds'), 'microseconds'), BigInt(ms) * 1_000_000n);
      }),
      { numRuns: 5000 },
    );
  });

  it('lands on the earliest time at or after the millisecond where the runtime keeps nanoseconds', () => {
    fc.assert(
      fc.property(msArb, (ms) => {
        const target = BigInt(ms) * 1_000_000n;
        const seconds = utimesSecondsFor(ms, 'nanoseconds');
        const ns = utimesResultNs(seconds, 'nanoseconds');
        // Never before: Litestream counts a file whose mtime is before the target as before it.
        assert.ok(ns >= target, `${ms}: ${ns} is before ${target}`);
        // Within a microsecond, so it rounds down to the same millisecond, and no earlier double would still fit.
        assert.ok(ns - target < 1000n, `${ms}: ${ns} is ${ns - target} ns late`);
        if (seconds > 0) {
          const earlier = utimesResultNs(nextDown(seconds), 'nanoseconds');
          assert.ok(earlier < target || earlier === ns, `${ms}: an earlier double gives ${earlier}`);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('is exact at nanosecond resolution for milliseconds a double holds exactly', () => {
    for (const ms of [0, 1000, 1_704_164_645_500, 1_704_164_645_250, 1_704_164_645_125]) {
      assert.equal(utimesResultNs(utimesSecondsFor(ms, 'nanoseconds'), 'nanoseconds'), BigInt(ms) * 1_000_000n, String(ms));
    }
  });
});

describe('setFileTimeMs on this runtime', () => {
  it('models the runtime: utimes stores what utimesResultNs predicts', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'f');
      await writeFile(path, 'x');
      const resolution = await runtimeResolution(path);
      await fc.assert(
        fc.asyncProperty(fc.double({ min: 0, max: LATEST_MS / 1000, noNaN: true }), async (seconds) => {
          await utimes(path, seconds, seconds);
          assert.equal((await stat(path, { bigint: true })).mtimeNs, utimesResultNs(seconds, resolution), `${seconds} s`);
        }),
        { numRuns: 300 },
      );
    });
  });

  it('sets a file time that is never before the millisecond and within a microsecond of it, exact where the runtime allows', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'f');
      await writeFile(path, 'x');
      const resolution = await runtimeResolution(path);
      await fc.assert(
        fc.asyncProperty(msArb, async (ms) => {
          const fh = await open(path, 'r+');
          try {
            await setFileTimeMs(fh, ms);
          } finally {
            await fh.close();
          }
          const { mtimeNs } = await stat(path, { bigint: true });
          const target = BigInt(ms) * 1_000_000n;
          if (resolution === 'microseconds') assert.equal(mtimeNs, target, String(ms));
          else assert.ok(mtimeNs >= target && mtimeNs - target < 1000n, `${ms}: ${mtimeNs}`);
        }),
        { numRuns: 300 },
      );
    });
  });
});
