import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN } from '../../cli/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { testWebdavClient, webdavUrl } from './helpers.js';
import { startWebdavServer, type WebdavTestServer } from './webdav-server.js';
import { closedPort, SQLITE3, sqlite3, stateOf, writeRows } from '../backend-cli-helpers.js';

/** Bounds on a whole CLI run, not timings: a run that hangs is killed and fails its test. */
const CLI_TIMEOUT_MS = 150_000;
const DAEMON_START_TIMEOUT_MS = 30_000;

/** The CLI's environment: none of tidemark's or Litestream's variables, nor a CA of the caller's. */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LITESTREAM_') && !k.startsWith('TIDEMARK_') && !k.startsWith('WEBDAV_') && k !== 'NODE_EXTRA_CA_CERTS') env[k] = v;
  return { ...env, ...extra };
}

function cli(args: string[], env = cliEnv()): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: CLI_TIMEOUT_MS });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('tidemark replicate and restore with webdav:// and webdavs:// replicas on rclone (built bin)', () => {
  let http: WebdavTestServer;
  let https: WebdavTestServer;
  let tmp = '';

  async function maxTxid(server: WebdavTestServer, path: string): Promise<bigint> {
    const client = testWebdavClient(server, path);
    try {
      const files = await listAll(client.ltxFiles(0));
      assert.ok(files.length > 0, `no L0 files under ${path}`);
      return files.at(-1)!.maxTxid;
    } finally {
      client.destroy();
    }
  }

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: build first (tsc -p tsconfig.build.json)`);
    assert.ok(existsSync(SQLITE3), `${SQLITE3} is missing`);
    [http, https] = await Promise.all([startWebdavServer(), startWebdavServer({ tls: true })]);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-webdav-cli-'));
  });
  after(async () => {
    await Promise.all([http.stop(), https.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a database written by the sqlite3 shell: replicate -once (URL with credentials) twice, then restore latest, -txid and -timestamp', async () => {
    const db = join(tmp, 'shell.db');
    const replica = webdavUrl(http, 'shell/app', http.port, true);
    sqlite3(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);\nINSERT INTO t (v, b) SELECT 'first ' || value, randomblob(200) FROM generate_series(1, 300);");
    const first = cli(['replicate', '-once', db, replica]);
    assert.equal(first.code, 0, first.stderr);
    const firstState = stateOf(db);
    const firstTxid = await maxTxid(http, 'shell/app');
    // LTX timestamps are in milliseconds; a pause puts a clear instant between the two runs.
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    sqlite3(db, "INSERT INTO t (v, b) SELECT 'second ' || value, randomblob(300) FROM generate_series(1, 200);\nUPDATE t SET v = upper(v) WHERE id % 3 = 0;\nCREATE INDEX t_v ON t (v);");
    const second = cli(['replicate', '-once', db, replica]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((await maxTxid(http, 'shell/app')) > firstTxid, 'the second run uploaded more');

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

  it("Litestream's WebDAV guide configs over HTTPS (the test CA trusted through NODE_EXTRA_CA_CERTS): a running replicator written to by better-sqlite3, then restore through each form", async () => {
    const db = join(tmp, 'daemon.db');
    const origin = `https://127.0.0.1:${https.port}`;
    const expanded = join(tmp, 'expanded.yml');
    // The guide's "multiple fields" form, placeholders filled in.
    writeFileSync(
      expanded,
      `dbs:
  - path: ${db}
    replica:
      type:           webdav
      webdav-url:     ${origin}/webdav
      webdav-username: ${https.user}
      webdav-password: ${https.password}
      path:           /litestream/backups
`,
    );
    const urlForm = join(tmp, 'url.yml');
    writeFileSync(
      urlForm,
      `dbs:
  - path: ${db}
    replica:
      url: webdavs://${https.user}:${https.password}@127.0.0.1:${https.port}/webdav/litestream/backups
`,
    );
    const envForm = join(tmp, 'env.yml');
    writeFileSync(
      envForm,
      `dbs:
  - path: ${db}
    replica:
      type:            webdav
      webdav-url:      ${origin}/webdav
      webdav-username: \${WEBDAV_USERNAME}
      webdav-password: \${WEBDAV_PASSWORD}
      path:            /litestream/backups
`,
    );
    const env = cliEnv({ NODE_EXTRA_CA_CERTS: https.caFile, WEBDAV_USERNAME: https.user, WEBDAV_PASSWORD: https.password });
    writeRows(db, 1, 200);
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', expanded], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const direct = testWebdavClient(https, 'webdav/litestream/backups');
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
      direct.destroy();
    }
    assert.ok(existsSync(join(https.dir, 'webdav', 'litestream', 'backups', 'ltx', '0')), 'the collections under webdav-url were made');
    for (const [name, config] of [
      ['expanded', expanded],
      ['url', urlForm],
      ['env', envForm],
    ] as const) {
      const out = join(tmp, `daemon-${name}.db`);
      const r = cli(['restore', '-config', config, '-o', out, db], env);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const got = stateOf(out);
      assert.equal(got.integrity, 'ok');
      assert.deepEqual(got.dump, stateOf(db).dump, name);
    }
  });

  describe('bad input: one line on stderr naming the backend and the cause, a non-zero exit, the database untouched', () => {
    const cases: [string, () => Promise<{ args: (db: string) => string[]; env?: NodeJS.ProcessEnv; re: RegExp }>][] = [
      [
        'replicate -once with a wrong password',
        async () => ({
          args: (db) => ['replicate', '-once', db, `webdav://${http.user}:wrong@127.0.0.1:${http.port}/x`],
          re: /webdav:\/\/127\.0\.0\.1:\d+\/x: opening \/x: authentication failed \(HTTP 401\); check the user name and password \(from the URL\)/,
        }),
      ],
      [
        'restore with a wrong password',
        async () => ({
          args: (db) => ['restore', '-o', `${db}.restored`, `webdav://${http.user}:wrong@127.0.0.1:${http.port}/shell/app`],
          re: /webdav:\/\/127\.0\.0\.1:\d+\/shell\/app: .*authentication failed \(HTTP 401\)/,
        }),
      ],
      [
        'replicate -once without credentials',
        async () => ({ args: (db) => ['replicate', '-once', db, webdavUrl(http, 'x')], re: /webdav:\/\/127\.0\.0\.1:\d+\/x: .*the server asks for credentials \(HTTP 401\)/ }),
      ],
      [
        'replicate -once to a replica path that is a file on the server',
        async () => {
          mkdirSync(join(http.dir, 'files'), { recursive: true });
          writeFileSync(join(http.dir, 'files', 'plain'), 'x');
          return { args: (db) => ['replicate', '-once', db, webdavUrl(http, 'files/plain', http.port, true)], re: /webdav:\/\/.*\/files\/plain: \/files\/plain exists on the server but is a file, not a collection/ };
        },
      ],
      [
        'restore from a server nobody listens on',
        async () => {
          const port = await closedPort();
          return { args: (db) => ['restore', '-o', `${db}.restored`, `webdav://u:p@127.0.0.1:${port}/x`], re: /webdav:\/\/127\.0\.0\.1:\d+\/x: .*cannot reach the WebDAV server after 5 attempts \(connect ECONNREFUSED/ };
        },
      ],
      [
        'replicate -once to a server nobody listens on',
        async () => {
          const port = await closedPort();
          return { args: (db) => ['replicate', '-once', db, `webdav://u:p@127.0.0.1:${port}/x`], re: /webdav:\/\/127\.0\.0\.1:\d+\/x: .*cannot reach the WebDAV server after 5 attempts \(connect ECONNREFUSED/ };
        },
      ],
      [
        'restore over HTTPS from a server whose CA is not trusted',
        async () => ({
          args: (db) => ['restore', '-o', `${db}.restored`, webdavUrl(https, 'webdav/litestream/backups', https.port, true)],
          re: /webdavs:\/\/127\.0\.0\.1:\d+\/webdav\/litestream\/backups: .*TLS certificate not accepted/,
        }),
      ],
      [
        'replicate -once over HTTPS to a server whose CA is not trusted',
        async () => ({
          args: (db) => ['replicate', '-once', db, webdavUrl(https, 'untrusted', https.port, true)],
          re: /webdavs:\/\/127\.0\.0\.1:\d+\/untrusted: .*TLS certificate not accepted/,
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
        assert.doesNotMatch(lines[0]!, /wrong|dav-secret/, 'no password in the message');
        assert.deepEqual(readFileSync(db), before.bytes);
        assert.equal(statSync(db).mtimeMs, before.mtime);
        assert.deepEqual(readdirSync(dir).sort(), before.files, 'no meta directory, no restored file');
      });
    }
  });
});
