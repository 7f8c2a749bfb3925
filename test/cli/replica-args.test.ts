import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeHeader } from '../../src/ltx/header.js';
import { BIN, ROOT, makeDb } from './helpers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** No configuration file anywhere, unless a test writes one. */
function cli(args: string[], opts: { cwd?: string; bin?: string } = {}): Run {
  const r = spawnSync(process.execPath, [opts.bin ?? BIN, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    env: { ...process.env, TIDEMARK_CONFIG: '/nonexistent/tidemark.yml', LITESTREAM_CONFIG: '/nonexistent/litestream.yml' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function oneLine(r: Run, re: RegExp, code = 1): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, re);
}

describe('replica arguments: a path, a file:// URL or any URL, the same for every command (built bin)', () => {
  let tmp = '';
  let db = '';
  let replica = '';
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-replica-args-'));
    db = join(tmp, 'a.db');
    replica = join(tmp, 'replica');
    makeDb(db, 20);
    assert.equal(cli(['replicate', '-once', db, replica]).code, 0);
    makeDb(db, 5);
    assert.equal(cli(['replicate', '-once', db, replica]).code, 0);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('ltx -json prints the fields Litestream v0.5.16 prints: level, min_txid, max_txid, size, timestamp (RFC 3339)', () => {
    const r = cli(['ltx', '-json', `file://${replica}`]);
    assert.equal(r.code, 0, r.stderr);
    const files = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.equal(files.length, 2);
    for (const [i, f] of files.entries()) {
      assert.deepEqual(Object.keys(f), ['level', 'min_txid', 'max_txid', 'size', 'timestamp']);
      const txid = (i + 1).toString(16).padStart(16, '0');
      const bytes = readFileSync(join(replica, 'ltx', '0', `${txid}-${txid}.ltx`));
      const header = decodeHeader(new Uint8Array(bytes));
      // Go's time.RFC3339 drops the fraction (it does not round).
      const seconds = new Date(Math.floor(header.timestamp / 1000) * 1000).toISOString().replace('.000Z', 'Z');
      assert.deepEqual(f, { level: 0, min_txid: txid, max_txid: txid, size: bytes.length, timestamp: seconds });
    }
  });

  it('ltx and restore take a plain path, an absolute or relative file:// URL and a relative path alike, with no configuration file', () => {
    const expected = cli(['ltx', '-json', replica]);
    assert.equal(expected.code, 0, expected.stderr);
    assert.equal(JSON.parse(expected.stdout).length, 2);
    for (const [arg, cwd] of [[`file://${replica}`, undefined], ['replica', tmp], ['./replica/', tmp], ['file://replica', tmp], ['file://./replica/', tmp]] as const) {
      const r = cli(['ltx', '-json', arg], { cwd });
      assert.equal(r.code, 0, `${arg}: ${r.stderr}`);
      assert.equal(r.stdout, expected.stdout, arg);
    }
    const text = cli(['ltx', replica]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^level\s+min_txid\s+max_txid\s+size\s+created\n/);
    for (const [i, arg] of [replica, `file://${replica}`, 'replica', 'file://replica'].entries()) {
      const out = join(tmp, `restored-${i}.db`);
      const r = cli(['restore', '-o', out, arg], { cwd: tmp });
      assert.equal(r.code, 0, `${arg}: ${r.stderr}`);
      assert.ok(existsSync(out));
    }
  });

  it('status DB_PATH works without a configuration file: the local state, and no replica to ask', () => {
    const r = cli(['status', '-json', db]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!['database'], db);
    assert.equal(rows[0]!['status'], 'ok');
    assert.equal(rows[0]!['local_txid'], '0000000000000002');
    assert.equal(rows[0]!['replicated_txid'], null);
    const text = cli(['status', join(tmp, 'missing.db')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /missing\.db\s+no database\s/);
  });

  it('a replica directory that does not exist is one line naming it, for ltx and restore, not "no backups found"', () => {
    const missing = join(tmp, 'no-such-replica');
    for (const args of [
      ['ltx', missing],
      ['ltx', '-level', 'all', `file://${missing}`],
      ['restore', '-o', join(tmp, 'never.db'), missing],
    ]) {
      const r = cli(args);
      oneLine(r, new RegExp(`replica directory does not exist: ${missing}$`, 'm'));
      assert.doesNotMatch(r.stderr, /no backups/);
    }
    assert.equal(existsSync(join(tmp, 'never.db')), false);
    // -if-replica-exists: nothing to restore is not a failure.
    const skip = cli(['restore', '-if-replica-exists', '-o', join(tmp, 'never.db'), missing]);
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stderr, /does not exist/);
  });

  it('a directory where a file belongs, or a file where a directory belongs, is one line naming the path', () => {
    const dir = join(tmp, 'a-directory');
    mkdirSync(dir);
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string[], RegExp][] = [
      [['replicate', '-once', dir, join(tmp, 'r-x')], new RegExp(`${dir}: is a directory`)],
      [['checksum', dir], new RegExp(`${dir}: is a directory`)],
      [['ltx', file], new RegExp(`${file} exists but is not a directory`)],
      [['restore', '-o', join(tmp, 'x.db'), `file://${file}`], new RegExp(`${file} exists but is not a directory`)],
    ];
    for (const [args, re] of cases) oneLine(cli(args), re);
  });

  it('an unknown scheme lists only the replica types this installation has', () => {
    const r = cli(['ltx', 'ftp://example.com/x']);
    oneLine(r, /unknown scheme 'ftp' \(supported: file, s3, gs, abs, sftp, webdav, webdavs, nats, oss\)$/m);
    // The same program with only its required packages: the backends whose optional packages are missing are not offered.
    const app = join(tmp, 'app');
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies)) {
      mkdirSync(dirname(join(app, 'node_modules', name)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name));
    }
    const bare = cli(['restore', '-o', join(tmp, 'y.db'), 'ftp://example.com/x'], { bin: join(app, 'dist', 'cli', 'main.js') });
    oneLine(bare, /unknown scheme 'ftp' \(supported: file, s3, oss\)$/m);
    // And a configuration file's unknown type, read by the same program.
    const config = join(app, 'litestream.yml');
    writeFileSync(config, `dbs:\n  - path: ${db}\n    replica:\n      type: dropbox\n      path: /x\n`);
    const badType = cli(['replicate', '-config', config], { bin: join(app, 'dist', 'cli', 'main.js') });
    oneLine(badType, /dbs\[0\]\.replica\.type: unknown replica type "dropbox" \(supported: file, s3, oss\)$/m);
  });
});
