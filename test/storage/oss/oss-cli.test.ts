import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { BIN } from '../../cli/helpers.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from '../s3/s3-server.js';
import { closedPort, SQLITE3, stateOf } from '../backend-cli-helpers.js';

/*
 * OSS is reached through its S3-compatible API, so the real server these
 * tests run against is an S3 one (s3rver) standing in for the regional OSS
 * endpoint; what is OSS-specific here is the URL and config handling, the
 * credentials and the layout, which is checked object by object.
 */

const BUCKET = 'tidemark-oss';
const CLI_TIMEOUT_MS = 120_000;
const DAEMON_START_TIMEOUT_MS = 30_000;

function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AWS|OSS|LITESTREAM|TIDEMARK)_/.test(k)) env[k] = v;
  }
  return { ...env, OSS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET: S3RVER_SECRET_ACCESS_KEY, ...extra };
}

function cli(args: string[], env = cliEnv()): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: CLI_TIMEOUT_MS });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function sqlite3(path: string, sql: string): void {
  execFileSync(SQLITE3, [path], { input: `PRAGMA journal_mode=WAL;\n${sql}\n` });
}

describe('tidemark replicate and restore with an oss:// replica (S3-compatible API on s3rver, built bin)', () => {
  let server: S3TestServer;
  let tmp = '';

  /** A config in Litestream's OSS form, with the endpoint key pointing it at the loopback server. */
  function config(name: string, db: string, replica: string, endpoint = server.endpoint): string {
    const file = join(tmp, `${name}.yml`);
    writeFileSync(file, `dbs:\n  - path: ${db}\n    replica:\n${replica}      endpoint: ${endpoint}\n`);
    return file;
  }

  async function keys(prefix: string): Promise<string[]> {
    const out = await server.raw().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  }

  async function maxTxid(prefix: string): Promise<bigint> {
    const names = (await keys(`${prefix}/0000/`)).map((k) => k.split('/').at(-1)!);
    assert.ok(names.length > 0, `no L0 objects under ${prefix}/0000/`);
    return BigInt(`0x${names.at(-1)!.split('-')[1]!.slice(0, 16)}`);
  }

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: build first (tsc -p tsconfig.build.json)`);
    assert.ok(existsSync(SQLITE3), `${SQLITE3} is missing`);
    server = await startS3Server([BUCKET]);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-oss-cli-'));
  });
  after(async () => {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a database written by the sqlite3 shell (Litestream's url form): replicate -once twice, restore latest, -txid and -timestamp, objects in Litestream's OSS layout", async () => {
    const db = join(tmp, 'shell.db');
    const cfg = config('shell', db, `      url: oss://${BUCKET}.oss-cn-hangzhou.aliyuncs.com/shell/app\n`);
    sqlite3(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);\nINSERT INTO t (v, b) SELECT 'first ' || value, randomblob(200) FROM generate_series(1, 300);");
    const first = cli(['replicate', '-once', '-config', cfg]);
    assert.equal(first.code, 0, first.stderr);
    const firstState = stateOf(db);
    const firstTxid = await maxTxid('shell/app');
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    sqlite3(db, "INSERT INTO t (v, b) SELECT 'second ' || value, randomblob(300) FROM generate_series(1, 200);\nUPDATE t SET v = upper(v) WHERE id % 3 = 0;");
    const second = cli(['replicate', '-once', '-config', cfg]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((await maxTxid('shell/app')) > firstTxid);

    // Litestream's OSS layout: <path>/<level as %04x>/<min>-<max>.ltx with the LTX timestamp as litestream-timestamp metadata.
    const all = await keys('shell/app/');
    assert.ok(all.length >= 2);
    for (const k of all) assert.match(k, /^shell\/app\/[0-9a-f]{4}\/[0-9a-f]{16}-[0-9a-f]{16}\.ltx$/, k);
    const head = await server.raw().send(new HeadObjectCommand({ Bucket: BUCKET, Key: all[0]! }));
    assert.match(head.Metadata?.['litestream-timestamp'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    const latest = join(tmp, 'shell-latest.db');
    const r1 = cli(['restore', '-config', cfg, '-o', latest, db]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(stateOf(latest).integrity, 'ok');
    assert.deepEqual(stateOf(latest).dump, stateOf(db).dump);

    const atTxid = join(tmp, 'shell-txid.db');
    const r2 = cli(['restore', '-config', cfg, '-o', atTxid, '-txid', firstTxid.toString(16).padStart(16, '0'), db]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(stateOf(atTxid).dump, firstState.dump);

    const atTime = join(tmp, 'shell-time.db');
    const r3 = cli(['restore', '-config', cfg, '-o', atTime, '-timestamp', between, db]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(stateOf(atTime).dump, firstState.dump);
  });

  it("Litestream's multiple-fields form with keys in the file: a running replicator written to by better-sqlite3, SIGTERM, restore", async () => {
    const db = join(tmp, 'daemon.db');
    const cfg = config(
      'daemon',
      db,
      `      type: oss\n      bucket: ${BUCKET}\n      path: daemon/app\n      region: cn-hangzhou\n      access-key-id: ${S3RVER_ACCESS_KEY_ID}\n      secret-access-key: ${S3RVER_SECRET_ACCESS_KEY}\n      sync-interval: 100ms\n`,
    );
    const app = new Database(db);
    app.pragma('journal_mode = WAL');
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', cfg], { env: cliEnv({ OSS_ACCESS_KEY_ID: '', OSS_ACCESS_KEY_SECRET: '' }), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const started = Date.now();
      while ((await keys('daemon/app/0000/')).length === 0) {
        assert.ok(Date.now() - started < DAEMON_START_TIMEOUT_MS, `no upload: ${stderr}`);
        await sleep(50);
      }
      const ins = app.prepare('INSERT INTO t (v) VALUES (?)');
      for (let i = 0; i < 40; i++) {
        ins.run(`row ${i} `.repeat(30));
        await sleep(10);
      }
      app.close();
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (app.open) app.close();
    }
    const out = join(tmp, 'daemon-restored.db');
    const r = cli(['restore', '-config', cfg, '-o', out, db], cliEnv({ OSS_ACCESS_KEY_ID: '', OSS_ACCESS_KEY_SECRET: '' }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(stateOf(out).dump, stateOf(db).dump);
  });

  describe('bad input: one line naming the oss replica, a non-zero exit, the database untouched', () => {
    const cases: [string, () => Promise<{ replica: string; endpoint?: string; env?: NodeJS.ProcessEnv; re: RegExp }>][] = [
      ['no credentials anywhere', async () => ({ replica: `      url: oss://${BUCKET}/x\n`, env: cliEnv({ OSS_ACCESS_KEY_ID: '', OSS_ACCESS_KEY_SECRET: '' }), re: /oss replica needs credentials/ })],
      ['wrong credentials', async () => ({ replica: `      url: oss://${BUCKET}/x\n`, env: cliEnv({ OSS_ACCESS_KEY_ID: 'WRONG' }), re: /oss:\/\/tidemark-oss\/x.*access denied/ })],
      ['a bucket that does not exist', async () => ({ replica: '      url: oss://no-such-bucket/x\n', re: /oss:\/\/no-such-bucket\/x.*does not exist/ })],
      [
        'an endpoint nobody listens on',
        async () => ({ replica: `      url: oss://${BUCKET}/x\n`, endpoint: `http://127.0.0.1:${await closedPort()}`, re: /oss:\/\/tidemark-oss\/x.*ECONNREFUSED/ }),
      ],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const { replica, endpoint, env, re } = await make();
        const dir = join(tmp, name.replace(/\W+/g, '-'));
        mkdirSync(dir, { recursive: true });
        const db = join(dir, 'app.db');
        sqlite3(db, 'CREATE TABLE t (x); INSERT INTO t VALUES (1);');
        const before = { bytes: readFileSync(db), files: readdirSync(dir).sort() };
        const r = cli(['replicate', '-once', '-config', config(name.replace(/\W+/g, '-'), db, replica, endpoint)], env);
        assert.notEqual(r.code, 0);
        const lines = r.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, `one line: ${r.stderr}`);
        assert.match(lines[0]!, /^tidemark: /);
        assert.match(lines[0]!, re);
        assert.deepEqual(readFileSync(db), before.bytes);
      });
    }
  });
});
