import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DatabaseChecksum } from '../../src/ltx/checksum.js';
import { LTX_TESTDATA, hex64, readManifest } from '../helpers/testdata.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const frame = (f: string) => join(LTX_TESTDATA, 'go-v0.5.1-frame', f);
const negative = (f: string) => join(LTX_TESTDATA, 'negative', f);

describe('tidemark CLI (built bin)', () => {
  let tmp = '';
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-cli-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('inspect prints one ok line per valid file and exits 0', () => {
    const files = readdirSync(join(LTX_TESTDATA, 'go-v0.5.1-frame')).filter((f) => f.endsWith('.ltx')).map(frame);
    const r = cli('inspect', ...files);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, files.length);
    assert.match(lines[0]!, /A_snapshot_checksum\.ltx: ok TXID 0000000000000001-0000000000000001, 4 pages, page size 512$/);
  });

  it('inspect reports each invalid file with its reason and exits 1', () => {
    const r = cli('inspect', frame('C_snapshot_nochecksum.ltx'), negative('m8_bad_file_checksum.ltx'), negative('m10_flag_bit0.ltx'));
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /: ok /);
    assert.match(lines[1]!, /m8_bad_file_checksum\.ltx: invalid: file checksum mismatch.*\(offset \d+\)$/);
    assert.match(lines[2]!, /m10_flag_bit0\.ltx: invalid: header: invalid flags: 0x00000003 \(offset 4\)$/);
  });

  it('inspect --strict (and Litestream-style -strict) rejects what Go lets through', () => {
    for (const flag of ['--strict', '-strict']) {
      const r = cli('inspect', flag, negative('m13_incr_out_of_order.ltx'));
      assert.equal(r.code, 1);
      assert.match(r.stdout, /invalid: pages out of order/);
    }
    assert.equal(cli('inspect', negative('m13_incr_out_of_order.ltx')).code, 0);
  });

  it('inspect --json prints header, pages, index and trailer matching the Go manifest', () => {
    const manifest = readManifest('go-v0.5.1-frame', 'manifest.go-decoder-v0.5.1.json');
    const entry = manifest.find((e) => e.file === 'B_incr_checksum.ltx')!;
    const r = cli('inspect', '--json', frame(entry.file));
    assert.equal(r.code, 0, r.stderr);
    const [doc] = JSON.parse(r.stdout) as {
      valid: boolean;
      header: { minTxid: string; preApplyChecksum: string; commit: number };
      pages: { pgno: number; flags: number; checksum: string; offset: number; size: number }[];
      index: { pgno: number; offset: number; size: number }[];
      trailer: { postApplyChecksum: string; fileChecksum: string };
    }[];
    assert.ok(doc);
    assert.equal(doc.valid, true);
    assert.equal(doc.header.minTxid, entry.header.MinTXID);
    assert.equal(doc.header.preApplyChecksum, entry.header.PreApplyChecksum);
    assert.equal(doc.header.commit, entry.header.Commit);
    assert.deepEqual(
      doc.pages,
      entry.pages!.map((p) => ({ pgno: p.pgno, flags: p.flags, checksum: p.page_checksum, offset: p.index_offset, size: p.index_size })),
    );
    assert.deepEqual(doc.index, entry.pages!.map((p) => ({ pgno: p.pgno, offset: p.index_offset, size: p.index_size })));
    assert.deepEqual(doc.trailer, { postApplyChecksum: entry.post_apply_checksum, fileChecksum: entry.file_checksum });
  });

  it('inspect on a missing file or a non-LTX file reports it and exits 1', () => {
    const junk = join(tmp, 'junk.ltx');
    writeFileSync(junk, 'hello');
    const r = cli('inspect', join(tmp, 'nope.ltx'), junk);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /nope\.ltx: invalid: ENOENT/);
    assert.match(r.stdout, /junk\.ltx: invalid: file too short for an LTX header/);
  });

  it('checksum prints the rolling checksum of the legacy-v2 database', () => {
    const r = cli('checksum', join(LTX_TESTDATA, 'legacy-v2', 'database'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'fe3831a381c602b9\n');
  });

  it('checksum refuses a file without a SQLite header in one line', () => {
    // K holds synthetic pages, not a SQLite database.
    const r = cli('checksum', frame('K_restore_C+D+F.db'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tidemark: .*K_restore_C\+D\+F\.db: not a SQLite database \(bad magic at offset 0\)\n$/);
  });

  it('checksum of a real SQLite database equals the XOR of its page checksums', () => {
    const path = join(tmp, 'real.db');
    const db = new Database(path);
    db.pragma('page_size = 1024');
    db.exec('CREATE TABLE t (x TEXT); INSERT INTO t VALUES (\'a\'), (\'b\');');
    db.close();
    const bytes = readFileSync(path);
    const sum = new DatabaseChecksum(1024);
    for (let off = 0; off < bytes.length; off += 1024) sum.toggle(off / 1024 + 1, bytes.subarray(off, off + 1024));
    const r = cli('checksum', path);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${hex64(sum.digest())}\n`);
  });

  it('checksum of a missing file is one clear line and exit 1', () => {
    const r = cli('checksum', join(tmp, 'missing.db'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /ENOENT.*missing\.db/);
  });

  it('version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(cli('version').stdout, `tidemark v${pkg.version}\n`);
    assert.equal(cli('--version').stdout.trim(), pkg.version);
  });

  it('unknown commands and flags print one line and exit 2', () => {
    for (const args of [['frobnicate'], ['inspect', '--frob', 'x'], ['checksum'], ['inspect']]) {
      const r = cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')} exited ${r.code}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^tidemark: /);
    }
  });

  it('--help works on the program and every command', () => {
    for (const args of [['--help'], ['inspect', '--help'], ['checksum', '--help'], ['version', '--help'], ['help', 'inspect']]) {
      const r = cli(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Usage: tidemark/);
    }
  });

  it('an unknown command is one line on stderr and a non-zero exit', () => {
    for (const name of ['bogus', 'replicat']) {
      const r = spawnSync(process.execPath, [BIN, name, 'x'], { encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^tidemark: unknown command '${name}'`));
    }
  });
});
