import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { s3V03GenerationsPrefix, s3V03Key, s3V03Prefix, s3V03SkipDirStartAfter } from '../../../src/storage/s3/s3-v03-key-layout.js';
import { v03SnapshotKey, v03WalSegmentKey } from '../../../src/storage/v03-replica-client.js';

const GEN = '0123456789abcdef';

/** S3 orders keys by their UTF-8 bytes. */
function cmpKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

describe('S3 keys of Litestream v0.3 backups', () => {
  it('joins the path as Go path.Join does: no leading "/" for an empty path, cleaned otherwise', () => {
    assert.equal(s3V03Key('', v03SnapshotKey(GEN, 1)), `generations/${GEN}/snapshots/00000001.snapshot.lz4`);
    assert.equal(s3V03Key('db/main', v03WalSegmentKey(GEN, 2, 0x1038)), `db/main/generations/${GEN}/wal/00000002_00001038.wal.lz4`);
    assert.equal(s3V03Key('a//b/', 'generations'), 'a/b/generations');
    assert.equal(s3V03GenerationsPrefix(''), 'generations/');
    assert.equal(s3V03GenerationsPrefix('db'), 'db/generations/');
    assert.equal(s3V03Prefix('db', `generations/${GEN}/wal`), `db/generations/${GEN}/wal/`);
  });

  it('skips exactly the keys under one name: every later key stays, in S3 (UTF-8 byte) order', () => {
    // Characters on both sides of '/' and '0', and multi-byte ones, where UTF-16 and UTF-8 orders could differ.
    const ch = fc.constantFrom('/', '-', '.', '0', '1', 'a', 'f', 'A', 'z', '~', '\u00e9', '\uffef', '\u{1f600}');
    const segment = fc.array(ch.filter((c) => c !== '/'), { minLength: 1, maxLength: 4 }).map((a) => a.join(''));
    const rest = fc.array(ch, { maxLength: 5 }).map((a) => a.join(''));
    fc.assert(
      fc.property(segment, fc.array(rest, { maxLength: 20 }), (name, tails) => {
        const prefix = 'p/generations/';
        const dir = `${prefix}${name}/`;
        const skip = s3V03SkipDirStartAfter(prefix, name);
        // Every key under the prefix from the name's own keys on: kept iff not the name's and not `skip` itself.
        const keys = [`${dir}x`, skip, ...tails.flatMap((t) => [`${prefix}${t}`, `${prefix}${name}${t}`, `${dir}${t}`])];
        for (const key of keys) {
          if (cmpKeys(key, dir) < 0) continue;
          const skipped = cmpKeys(key, skip) <= 0;
          assert.equal(skipped, key.startsWith(dir) || key === skip, `${JSON.stringify(key)} after ${JSON.stringify(skip)}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});
