import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeLtx } from '../../src/ltx/decoder.js';
import { formatFilename } from '../../src/ltx/file-name.js';
import { BIN, makeDb } from './helpers.js';

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function replicaFiles(replica: string): string[] {
  const dir = join(replica, 'ltx', '0');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

describe('tidemark replicate (built bin)', () => {
  let tmp = '';
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-replicate-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('-once syncs, uploads a strictly valid snapshot, and exits 0; a second run adds the next TXID', async () => {
    const db = join(tmp, 'once.db');
    const replica = join(tmp, 'once-replica');
    makeDb(db, 200);
    const r = cli('replicate', '-once', db, replica);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(replicaFiles(replica), ['0000000000000001-0000000000000001.ltx']);
    const f = await decodeLtx(new Uint8Array(readFileSync(join(replica, 'ltx', '0', '0000000000000001-0000000000000001.ltx'))), { strict: true });
    assert.equal(f.header.minTxid, 1n);
    makeDb(db, 50);
    assert.equal(cli('replicate', '--once', db, `file://${replica}`).code, 0);
    // TXIDs continue densely from the first run.
    const files = replicaFiles(replica);
    assert.ok(files.length >= 2);
    assert.deepEqual(files, files.map((_, i) => formatFilename(BigInt(i + 1), BigInt(i + 1))));
  });

  it('runs until SIGTERM and makes a final sync of what was written meanwhile', async () => {
    const db = join(tmp, 'daemon.db');
    const replica = join(tmp, 'daemon-replica');
    makeDb(db, 10);
    const child = spawn(process.execPath, [BIN, 'replicate', '-sync-interval', '100ms', db, replica], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const started = Date.now();
    while (!stderr.includes('replicating') && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
    makeDb(db, 25);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.ok(replicaFiles(replica).length >= 1, 'nothing reached the replica');
  });

  it('-exec stops with the child and passes on its exit code', () => {
    const db = join(tmp, 'exec.db');
    makeDb(db, 5);
    const r = cli('replicate', '-exec', 'exit 3', db, join(tmp, 'exec-replica'));
    assert.equal(r.code, 3, r.stderr);
    assert.ok(replicaFiles(join(tmp, 'exec-replica')).length >= 1);
  });

  it('bad input gets one clear line and a non-zero exit, and leaves the database alone', () => {
    const notDb = join(tmp, 'not-a-db.db');
    writeFileSync(notDb, 'this is not a database, just some text that is long enough to have a header........................................');
    const before = readFileSync(notDb);
    const cases: [string[], number, RegExp][] = [
      [['replicate', notDb, join(tmp, 'x-replica')], 1, /not a SQLite database|not a database/i],
      [['replicate', join(tmp, 'once.db')], 2, /replica URL/],
      [['replicate', join(tmp, 'once.db'), 'ftp://example/x'], 1, /ftp/],
      [['replicate', '-sync-interval', 'soon', join(tmp, 'once.db'), join(tmp, 'r2')], 2, /sync-interval/],
      [['replicate', '-once', '-exec', 'true', join(tmp, 'once.db'), join(tmp, 'r3')], 2, /-once/],
    ];
    for (const [args, code, re] of cases) {
      const r = cli(...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    assert.ok(readFileSync(notDb).equals(before));
  });
});
