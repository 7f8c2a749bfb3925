import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, makeDb } from './helpers.js';

function l0(replica: string): string[] {
  const d = join(replica, 'ltx', '0');
  return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith('.ltx')) : [];
}

async function until(what: string, cond: () => boolean, log: () => string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('tidemark replicate -config (built bin)', () => {
  let tmp = '';
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-replcfg-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('replicates path and watched dir databases; a database created later is picked up and a removed one released', async () => {
    const one = join(tmp, 'one.db');
    const dir = join(tmp, 'tenants');
    mkdirSync(dir);
    makeDb(one, 20);
    makeDb(join(dir, 'a.db'), 10);
    const config = join(tmp, 'litestream.yml');
    writeFileSync(
      config,
      [
        'logging:',
        '  level: debug',
        'dbs:',
        `  - path: ${one}`,
        '    monitor-interval: 100ms',
        '    replica:',
        `      url: file://${join(tmp, 'r-one')}`,
        `  - dir: ${dir}`,
        '    pattern: "*.db"',
        '    watch: true',
        '    monitor-interval: 100ms',
        '    replica:',
        '      type: file',
        `      path: ${join(tmp, 'r-tenants')}`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const log = () => stderr;
    try {
      await until('one.db and a.db to replicate', () => l0(join(tmp, 'r-one')).length > 0 && l0(join(tmp, 'r-tenants', 'a.db')).length > 0, log);
      makeDb(join(dir, 'b.db'), 5);
      await until('b.db, created later, to replicate', () => l0(join(tmp, 'r-tenants', 'b.db')).length > 0, log);
      unlinkSync(join(dir, 'a.db'));
      for (const s of ['-wal', '-shm']) rmSync(join(dir, `a.db${s}`), { force: true });
      await until('a.db to be released', () => /msg=released .*a\.db/.test(stderr), log);
      assert.match(stderr, /level=DEBUG/);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stderr);
  });

  it('-once -force-snapshot -enforce-retention writes a snapshot and exits', () => {
    const db = join(tmp, 'snap.db');
    makeDb(db, 30);
    const config = join(tmp, 'snap.yml');
    writeFileSync(config, `dbs:\n  - path: ${db}\n    replica:\n      path: ${join(tmp, 'r-snap')}\n`);
    const r = spawnSync(process.execPath, [BIN, 'replicate', '-config', config, '-once', '-force-snapshot', '-enforce-retention'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(tmp, 'r-snap', 'ltx', '9')), ['0000000000000001-0000000000000001.ltx']);
    assert.match(r.stderr, /msg="retention enforced"/);
    const bad = spawnSync(process.execPath, [BIN, 'replicate', '-config', config, '-force-snapshot'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /-force-snapshot requires -once/);
  });
});
