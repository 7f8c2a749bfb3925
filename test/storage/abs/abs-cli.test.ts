import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN } from '../../cli/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, startAbsServer, type AbsTestServer } from './abs-server.js';
import { testAbsClient } from './helpers.js';
import { closedPort, SQLITE3, sqlite3, stateOf, writeRows } from '../backend-cli-helpers.js';

const CONTAINER = 'tidemark-cli';
/** Bounds on a whole CLI run, not timings: a run that hangs is killed and fails its test. */
const CLI_TIMEOUT_MS = 150_000;
const DAEMON_START_TIMEOUT_MS = 30_000;

/** The CLI's environment: no Azure or tidemark variables of its own, the dev account's key through Litestream's variable. */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AZURE_') && !k.startsWith('LITESTREAM_') && !k.startsWith('TIDEMARK_')) env[k] = v;
  return { ...env, LITESTREAM_AZURE_ACCOUNT_KEY: AZURITE_ACCOUNT_KEY, ...extra };
}

function cli(args: string[], env = cliEnv()): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: CLI_TIMEOUT_MS });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('tidemark replicate and restore with an abs:// replica on Azurite (built bin)', () => {
  let server: AbsTestServer;
  let tmp = '';

  function url(path: string, container = CONTAINER, endpoint = server.endpoint): string {
    return `abs://${AZURITE_ACCOUNT}@${container}/${path}?endpoint=${encodeURIComponent(endpoint)}`;
  }

  async function maxTxid(path: string): Promise<bigint> {
    const files = await listAll(testAbsClient(server.endpoint, CONTAINER, path).ltxFiles(0));
    assert.ok(files.length > 0, `no L0 files under ${path}`);
    return files.at(-1)!.maxTxid;
  }

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: build first (tsc -p tsconfig.build.json)`);
    assert.ok(existsSync(SQLITE3), `${SQLITE3} is missing`);
    server = await startAbsServer([CONTAINER]);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-abs-cli-'));
  });
  after(async () => {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a database written by the sqlite3 shell: replicate -once (URL) twice, then restore latest, -txid and -timestamp', async () => {
    const db = join(tmp, 'shell.db');
    const replica = url('shell/app');
    sqlite3(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);\nINSERT INTO t (v, b) SELECT 'first ' || value, randomblob(200) FROM generate_series(1, 300);");
    const first = cli(['replicate', '-once', db, replica]);
    assert.equal(first.code, 0, first.stderr);
    const firstState = stateOf(db);
    const firstTxid = await maxTxid('shell/app');
    // LTX timestamps are in milliseconds; a pause puts a clear instant between the two runs.
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    sqlite3(db, "INSERT INTO t (v, b) SELECT 'second ' || value, randomblob(300) FROM generate_series(1, 200);\nUPDATE t SET v = upper(v) WHERE id % 3 = 0;\nCREATE INDEX t_v ON t (v);");
    const second = cli(['replicate', '-once', db, replica]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((await maxTxid('shell/app')) > firstTxid, 'the second run uploaded more');

    const latest = join(tmp, 'shell-latest.db');
    const r1 = cli(['restore', '-o', latest, replica]);
    assert.equal(r1.code, 0, r1.stderr);
    const got = stateOf(latest);
    assert.equal(got.integrity, 'ok');
    assert.deepEqual(got.dump, stateOf(db).dump);

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

  it("a litestream.yml from Litestream's Azure guide (with an endpoint for Azurite): a running replicator written to by better-sqlite3, then restore through both config forms", async () => {
    const db = join(tmp, 'daemon.db');
    const expanded = join(tmp, 'expanded.yml');
    // The guide's "multiple fields" form, placeholders filled in, plus the endpoint key.
    writeFileSync(
      expanded,
      `dbs:
  - path: ${db}
    replica:
      type: abs
      account-name: ${AZURITE_ACCOUNT}
      account-key:  ${AZURITE_ACCOUNT_KEY}
      bucket:       ${CONTAINER}
      path:         daemon/app
      endpoint:     ${server.endpoint}
`,
    );
    const urlForm = join(tmp, 'url.yml');
    // The guide's URL form.
    writeFileSync(
      urlForm,
      `dbs:
  - path: ${db}
    replica:
      url: abs://${AZURITE_ACCOUNT}@${CONTAINER}/daemon/app
      account-key:  ${AZURITE_ACCOUNT_KEY}
      endpoint: ${server.endpoint}
`,
    );
    writeRows(db, 1, 200);
    const noKeyEnv = cliEnv({ LITESTREAM_AZURE_ACCOUNT_KEY: undefined });
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', expanded], { env: noKeyEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const direct = testAbsClient(server.endpoint, CONTAINER, 'daemon/app');
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
    }
    for (const [name, config] of [
      ['expanded', expanded],
      ['url', urlForm],
    ] as const) {
      const out = join(tmp, `daemon-${name}.db`);
      const r = cli(['restore', '-config', config, '-o', out, db], noKeyEnv);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const got = stateOf(out);
      assert.equal(got.integrity, 'ok');
      assert.deepEqual(got.dump, stateOf(db).dump, name);
    }
  });

  describe('bad input: one line on stderr naming the backend and the cause, a non-zero exit, the database untouched', () => {
    const WRONG_KEY = Buffer.alloc(64, 9).toString('base64');
    const cases: [string, () => Promise<{ args: (db: string) => string[]; env?: NodeJS.ProcessEnv; re: RegExp }>][] = [
      [
        'replicate -once with a wrong account key',
        async () => ({
          args: (db) => ['replicate', '-once', db, url('x')],
          env: cliEnv({ LITESTREAM_AZURE_ACCOUNT_KEY: WRONG_KEY }),
          re: /abs:\/\/devstoreaccount1@tidemark-cli\/x at .*access denied \(AuthorizationFailure.*from LITESTREAM_AZURE_ACCOUNT_KEY/,
        }),
      ],
      [
        'restore with a wrong account key',
        async () => ({
          args: (db) => ['restore', '-o', `${db}.restored`, url('shell/app')],
          env: cliEnv({ LITESTREAM_AZURE_ACCOUNT_KEY: WRONG_KEY }),
          re: /abs:\/\/.*access denied \(AuthorizationFailure/,
        }),
      ],
      [
        'replicate -once to a container that does not exist',
        async () => ({ args: (db) => ['replicate', '-once', db, url('x', 'no-such-container')], re: /abs:\/\/.*container "no-such-container" does not exist \(ContainerNotFound/ }),
      ],
      [
        'restore from a container that does not exist',
        async () => ({ args: (db) => ['restore', '-o', `${db}.restored`, url('x', 'no-such-container')], re: /abs:\/\/.*container "no-such-container" does not exist/ }),
      ],
      [
        'restore from an endpoint nobody listens on',
        async () => {
          const port = await closedPort();
          const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
          return { args: (db) => ['restore', '-o', `${db}.restored`, url('x', CONTAINER, endpoint)], re: /abs:\/\/.*cannot reach the Azure Blob Storage endpoint after 5 attempts \(ECONNREFUSED/ };
        },
      ],
      [
        'replicate -once to an endpoint nobody listens on',
        async () => {
          const port = await closedPort();
          const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
          return { args: (db) => ['replicate', '-once', db, url('x', CONTAINER, endpoint)], re: /abs:\/\/.*cannot reach the Azure Blob Storage endpoint after 5 attempts \(ECONNREFUSED/ };
        },
      ],
      [
        'no credentials at all',
        async () => ({
          args: (db) => ['replicate', '-once', db, url('x')],
          env: cliEnv({ LITESTREAM_AZURE_ACCOUNT_KEY: undefined }),
          // Azure AD is the last resort, and Azurite's http endpoint cannot take its tokens.
          re: /an Azure AD token is only sent over https, and the endpoint is http/,
        }),
      ],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const { args, env, re } = await make();
        const dir = join(tmp, name.replace(/\W+/g, '-'));
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const db = join(dir, 'app.db');
        writeRows(db, 1, 10);
        const before = { bytes: readFileSync(db), mtime: statSync(db).mtimeMs, files: readdirSync(dir).sort() };
        const r = cli(args(db), env);
        assert.notEqual(r.code, 0);
        assert.notEqual(r.code, -1, 'the run ended by itself');
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
