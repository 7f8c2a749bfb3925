import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BIN, ROOT, makeDb } from './helpers.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function files(replica: string, level: number): string[] {
  const d = join(replica, 'ltx', String(level));
  return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith('.ltx')).sort() : [];
}

async function until(what: string, cond: () => boolean, log: () => string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Daemon {
  child: ChildProcessByStdio<null, null, Readable>;
  log: () => string;
  exited: Promise<number | null>;
}

function daemon(args: string[]): Daemon {
  const child = spawn(process.execPath, [BIN, 'replicate', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TIDEMARK_CONFIG: '', LITESTREAM_CONFIG: '', LOG_LEVEL: '' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, log: () => stderr, exited };
}

/** The log lines with this message, as key=value maps (values unquoted). */
function lines(log: string, msg: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of log.split('\n')) {
    const fields: Record<string, string> = {};
    for (const m of line.matchAll(/(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) fields[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    if (fields['msg'] === msg) out.push(fields);
  }
  return out;
}

describe('tidemark replicate as a daemon (built bin)', () => {
  let tmp = '';
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-daemon-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('waits for a database that does not exist yet, then replicates it once it appears; logs its final TXID at stop', async () => {
    const db = join(tmp, 'later.db');
    const replica = join(tmp, 'r-later');
    const d = daemon(['-sync-interval', '100ms', db, replica]);
    await until('the waiting line', () => lines(d.log(), 'waiting for the database to appear').length === 1, d.log);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(d.child.exitCode, null, `replicate exited while waiting:\n${d.log()}`);
    assert.deepEqual(files(replica, 0), []);
    makeDb(db, 10);
    await until('the first L0 file', () => files(replica, 0).length > 0, d.log);
    makeDb(db, 10);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0, d.log());
    const last = files(replica, 0).at(-1)!;
    const stopped = lines(d.log(), 'replication stopped');
    assert.equal(stopped.length, 1, d.log());
    assert.equal(stopped[0]!['db'], db);
    assert.equal(stopped[0]!['txid'], last.slice(17, 33));
  });

  it('stops cleanly on SIGINT or SIGTERM while still waiting', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const db = join(tmp, `never-${signal}.db`);
      const d = daemon(['-sync-interval', '100ms', db, join(tmp, `r-never-${signal}`)]);
      await until('the waiting line', () => lines(d.log(), 'waiting for the database to appear').length === 1, d.log);
      d.child.kill(signal);
      assert.equal(await d.exited, 0, d.log());
      assert.doesNotMatch(d.log(), /level=(ERROR|WARN)/);
      assert.equal(existsSync(db), false, 'replicate created the database it was waiting for');
    }
  });

  it('a configured database that does not exist is waited for too, and a rollback-journal one is converted to WAL with a log line', async () => {
    const present = join(tmp, 'present.db');
    const missing = join(tmp, 'missing.db');
    makeDb(present, 5);
    const config = join(tmp, 'wait.yml');
    writeFileSync(
      config,
      [
        'dbs:',
        `  - path: ${present}`,
        '    monitor-interval: 100ms',
        '    replica:',
        `      url: file://${join(tmp, 'r-present')}`,
        `  - path: ${missing}`,
        '    monitor-interval: 100ms',
        '    replica:',
        `      path: ${join(tmp, 'r-missing')}`,
        '',
      ].join('\n'),
    );
    const d = daemon(['-config', config]);
    await until('the waiting line', () => lines(d.log(), 'waiting for the database to appear').length === 1, d.log);
    await until('the present database', () => files(join(tmp, 'r-present'), 0).length > 0, d.log);
    // An application that never asked for WAL mode.
    const app = new Database(missing);
    app.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    app.close();
    await until('the missing database', () => files(join(tmp, 'r-missing'), 0).length > 0, d.log);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0, d.log());
    assert.deepEqual(lines(d.log(), 'converted the database from rollback journal to WAL mode').map((l) => l['db']), [missing]);
    const check = new Database(missing, { readonly: true });
    assert.equal(check.pragma('journal_mode', { simple: true }), 'wal');
    check.close();
    assert.deepEqual(lines(d.log(), 'replication stopped').map((l) => l['db']).sort(), [missing, present].sort());
  });

  it('logs the version, and each database with its replica and sync interval, at start; db= and replica= read the same in every line', async () => {
    const db = join(tmp, 'logged.db');
    makeDb(db, 5);
    const relative = 'r-logged';
    const child = spawn(process.execPath, [BIN, 'replicate', '-sync-interval', '250ms', 'logged.db', relative], {
      cwd: tmp,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TIDEMARK_CONFIG: '', LITESTREAM_CONFIG: '', LOG_LEVEL: 'debug' },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until('replication', () => files(join(tmp, relative), 0).length > 0, () => stderr);
    makeDb(db, 5);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.deepEqual(lines(stderr, 'tidemark').map((l) => [l['version'], l['level']]), [[VERSION, 'debug']]);
    const started = lines(stderr, 'replicating');
    assert.equal(started.length, 1, stderr);
    assert.equal(started[0]!['sync_interval'], '250ms');
    const all = stderr.split('\n').filter((l) => l !== '');
    const dbs = new Set(all.flatMap((l) => [...l.matchAll(/ db=(\S+)/g)].map((m) => m[1]!)));
    const replicas = new Set(all.flatMap((l) => [...l.matchAll(/ replica=(\S+)/g)].map((m) => m[1]!)));
    assert.deepEqual([...dbs], [db], stderr);
    assert.deepEqual([...replicas], [`file://${join(tmp, relative)}`], stderr);
  });

  it('-once -force-snapshot logs "snapshot complete" once per snapshot, as the daemon does', () => {
    const db = join(tmp, 'snap.db');
    const replica = join(tmp, 'r-snap');
    makeDb(db, 5);
    const r = spawnSync(process.execPath, [BIN, 'replicate', '-once', '-force-snapshot', db, replica], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(files(replica, 9).length, 1);
    assert.equal(lines(r.stderr, 'snapshot complete').length, 1, r.stderr);
    for (const l of r.stderr.split('\n').filter((x) => / db=/.test(x))) assert.match(l, new RegExp(` db=${db}( |$)`));
  });

  it('the daemon logs "snapshot complete" once for each snapshot it writes', async () => {
    const db = join(tmp, 'daily.db');
    const replica = join(tmp, 'r-daily');
    makeDb(db, 5);
    const config = join(tmp, 'snap.yml');
    writeFileSync(config, ['snapshot:', '  interval: 1s', 'dbs:', `  - path: ${db}`, '    monitor-interval: 100ms', '    replica:', `      path: ${replica}`, ''].join('\n'));
    const d = daemon(['-config', config]);
    // An unchanged database gets no new snapshot: a row per pass keeps one due every interval.
    await until('two snapshots', () => (makeDb(db, 1), files(replica, 9).length >= 2), d.log, 20_000);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0, d.log());
    const logged = lines(d.log(), 'snapshot complete');
    assert.equal(logged.length, files(replica, 9).length, d.log());
    assert.equal(new Set(logged.map((l) => l['txid'])).size, logged.length, d.log());
  });
});
