import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BIN, makeDb } from './helpers.js';

function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, TIDEMARK_CONFIG: '', LITESTREAM_CONFIG: '', ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('config-driven commands: databases, ltx, status, reset (built bin)', () => {
  let tmp = '';
  let config = '';
  let dbA = '';
  let dirDb = '';
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-cfgcmd-'));
    dbA = join(tmp, 'a.db');
    mkdirSync(join(tmp, 'many'));
    dirDb = join(tmp, 'many', 'x.db');
    makeDb(dbA, 100);
    makeDb(dirDb, 10);
    config = join(tmp, 'tidemark.yml');
    writeFileSync(
      config,
      [
        'dbs:',
        `  - path: ${dbA}`,
        '    replica:',
        `      url: file://${join(tmp, 'replica-a')}`,
        `  - dir: ${join(tmp, 'many')}`,
        '    pattern: "*.db"',
        '    replica:',
        '      type: file',
        `      path: ${join(tmp, 'replica-many')}`,
        '',
      ].join('\n'),
    );
    assert.equal(cli(['replicate', '-once', dbA, join(tmp, 'replica-a')]).code, 0);
    makeDb(dbA, 5);
    assert.equal(cli(['replicate', '-once', dbA, join(tmp, 'replica-a')]).code, 0);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('databases lists path entries and the databases a dir entry finds', () => {
    const r = cli(['databases', '-config', config]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^path\s+replica\s+url$/);
    assert.ok(lines.some((l) => l.startsWith(dbA) && /\sfile\s/.test(l)));
    assert.ok(lines.some((l) => l.startsWith(dirDb) && l.endsWith(join(tmp, 'replica-many', 'x.db'))), r.stdout);
    const json = JSON.parse(cli(['databases', '--config', config, '--json']).stdout) as { path: string }[];
    assert.deepEqual(json.map((d) => d.path).sort(), [dbA, dirDb].sort());
  });

  it('ltx lists a replica by database path (through the config) and by URL', () => {
    const byPath = cli(['ltx', '-config', config, dbA]);
    assert.equal(byPath.code, 0, byPath.stderr);
    const lines = byPath.stdout.trim().split('\n');
    assert.match(lines[0]!, /^level\s+min_txid\s+max_txid\s+size\s+created$/);
    assert.match(lines[1]!, /^0\s+0000000000000001\s+0000000000000001\s+\d+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(lines.length, 3);
    const byUrl = JSON.parse(cli(['ltx', '-level', 'all', '-json', `file://${join(tmp, 'replica-a')}`]).stdout) as { level: number; max_txid: string }[];
    assert.deepEqual(byUrl.map((f) => f.max_txid), ['0000000000000001', '0000000000000002']);
  });

  it('status shows local TXID, WAL size and the replica TXID; -offline skips the replica', () => {
    const r = cli(['status', '-config', config]);
    assert.equal(r.code, 0, r.stderr);
    const a = r.stdout.split('\n').find((l) => l.startsWith(dbA))!;
    // No replicator runs now, and none has checked the replica yet.
    assert.match(a, /\sok\s+0000000000000002\s+.*B\s+0000000000000002\s+-\s+-$/);
    const x = r.stdout.split('\n').find((l) => l.startsWith(dirDb))!;
    assert.match(x, /\snot initialized\s/);
    const off = JSON.parse(cli(['status', '-config', config, '-offline', '-json', dbA]).stdout) as Record<string, unknown>[];
    assert.equal(off.length, 1);
    assert.equal(off[0]!['local_txid'], '0000000000000002');
    assert.equal(off[0]!['replicated_txid'], null);
    assert.equal(off[0]!['replicator'], null);
    assert.equal(off[0]!['last_check'], null);
  });

  it('reset removes the local state only; the next sync continues after the replica with a full image', () => {
    const r = cli(['reset', dbA]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Reset complete/);
    assert.equal(existsSync(join(tmp, '.a.db-tidemark', 'ltx')), false);
    assert.match(cli(['reset', dbA]).stdout, /No local state to reset/);
    makeDb(dbA, 3);
    assert.equal(cli(['replicate', '-once', dbA, join(tmp, 'replica-a')]).code, 0);
    const files = JSON.parse(cli(['ltx', '-json', `file://${join(tmp, 'replica-a')}`]).stdout) as { max_txid: string }[];
    assert.deepEqual(files.map((f) => f.max_txid), ['0000000000000001', '0000000000000002', '0000000000000003']);
  });

  it('restore DB_PATH finds the replica in the config and restores to the database path', () => {
    const out = join(tmp, 'restored-a.db');
    const r1 = cli(['restore', '-config', config, '-o', out, dbA]);
    assert.equal(r1.code, 0, r1.stderr);
    const restored = new Database(out, { readonly: true });
    const live = new Database(dbA, { readonly: true });
    try {
      assert.deepEqual(restored.prepare('SELECT * FROM t ORDER BY id').all(), live.prepare('SELECT * FROM t ORDER BY id').all());
    } finally {
      restored.close();
      live.close();
    }
    // Without -o the database path itself is the output: it exists, so -if-db-not-exists skips.
    const r2 = cli(['restore', '-config', config, '-if-db-not-exists', dbA]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /already exists/);
    const r3 = cli(['restore', '-config', config, dbA]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /output path already exists and is not empty: .*a\.db; use -force/);
  });

  it('bad input: one line and a non-zero exit each', () => {
    const cases: [string[], number, RegExp][] = [
      [['ltx', '-config', config, join(tmp, 'nope.db')], 1, /database not found in config .*tidemark\.yml: .*nope\.db/],
      [['ltx', '-level', '12', dbA], 2, /-level 12: level must be between 0 and 9/],
      [['ltx', '-level', 'x', dbA], 2, /invalid level/],
      [['databases', '-config', join(tmp, 'missing.yml')], 1, /missing\.yml/],
      [['reset', join(tmp, 'nope.db')], 1, /database does not exist: .*nope\.db/],
      [['status', '-config', config, join(tmp, 'nope.db')], 1, /database not found in config/],
      [['restore', '-config', config, join(tmp, 'nope.db')], 1, /database not found in config/],
      [['replicate', '-config', join(tmp, 'missing.yml')], 1, /missing\.yml: config file not found/],
    ];
    for (const [args, code, re] of cases) {
      const r = cli(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    // No DB_PATH and no configuration file anywhere: what to give instead.
    const none = cli(['replicate'], { TIDEMARK_CONFIG: join(tmp, 'absent.yml') });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /^tidemark: nothing to replicate: give DB_PATH and REPLICA_URL, or a configuration file with -config PATH \(.*absent\.yml: config file not found\)\n$/);
    writeFileSync(join(tmp, 'bad.yml'), 'dbs:\n  - path: /x.db\n    replica:\n      url: file:///r\n      sync-interval: 5x\n');
    const bad = cli(['databases', '-config', join(tmp, 'bad.yml')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.yml:5:\d+: dbs\[0\]\.replica\.sync-interval: invalid duration "5x"/);
  });
});
