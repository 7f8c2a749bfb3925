// tidemark query: read-only SQL on a replica's database as of now, a TXID or a
// time, with the built CLI, against a replica that `replicate -once` wrote
// from a real SQLite database, with the sqlite3 shell writing too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const RUNS = 3;

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function txidHex(n: number): string {
  return n.toString(16).padStart(16, '0');
}

describe('tidemark query (built bin)', () => {
  let tmp = '';
  let replica = '';
  const counts: number[] = [];
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-query-'));
    replica = join(tmp, 'replica');
    const dbPath = join(tmp, 'src.db');
    for (let step = 0; step < RUNS; step++) {
      if (step === 1) {
        // The sqlite3 shell as the writer of one state.
        const r = spawnSync('sqlite3', [dbPath, "INSERT INTO t (v, b) SELECT 'shell ' || value, randomblob(4) FROM generate_series(1, 25);"], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      } else {
        const db = new Database(dbPath);
        db.pragma('journal_mode = WAL');
        db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)');
        const ins = db.prepare('INSERT INTO t (v, b) VALUES (?, ?)');
        for (let i = 0; i < 30; i++) ins.run(`step ${step} row ${i}`, i % 3 === 0 ? null : Buffer.from([step, i]));
        db.close();
      }
      const db = new Database(dbPath, { readonly: true });
      counts.push((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n);
      db.close();
      const r = cli('replicate', '-once', dbPath, replica);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('prints the latest rows as a table, and as JSON with -json', () => {
    const text = cli('query', replica, "SELECT id, v, b FROM t WHERE id IN (1, 2) ORDER BY id");
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, `id  v             b\n1   step 0 row 0\n2   step 0 row 1  x'0001'\n`);
    const json = cli('query', '-json', replica, `SELECT COUNT(*) AS n, litestream_txid() AS txid FROM t`);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), [{ n: counts[RUNS - 1], txid: txidHex(RUNS) }]);
  });

  it('reads the database as of each TXID and as of each file time with -txid and -timestamp', () => {
    const names = readdirSync(join(replica, 'ltx', '0')).sort();
    assert.equal(names.length, RUNS);
    for (let i = 0; i < RUNS; i++) {
      const byTxid = cli('query', '-json', '-txid', txidHex(i + 1), replica, 'SELECT COUNT(*) AS n FROM t');
      assert.equal(byTxid.code, 0, byTxid.stderr);
      assert.deepEqual(JSON.parse(byTxid.stdout), [{ n: counts[i] }]);
      const created = statSync(join(replica, 'ltx', '0', names[i]!)).mtime;
      const at = new Date(created.getTime() + 1).toISOString();
      const byTime = cli('query', '-json', '-timestamp', at, replica, 'SELECT COUNT(*) AS n, litestream_time() AS t FROM t');
      assert.equal(byTime.code, 0, byTime.stderr);
      assert.deepEqual(JSON.parse(byTime.stdout), [{ n: counts[i], t: at }]);
    }
    const relative = cli('query', '-json', '-timestamp', '1 second ago', replica, 'SELECT 1 AS one');
    assert.ok(relative.code === 0 || /no state from before that time/.test(relative.stderr), relative.stderr);
  });

  it('reports pages and cache use with -stats, and a database of a configuration file by its path', () => {
    const config = join(tmp, 'litestream.yml');
    writeFileSync(config, `dbs:\n  - path: ${join(tmp, 'src.db')}\n    replica:\n      url: file://${replica}\n`);
    const r = cli('query', '-config', config, '-stats', join(tmp, 'src.db'), 'SELECT MAX(id) AS m FROM t');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `m\n${counts[RUNS - 1]}\n`);
    assert.match(r.stderr, new RegExp(`^TXID ${txidHex(RUNS)}: \\d+ page reads, \\d+ from cache \\(\\d+\\.\\d%\\), \\d+ pages fetched in \\d+ requests \\(\\d+ bytes\\) of \\d+\\n$`));
  });

  it('refuses bad flags, bad SQL, writes and missing replicas, each in one line with a non-zero exit', () => {
    const cases: [string[], RegExp][] = [
      [['-txid', '1', '-timestamp', '2026-01-01T00:00:00Z', replica, 'SELECT 1'], /^tidemark: cannot specify both -txid and -timestamp\n$/],
      [['-timestamp', 'next week', replica, 'SELECT 1'], /^tidemark: invalid -timestamp "next week": expected RFC 3339/],
      [['-txid', 'xyz', replica, 'SELECT 1'], /^tidemark: invalid -txid "xyz"/],
      [['-read-ahead', '-1', replica, 'SELECT 1'], /^tidemark: invalid -read-ahead "-1"/],
      [['-cache-size', 'lots', replica, 'SELECT 1'], /^tidemark: invalid -cache-size "lots"/],
      [[replica, 'SELECT * FROM missing'], /^tidemark: query failed at latest \(TXID 0{15}3\): no such table: missing\n$/],
      [[replica, "INSERT INTO t (v) VALUES ('x')"], /^tidemark: query failed at latest .*(readonly|read-only)/],
      [['-txid', txidHex(99), replica, 'SELECT 1'], /^tidemark: cannot restore to TXID 0{14}63/],
      [[join(tmp, 'no-such-replica'), 'SELECT 1'], /^tidemark: replica directory does not exist/],
    ];
    for (const [args, want] of cases) {
      const r = cli('query', ...args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, want, args.join(' '));
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
  });
});
