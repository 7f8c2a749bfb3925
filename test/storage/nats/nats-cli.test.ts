import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN } from '../../cli/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { NATS_TEST_PASSWORD, NATS_TEST_USER, startNatsServer, type NatsTestServer } from './nats-server.js';
import { testNatsClient } from './helpers.js';
import { closedPort, SQLITE3, sqlite3, stateOf, writeRows } from '../backend-cli-helpers.js';

/** Bounds on a whole CLI run, not timings: a run that hangs is killed and fails its test. */
const CLI_TIMEOUT_MS = 150_000;
const DAEMON_START_TIMEOUT_MS = 30_000;

/** The CLI's environment without tidemark or Litestream variables of its own. */
function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LITESTREAM_') && !k.startsWith('TIDEMARK_') && !k.startsWith('NATS_')) env[k] = v;
  return env;
}

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: cliEnv(), timeout: CLI_TIMEOUT_MS });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('tidemark replicate and restore with a nats:// replica on nats-server (built bin)', () => {
  let server: NatsTestServer;
  let tmp = '';

  function url(bucket: string, password = NATS_TEST_PASSWORD, port = server.port): string {
    return `nats://${NATS_TEST_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${bucket}`;
  }

  async function maxTxid(bucket: string): Promise<bigint> {
    const c = testNatsClient(server.port, bucket);
    try {
      const files = await listAll(c.ltxFiles(0));
      assert.ok(files.length > 0, `no L0 files in ${bucket}`);
      return files.at(-1)!.maxTxid;
    } finally {
      await c.close();
    }
  }

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: build first (tsc -p tsconfig.build.json)`);
    assert.ok(existsSync(SQLITE3), `${SQLITE3} is missing`);
    server = await startNatsServer();
    for (const b of ['shell', 'daemon', 'other']) await server.createBucket(b);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-nats-cli-'));
  });
  after(async () => {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a database written by the sqlite3 shell: replicate -once (URL) twice, then restore latest, -txid and -timestamp', async () => {
    const db = join(tmp, 'shell.db');
    const replica = url('shell');
    sqlite3(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);\nINSERT INTO t (v, b) SELECT 'first ' || value, randomblob(200) FROM generate_series(1, 300);");
    const first = cli(['replicate', '-once', db, replica]);
    assert.equal(first.code, 0, first.stderr);
    const firstState = stateOf(db);
    const firstTxid = await maxTxid('shell');
    // LTX timestamps are in milliseconds; a pause puts a clear instant between the two runs.
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    sqlite3(db, "INSERT INTO t (v, b) SELECT 'second ' || value, randomblob(300) FROM generate_series(1, 200);\nUPDATE t SET v = upper(v) WHERE id % 3 = 0;\nCREATE INDEX t_v ON t (v);");
    const second = cli(['replicate', '-once', db, replica]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((await maxTxid('shell')) > firstTxid, 'the second run uploaded more');

    const latest = join(tmp, 'shell-latest.db');
    const r1 = cli(['restore', '-o', latest, replica]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(stateOf(latest).integrity, 'ok');
    assert.deepEqual(stateOf(latest).dump, stateOf(db).dump);

    const atTxid = join(tmp, 'shell-txid.db');
    const r2 = cli(['restore', '-o', atTxid, '-txid', firstTxid.toString(16).padStart(16, '0'), replica]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(stateOf(atTxid).integrity, 'ok');
    assert.deepEqual(stateOf(atTxid).dump, firstState.dump);

    const atTime = join(tmp, 'shell-time.db');
    const r3 = cli(['restore', '-o', atTime, '-timestamp', between, replica]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(stateOf(atTime).integrity, 'ok');
    assert.deepEqual(stateOf(atTime).dump, firstState.dump);
  });

  it("Litestream's example litestream.yml (its NATS replica, pointed at the test server): a running replicator written to by better-sqlite3, then restore", async () => {
    const db = join(tmp, 'daemon.db');
    const config = join(tmp, 'litestream.yml');
    // etc/litestream.yml's NATS example with its placeholders filled in, and the test server's user and password.
    writeFileSync(
      config,
      `dbs:
  - path: ${db}
    replica:
      type: nats
      url: nats://127.0.0.1:${server.port}
      bucket: daemon
      username: ${NATS_TEST_USER}
      password: ${NATS_TEST_PASSWORD}
`,
    );
    writeRows(db, 1, 200);
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', config], { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const direct = testNatsClient(server.port, 'daemon');
    try {
      const started = Date.now();
      while ((await listAll(direct.ltxFiles(0))).length === 0) {
        assert.ok(Date.now() - started < DAEMON_START_TIMEOUT_MS, `no upload within ${DAEMON_START_TIMEOUT_MS} ms: ${stderr}`);
        await sleep(100);
      }
      const before = (await listAll(direct.ltxFiles(0))).length;
      writeRows(db, 201, 100);
      while ((await listAll(direct.ltxFiles(0))).length === before) {
        assert.ok(Date.now() - started < 2 * DAEMON_START_TIMEOUT_MS, `the new rows were never uploaded: ${stderr}`);
        await sleep(100);
      }
      writeRows(db, 301, 50);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await direct.close();
    }
    const out = join(tmp, 'daemon-restored.db');
    const r = cli(['restore', '-config', config, '-o', out, db]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stateOf(out).integrity, 'ok');
    assert.deepEqual(stateOf(out).dump, stateOf(db).dump);
  });

  describe('bad input: one line on stderr naming the backend and the cause, a non-zero exit, the database untouched', () => {
    const cases: [string, () => Promise<{ args: (db: string) => string[]; re: RegExp }>][] = [
      ['replicate -once with a wrong password', async () => ({ args: (db) => ['replicate', '-once', db, url('other', 'wrong')], re: /nats:\/\/127\.0\.0\.1:\d+\/other: .*authorization failed \(.*Authorization Violation.*from the URL/i })],
      ['restore with a wrong password', async () => ({ args: (db) => ['restore', '-o', `${db}.restored`, url('shell', 'wrong')], re: /nats:\/\/127\.0\.0\.1:\d+\/shell: .*authorization failed/i })],
      ['replicate -once to a bucket that does not exist', async () => ({ args: (db) => ['replicate', '-once', db, url('no-such-bucket')], re: /nats:\/\/.*\/no-such-bucket: .*bucket "no-such-bucket" does not exist/ })],
      ['restore from a bucket that does not exist', async () => ({ args: (db) => ['restore', '-o', `${db}.restored`, url('no-such-bucket')], re: /bucket "no-such-bucket" does not exist/ })],
      [
        'restore from a host nobody listens on',
        async () => {
          const port = await closedPort();
          return { args: (db) => ['restore', '-o', `${db}.restored`, url('shell', NATS_TEST_PASSWORD, port)], re: /nats:\/\/127\.0\.0\.1:\d+\/shell: .*cannot reach the NATS server after 5 attempts \(ECONNREFUSED/ };
        },
      ],
      [
        'replicate -once to a host nobody listens on',
        async () => {
          const port = await closedPort();
          return { args: (db) => ['replicate', '-once', db, url('shell', NATS_TEST_PASSWORD, port)], re: /cannot reach the NATS server after 5 attempts \(ECONNREFUSED/ };
        },
      ],
      ['a URL whose path is not a bucket name', async () => ({ args: (db) => ['replicate', '-once', db, url('a/b')], re: /bucket name "a\/b" is not valid for a NATS object store/ })],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const { args, re } = await make();
        const dir = join(tmp, name.replace(/\W+/g, '-'));
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const db = join(dir, 'app.db');
        writeRows(db, 1, 10);
        const before = { bytes: readFileSync(db), mtime: statSync(db).mtimeMs, files: readdirSync(dir).sort() };
        const r = cli(args(db));
        assert.notEqual(r.code, 0);
        assert.notEqual(r.code, -1, 'the run ended by itself');
        const lines = r.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, `one line: ${r.stderr}`);
        assert.match(lines[0]!, /^tidemark: /);
        assert.match(lines[0]!, re);
        assert.doesNotMatch(lines[0]!, new RegExp(NATS_TEST_PASSWORD), 'no password in the message');
        assert.deepEqual(readFileSync(db), before.bytes);
        assert.equal(statSync(db).mtimeMs, before.mtime);
        assert.deepEqual(readdirSync(dir).sort(), before.files, 'no meta directory, no restored file');
      });
    }
  });
});
