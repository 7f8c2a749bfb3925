import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseByteSize } from '../../src/config/byte-size.js';
import { expandEnvLikeGo } from '../../src/config/env-expand.js';
import { ValueSyntaxError } from '../../src/config/errors.js';
import { GlobPattern } from '../../src/config/glob-pattern.js';
import { expandPath, stripSqlitePrefix } from '../../src/config/path-expand.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('parseByteSize (part-size)', () => {
  const valid: Array<[string, number]> = [
    ['100', 100],
    ['100B', 100],
    ['1K', 1000],
    ['1KB', 1000],
    ['1Ki', KiB],
    ['1KiB', KiB],
    ['1024KiB', MiB],
    ['5MB', 5_000_000],
    ['5MiB', 5 * MiB],
    ['5mib', 5 * MiB],
    ['5MIB', 5 * MiB],
    ['1M', 1_000_000],
    ['1GB', 1e9],
    ['1GiB', GiB],
    ['10 GiB', 10 * GiB],
    ['5 MB', 5_000_000],
    ['  5MB  ', 5_000_000],
    ['1TB', 1e12],
    ['1TiB', 1024 * GiB],
    ['1.5MB', 1_500_000],
    ['1.5MiB', 1_572_864],
    ['0.5MB', 500_000],
    ['2.5GiB', 2_684_354_560],
    ['100.5KB', 100_500],
    ['1,000KB', 1_000_000],
    ['.5K', 500],
  ];
  for (const [text, want] of valid) {
    it(`${JSON.stringify(text)} = ${want}`, () => assert.equal(parseByteSize(text), want));
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['MB', /no number/],
    ['invalid', /no number/],
    ['notanumber', /no number/],
    ['-5MB', /no number/],
    ['1XB', /unknown unit "XB"/],
    ['5 MBs', /unknown unit "MBs"/],
    ['1.2.3MB', /no number/],
    ['8EiB', /int64/],
    ['10EB', /int64/],
  ];
  for (const [text, why] of invalid) {
    it(`${JSON.stringify(text)} is rejected (${why.source})`, () => {
      assert.throws(() => parseByteSize(text), (err: unknown) => err instanceof ValueSyntaxError && why.test(err.message));
    });
  }

  it('a plain integer is that many bytes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => parseByteSize(String(n)) === n));
  });
});

describe('expandEnvLikeGo (os.Expand rules)', () => {
  const env: Record<string, string> = { HOME: '/home/u', BUCKET: 'bkt', EMPTY: '', A: 'x' };
  const lookup = (name: string): string => env[name] ?? '';
  const cases: Array<[string, string]> = [
    ['$HOME/db', '/home/u/db'],
    ['${HOME}/db', '/home/u/db'],
    ['s3://${BUCKET}/p', 's3://bkt/p'],
    ['$BUCKETX', ''],
    ['${BUCKET}X', 'bktX'],
    ['$UNSET', ''],
    ['a$EMPTY-b', 'a-b'],
    ['pa$$word', 'paword'],
    ['pa$1word', 'paword'],
    ['${}x', 'x'],
    ['a${', 'a'],
    ['a${HOME', 'aHOME'],
    ['${FOO:-default}', ''],
    ['${A}${A}$A', 'xxx'],
    ['cost: 5$', 'cost: 5$'],
    ['$ x', '$ x'],
    ['$-', ''],
    ['${1}', ''],
    ['$é', '$é'],
    ['no dollars', 'no dollars'],
  ];
  for (const [src, want] of cases) {
    it(`${JSON.stringify(src)} → ${JSON.stringify(want)}`, () => assert.equal(expandEnvLikeGo(src, lookup).text, want));
  }

  it('maps offsets in the expanded text back to the original', () => {
    const src = 'a: $HOME\nb: ${BUCKET} c\n';
    const e = expandEnvLikeGo(src, lookup);
    assert.equal(e.text, 'a: /home/u\nb: bkt c\n');
    // 'b' on line 2 and the 'c' after a substituted value keep their original offsets.
    assert.equal(e.toSourceOffset(e.text.indexOf('b:')), src.indexOf('b:'));
    assert.equal(e.toSourceOffset(e.text.indexOf(' c')), src.indexOf(' c'));
    // Inside a substituted value, the offset is that of its '$'.
    assert.equal(e.toSourceOffset(e.text.indexOf('home')), src.indexOf('$HOME'));
    assert.equal(e.toSourceOffset(e.text.length), src.length);
  });

  it('text without $ is unchanged and maps one to one', () => {
    fc.assert(
      fc.property(fc.string().filter((s) => !s.includes('$')), fc.nat(), (s, k) => {
        const e = expandEnvLikeGo(s, lookup);
        assert.equal(e.text, s);
        const off = s.length === 0 ? 0 : k % s.length;
        assert.equal(e.toSourceOffset(off), off);
      }),
    );
  });
});

