import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHeader } from '../../src/ltx/header.js';
import { BIN, makeDb } from './helpers.js';

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
});
