// restore -dry-run, -force, -json, -timestamp past the newest file and across
// a gap, and the progress line: against a replica that `replicate -once`
// wrote from a real SQLite database, with the built CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { formatRestoreProgress, PROGRESS_DELAY_MS, PROGRESS_REDRAW_MS, RestoreProgressLine } from '../../src/cli/restore-progress.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const RUNS = 3;
const ESC = '\x1b';

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

function txidHex(n: number): string {
  return n.toString(16).padStart(16, '0');
}

describe('tidemark restore -dry-run, -force, -json (built bin)', () => {
  let tmp = '';
  let replica = '';
  const states: unknown[][] = [];
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-restore-flags-'));
    replica = join(tmp, 'replica');
    const dbPath = join(tmp, 'src.db');
    for (let step = 0; step < RUNS; step++) {
      const db = new Database(dbPath);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
      const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
      for (let i = 0; i < 30; i++) ins.run(`step ${step} row ${i}`);
      states.push(db.prepare('SELECT * FROM t ORDER BY id').all());
      db.close();
      const r = cli('replicate', '-once', dbPath, replica);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('-dry-run prints the plan (files, levels, TXIDs, bytes) as Litestream lays it out, and writes nothing', () => {
    const out = join(tmp, 'dry.db');
    const r = cli('restore', '-dry-run', '-o', out, replica);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'Restore plan:');
    assert.equal(lines[1], `  source: ${replica}`);
    assert.equal(lines[2], `  target: ${out}`);
    assert.equal(lines[3], '  replica: file');
    assert.equal(lines[4], `  txid range: ${txidHex(1)} - ${txidHex(RUNS)}`);
    const sizes = readdirSync(join(replica, 'ltx', '0')).map((n) => statSync(join(replica, 'ltx', '0', n)).size);
    assert.equal(lines[5], `  fetch: ${RUNS} files, ${sizes.reduce((a, b) => a + b, 0)} bytes`);
    assert.equal(lines[7], 'Files to fetch:');
    assert.match(lines[8]!, /^level +file +min_txid +max_txid +size +timestamp$/);
    for (let t = 1; t <= RUNS; t++) {
      assert.match(lines[8 + t]!, new RegExp(`^0 +${txidHex(t)}-${txidHex(t)}\\.ltx +${txidHex(t)} +${txidHex(t)} +\\d+ +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
    }
    assert.equal(existsSync(out), false);
  });

  it('-dry-run -json gives Litestream\'s plan fields, and -txid narrows the plan', () => {
    const out = join(tmp, 'dry.db');
    const r = cli('restore', '-dry-run', '-json', '-txid', txidHex(2), '-o', out, `file://${replica}`);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as {
      source: string;
      target_path: string;
      replica: string;
      min_txid: string;
      max_txid: string;
      files: { level: number; name: string; min_txid: string; max_txid: string; size: number; timestamp: string }[];
      bytes: number;
    };
    assert.equal(plan.source, `file://${replica}`);
    assert.equal(plan.target_path, out);
    assert.equal(plan.replica, 'file');
    assert.equal(plan.min_txid, txidHex(1));
    assert.equal(plan.max_txid, txidHex(2));
    assert.deepEqual(plan.files.map((f) => [f.level, f.name, f.min_txid, f.max_txid]), [
      [0, `${txidHex(1)}-${txidHex(1)}.ltx`, txidHex(1), txidHex(1)],
      [0, `${txidHex(2)}-${txidHex(2)}.ltx`, txidHex(2), txidHex(2)],
    ]);
    assert.equal(plan.bytes, plan.files.reduce((n, f) => n + f.size, 0));
    assert.equal(existsSync(out), false);
  });

  it('-dry-run of a TXID the replica does not have: one line, non-zero', () => {
    const r = cli('restore', '-dry-run', '-txid', txidHex(99), '-o', join(tmp, 'x.db'), replica);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.match(r.stderr, /^tidemark: .*0000000000000063/);
  });

  it('-force replaces a database an application left with its -wal and -shm; without it the database is refused and kept', () => {
    const dir = join(tmp, 'force');
    mkdirSync(dir);
    const out = join(dir, 'app.db');
    // A live application's files: the database, and a WAL with commits not yet checkpointed.
    const app = new Database(join(dir, 'live.db'));
    app.pragma('journal_mode = WAL');
    app.pragma('wal_autocheckpoint = 0');
    app.exec("CREATE TABLE other (x); INSERT INTO other VALUES ('old')");
    for (const s of ['', '-wal', '-shm']) copyFileSync(join(dir, 'live.db') + s, out + s);
    app.close();
    unlinkSync(join(dir, 'live.db'));
    const before = readFileSync(out);

    const refused = cli('restore', '-o', out, replica);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^tidemark: cannot restore, output path already exists and is not empty: .*app\.db; use -force/);
    assert.ok(readFileSync(out).equals(before));
    assert.ok(existsSync(out + '-wal'));

    const forced = cli('restore', '-force', '-o', out, replica);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(existsSync(out + '-wal'), false);
    assert.equal(existsSync(out + '-shm'), false);
    assert.deepEqual(rows(out), states[RUNS - 1]);
  });

  it('-force with a restore that fails keeps the old database and its WAL', () => {
    const dir = join(tmp, 'force-fail');
    mkdirSync(dir);
    const out = join(dir, 'app.db');
    writeFileSync(out, 'old database');
    writeFileSync(out + '-wal', 'old frames');
    const r = cli('restore', '-force', '-txid', txidHex(99), '-o', out, replica);
    assert.equal(r.code, 1);
    assert.equal(readFileSync(out, 'utf8'), 'old database');
    assert.equal(readFileSync(out + '-wal', 'utf8'), 'old frames');
    assert.deepEqual(readdirSync(dir).sort(), ['app.db', 'app.db-wal']);
  });

  it('an output that is a directory: one line naming it, -force or not', () => {
    const out = join(tmp, 'a-directory');
    mkdirSync(out);
    for (const args of [[], ['-force']]) {
      const r = cli('restore', ...args, '-o', out, replica);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `tidemark: cannot restore, output path is a directory: ${out}\n`);
    }
  });

  it('-json prints Litestream\'s summary fields on stdout; nothing else goes there', () => {
    const out = join(tmp, 'json.db');
    const r = cli('restore', '-json', '-integrity-check', 'quick', '-o', out, replica);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(summary.db_path, out);
    assert.equal(summary.replica, 'file');
    assert.equal(summary.txid, txidHex(RUNS));
    assert.equal(typeof summary.duration_ms, 'number');
    assert.equal(summary.integrity_check, 'quick');
    assert.equal(summary.format, 'ltx');
    assert.equal(summary.bytes, statSync(out).size);
    assert.deepEqual(rows(out), states[RUNS - 1]);
  });

  it('-f with a flag it cannot honour, or a bad -follow-interval: one line, non-zero, nothing written', () => {
    const out = join(tmp, 'follow-bad.db');
    for (const [args, message] of [
      [['-txid', txidHex(1)], 'cannot use -f with -txid: follow mode restores the latest state and keeps it current'],
      [['-timestamp', '2030-01-01T00:00:00Z'], 'cannot use -f with -timestamp: follow mode restores the latest state and keeps it current'],
      [['-dry-run'], 'cannot use -f with -dry-run: follow mode restores the latest state and keeps it current'],
      [['-force'], 'cannot use -f with -force: follow mode restores the latest state and keeps it current'],
      [['-follow-interval', '0s'], 'invalid -follow-interval "0s": must be longer than 0'],
    ] as const) {
      const r = cli('restore', '-f', ...args, '-o', out, replica);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr, `tidemark: ${message}\n`);
    }
    assert.match(cli('restore', '-f', '-follow-interval', 'soon', '-o', out, replica).stderr, /^tidemark: invalid -follow-interval "soon": .*\n$/);
    assert.equal(existsSync(out), false);
  });

  it('without a terminal, a restore prints its summary line only: no progress line', () => {
    const r = cli('restore', '-o', join(tmp, 'quiet.db'), replica);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(!r.stderr.includes('\r') && !r.stderr.includes(ESC), r.stderr);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  });

  it('-timestamp after the newest file restores the latest state', () => {
    const out = join(tmp, 'future.db');
    const r = cli('restore', '-timestamp', new Date(Date.now() + 3_600_000).toISOString(), '-o', out, replica);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(rows(out), states[RUNS - 1]);
  });

  it('-timestamp across missing files restores the newest state it can build and says which TXIDs are missing', () => {
    const gapped = join(tmp, 'gapped');
    mkdirSync(join(gapped, 'ltx', '0'), { recursive: true });
    for (const n of readdirSync(join(replica, 'ltx', '0'))) {
      if (!n.startsWith(txidHex(2))) copyFileSync(join(replica, 'ltx', '0', n), join(gapped, 'ltx', '0', n));
    }
    const when = new Date(Date.now() + 3_600_000).toISOString();
    const out = join(tmp, 'gapped.db');
    const r = cli('restore', '-json', '-timestamp', when, '-o', out, gapped);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`no files for TXIDs ${txidHex(2)}-${txidHex(2)}, though a file from before ${when.replace(/\./g, '\\.')} lies beyond them`));
    assert.match(r.stderr, new RegExp(`restored TXID ${txidHex(1)}, the newest state`));
    const summary = JSON.parse(r.stdout) as { txid: string; gap: { from_txid: string; to_txid: string } };
    assert.equal(summary.txid, txidHex(1));
    assert.deepEqual(summary.gap, { from_txid: txidHex(2), to_txid: txidHex(2) });
    assert.deepEqual(rows(out), states[0]);
    // The latest state has no earlier time to settle for: the same gap is an error.
    const latest = cli('restore', '-o', join(tmp, 'gapped-latest.db'), gapped);
    assert.equal(latest.code, 1);
    assert.match(latest.stderr, /no file covering TXIDs 0000000000000002-0000000000000002/);
  });
});