describe('GlobPattern (Go filepath.Match)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab/c', false],
    ['a*/b', 'abc/b', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a\u263ab', true],
    ['a[^a]b', 'a\u263ab', true],
    ['a???b', 'a\u263ab', false],
    ['[a-\u03b6]*', '\u03b1', true],
    ['*[a-\u03b6]', 'A', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['[\\]a]', ']', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true],
    ['*x', 'xxx', true],
    ['*.db', 'app.db', true],
    ['*.db', 'app.db-wal', false],
    ['*.db', '.db', true],
    ['*.sqlite*', 'a.sqlite3', true],
    ['tenant-?.db', 'tenant-1.db', true],
    ['tenant-?.db', 'tenant-10.db', false],
  ];
  for (const [pattern, name, want] of cases) {
    it(`${JSON.stringify(pattern)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(name)}`, () => {
      assert.equal(GlobPattern.compile(pattern).matches(name), want);
    });
  }

  const malformed = ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a[', 'a/b['];
  for (const pattern of malformed) {
    it(`${JSON.stringify(pattern)} is a malformed pattern`, () => {
      assert.throws(() => GlobPattern.compile(pattern), (err: unknown) => err instanceof ValueSyntaxError && /malformed pattern/.test(err.message));
    });
  }

  it('a pattern without special characters matches exactly itself', () => {
    const plain = fc.string({ minLength: 1 }).filter((s) => !/[*?[\\]/.test(s));
    fc.assert(
      fc.property(plain, fc.string(), (p, other) => {
        const g = GlobPattern.compile(p);
        assert.equal(g.matches(p), true);
        assert.equal(g.matches(other), other === p);
      }),
    );
  });

  it('stars stay fast on long names', () => {
    const g = GlobPattern.compile('*a*a*a*a*a*a*a*b');
    assert.equal(g.matches('a'.repeat(200)), false);
  });
});

describe('expandPath (Litestream expand)', () => {
  const ctx = { cwd: '/work', homeDir: '/home/u' };
  const cases: Array<[string, string]> = [
    ['/var/lib/db', '/var/lib/db'],
    ['db.sqlite', '/work/db.sqlite'],
    ['./data/../db', '/work/db'],
    ['~', '/home/u'],
    ['~/db', '/home/u/db'],
    ['~user/db', '/work/~user/db'],
    ['sqlite:///var/db', '/var/db'],
    ['sqlite3://rel.db', '/work/rel.db'],
    ['/dir/', '/dir'],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(expandPath(input, ctx), want));
  }

  it('~ without a home directory is an error', () => {
    assert.throws(() => expandPath('~/db', { cwd: '/', homeDir: '' }), /no home directory/);
  });

  it('stripSqlitePrefix only strips the two SQLite prefixes', () => {
    assert.equal(stripSqlitePrefix('sqlite://x'), 'x');
    assert.equal(stripSqlitePrefix('sqlite3://x'), 'x');
    assert.equal(stripSqlitePrefix('s3://x'), 's3://x');
  });
});
