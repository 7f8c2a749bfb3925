import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function rows(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return db.prepare('SELECT * FROM t ORDER BY id').all();
  } finally {
    db.close();
  }
}

describe('tidemark restore (built bin)', () => {
  let tmp = '';
  let replica = '';
  const states: unknown[][] = [];
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-restore-cli-'));
    replica = join(tmp, 'replica');
    const dbPath = join(tmp, 'src.db');
    // Three -once runs give three TXIDs with known contents.
    for (let step = 0; step < 3; step++) {
      const db = new Database(dbPath);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
      const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
      for (let i = 0; i < 20; i++) ins.run(`step ${step} row ${i} ${'x'.repeat(step * 100)}`);
      states.push(db.prepare('SELECT * FROM t ORDER BY id').all());
      db.close();
      const r = cli('replicate', '-once', dbPath, replica);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('restores the latest state and every TXID', () => {
    const latest = join(tmp, 'latest.db');
    const r = cli('restore', '-o', latest, '-integrity-check', 'full', replica);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(rows(latest), states[2]);
    // The first run wrote a full image at TXID 1; each later run starts with one too (its WAL was gone).
    for (let t = 1; t <= 3; t++) {
      const out = join(tmp, `txid-${t}.db`);
      const rr = cli('restore', '--txid', t.toString(16).padStart(16, '0'), '-o', out, `file://${replica}`);
      assert.equal(rr.code, 0, rr.stderr);
      assert.deepEqual(rows(out), states[t - 1]);
    }
  });

  it('refuses an existing output, and skips it with -if-db-not-exists', () => {
    const out = join(tmp, 'latest.db');
    const before = readFileSync(out);
    const r = cli('restore', '-o', out, replica);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tidemark: cannot restore, output path already exists and is not empty: .*latest\.db; use -force \(force: true\) to replace it\n$/);
    assert.ok(readFileSync(out).equals(before));
    assert.equal(cli('restore', '-if-db-not-exists', '-o', out, replica).code, 0);
  });

  it('an empty replica is an error unless -if-replica-exists', () => {
    const empty = join(tmp, 'empty-replica');
    // A directory that exists and holds nothing; one that does not exist is reported as missing instead.
    mkdirSync(empty);
    const r = cli('restore', '-o', join(tmp, 'none.db'), empty);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no backups found/);
    assert.equal(cli('restore', '-if-replica-exists', '-o', join(tmp, 'none.db'), empty).code, 0);
    assert.equal(existsSync(join(tmp, 'none.db')), false);
  });

  it('bad flags get one line and exit 2', () => {
    const cases: string[][] = [
      ['restore', replica],
      ['restore', '-txid', '12', '-o', join(tmp, 'a.db'), replica],
      ['restore', '-timestamp', 'yesterday', '-o', join(tmp, 'a.db'), replica],
      ['restore', '-txid', '0000000000000001', '-timestamp', '2020-01-01T00:00:00Z', '-o', join(tmp, 'a.db'), replica],
      ['restore', '-integrity-check', 'some', '-o', join(tmp, 'a.db'), replica],
      ['restore', '-parallelism', '0', '-o', join(tmp, 'a.db'), replica],
    ];
    for (const args of cases) {
      const r = cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(existsSync(join(tmp, 'a.db')), false);
  });
});

describe('npm run demo', () => {
  it('replicates, restores the latest state and a point in time, and reports success', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'demo', 'demo.ts')], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /identical to the source\b/);
    assert.match(r.stdout, /identical to the source at that moment/);
    assert.match(r.stdout, /demo passed/);
  });
});