describe('the restore progress line', () => {
  const progress = { bytesFetched: 50 * 1024 * 1024, bytesToFetch: 200 * 1024 * 1024, pagesWritten: 12800, bytesWritten: 50 * 1024 * 1024 };

  it('shows bytes fetched of planned, pages written, rate and time left', () => {
    assert.equal(
      formatRestoreProgress(progress, 2000),
      'restoring: 50.0 MiB of 200.0 MiB (25%), 12800 pages written, 25.0 MiB/s, 6 s left',
    );
    assert.match(formatRestoreProgress({ ...progress, bytesFetched: 0 }, 0), /time left unknown$/);
    assert.match(formatRestoreProgress(progress, 1000), /, 3 s left$/);
    assert.match(formatRestoreProgress({ ...progress, bytesFetched: 1024 * 1024 }, 1000), /, 3 min 19 s left$/);
  });

  it('stays quiet for a short restore, redraws in place at a bounded rate, and clears itself', () => {
    let now = 1000;
    const written: string[] = [];
    const line = new RestoreProgressLine({ write: (s) => written.push(s) > 0, columns: 40 }, { now: () => now });
    line.update(progress);
    now += PROGRESS_DELAY_MS - 1;
    line.update(progress);
    line.clear();
    assert.equal(written.length, 0, 'nothing before the delay, and nothing to clear');
    now += 1;
    line.update(progress);
    line.update(progress);
    now += PROGRESS_REDRAW_MS;
    line.update(progress);
    assert.equal(written.length, 2);
    for (const w of written) {
      assert.ok(w.startsWith('\r') && w.endsWith(`${ESC}[K`), w);
      // Cut to the terminal's width, so it never wraps onto a second line.
      assert.ok(w.length - '\r\x1b[K'.length < 40, w);
    }
    line.clear();
    assert.equal(written.at(-1), '\r\x1b[K');
  });
});
