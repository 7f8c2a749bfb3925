import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { listAll } from '../ltx-fixtures.js';
import { FaultProxy } from './fault-proxy.js';
import { testS3Client } from './helpers.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from './s3-server.js';
import { closedPort, stateOf, writeRows } from '../backend-cli-helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const BUCKET = 'tidemark-cli';
const DAEMON_START_TIMEOUT_MS = 15_000;

/** The environment of the CLI: no AWS credentials of its own, s3rver's key through Litestream's variables. */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('LITESTREAM_') && !k.startsWith('TIDEMARK_')) env[k] = v;
  return { ...env, LITESTREAM_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY, ...extra };
}

function cli(args: string[], env = cliEnv()): { code: number; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

function url(endpoint: string, path: string, bucket = BUCKET): string {
  return `s3://${bucket}/${path}?endpoint=${endpoint}&forcePathStyle=true`;
}

describe('tidemark replicate and restore with an s3:// replica (built bin)', () => {
  let server: S3TestServer;
  let tmp = '';

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    server = await startS3Server([BUCKET]);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-s3-cli-'));
  });
  after(async () => {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('replicate -once twice, then restore -o, gives back the database', async () => {
    const db = join(tmp, 'once.db');
    const replica = url(server.endpoint, 'once/app');
    writeRows(db, 1, 300);
    const first = cli(['replicate', '-once', db, replica]);
    assert.equal(first.code, 0, first.stderr);
    writeRows(db, 301, 200);
    assert.equal(cli(['replicate', '--once', db, replica]).code, 0);
    const direct = testS3Client(server.endpoint, BUCKET, 'once/app');
    try {
      const txids = (await listAll(direct.ltxFiles(0))).map((f) => f.maxTxid);
      assert.ok(txids.length >= 2);
      assert.deepEqual(txids, txids.map((_, i) => BigInt(i + 1)), 'TXIDs continue densely from the first run');
    } finally {
      direct.destroy();
    }
    const out = join(tmp, 'once-restored.db');
    const r = cli(['restore', '-o', out, replica]);
    assert.equal(r.code, 0, r.stderr);
    const got = stateOf(out);
    assert.equal(got.integrity, 'ok');
    assert.deepEqual(got.dump, stateOf(db).dump);
  });

  it('a running replicator uploads what comes, makes its final sync on SIGTERM, and the replica restores', async () => {
    const proxy = await FaultProxy.start(server.endpoint);
    const db = join(tmp, 'daemon.db');
    const replica = url(proxy.endpoint, 'daemon/app');
    writeRows(db, 1, 100);
    const child = spawn(process.execPath, [BIN, 'replicate', '-sync-interval', '100ms', db, replica], {
      env: cliEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const direct = testS3Client(server.endpoint, BUCKET, 'daemon/app');
    try {
      const started = Date.now();
      while ((await listAll(direct.ltxFiles(0))).length === 0) {
        assert.ok(Date.now() - started < DAEMON_START_TIMEOUT_MS, `no upload within ${DAEMON_START_TIMEOUT_MS} ms: ${stderr}`);
        await sleep(50);
      }
      const putsBefore = proxy.counts.put;
      writeRows(db, 101, 50);
      while (proxy.counts.put === putsBefore) {
        assert.ok(Date.now() - started < 30_000, 'the new rows were never uploaded');
        await sleep(50);
      }
      writeRows(db, 151, 25);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      direct.destroy();
      await proxy.close();
    }
    const out = join(tmp, 'daemon-restored.db');
    const r = cli(['restore', '-o', out, url(server.endpoint, 'daemon/app')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(stateOf(out).dump, stateOf(db).dump);
  });

  describe('bad input: one line on stderr, a non-zero exit, the database untouched', () => {
    const cases: [string, () => Promise<{ args: (db: string) => string[]; env?: NodeJS.ProcessEnv; re: RegExp }>][] = [
      [
        'a bucket that does not exist',
        async () => ({ args: (db) => ['replicate', '-once', db, url(server.endpoint, 'x', 'no-such-bucket')], re: /bucket "no-such-bucket" does not exist/ }),
      ],
      [
        'wrong credentials',
        async () => ({
          args: (db) => ['replicate', '-once', db, url(server.endpoint, 'x')],
          env: cliEnv({ LITESTREAM_ACCESS_KEY_ID: 'WRONG-KEY' }),
          re: /access denied \(InvalidAccessKeyId.*check the credentials \(from LITESTREAM_ACCESS_KEY_ID/,
        }),
      ],
      [
        'an endpoint nobody listens on',
        async () => {
          const port = await closedPort();
          return { args: (db) => ['replicate', '-once', db, url(`http://127.0.0.1:${port}`, 'x')], re: /cannot reach the S3 endpoint after \d+ attempts \(ECONNREFUSED/ };
        },
      ],
      ['a malformed URL', async () => ({ args: (db) => ['replicate', '-once', db, 's3://bad bucket/x'], re: /replica URL .*malformed URL/ })],
      ['an unusable option', async () => ({ args: (db) => ['replicate', '-once', db, 's3://bkt/x?partSize=12'], re: /part-size "12" is below S3's minimum part size/ })],
      [
        'restore with wrong credentials',
        async () => ({
          args: (db) => ['restore', '-o', `${db}.restored`, url(server.endpoint, 'once/app')],
          env: cliEnv({ LITESTREAM_ACCESS_KEY_ID: 'WRONG-KEY' }),
          re: /access denied/,
        }),
      ],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const { args, env, re } = await make();
        const dir = join(tmp, name.replace(/\W+/g, '-'));
        rmSync(dir, { recursive: true, force: true });
        const db = join(dir, 'app.db');
        mkdirSync(dir, { recursive: true });
        writeRows(db, 1, 10);
        const before = { bytes: readFileSync(db), mtime: statSync(db).mtimeMs, files: readdirSync(dir).sort() };
        const r = cli(args(db), env);
        assert.notEqual(r.code, 0);
        const lines = r.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, `one line: ${r.stderr}`);
        assert.match(lines[0]!, /^tidemark: /);
        assert.match(lines[0]!, re);
        assert.deepEqual(readFileSync(db), before.bytes);
        assert.equal(statSync(db).mtimeMs, before.mtime);
        assert.deepEqual(readdirSync(dir).sort(), before.files, 'no meta directory, no restored file');
      });
    }
  });
});
