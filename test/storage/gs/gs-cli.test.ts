import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN } from '../../cli/helpers.js';
import { type LogicalDump } from '../../replication/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { GsFaultProxy, type GsFaultKind } from './gs-fault-proxy.js';
import { startGsServer, type GsTestServer } from './gs-server.js';
import { testGsClient } from './helpers.js';
import { closedPort, SQLITE3, sqlite3, stateOf, writeRows } from '../backend-cli-helpers.js';

const BUCKET = 'tidemark-cli';
/** Bounds on a whole CLI run, not timings: a run that hangs is killed and fails its test. */
const CLI_TIMEOUT_MS = 150_000;
const DAEMON_START_TIMEOUT_MS = 30_000;

/** The CLI's environment: no Google or tidemark variables of its own, the emulator through STORAGE_EMULATOR_HOST. */
function cliEnv(emulator: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('GOOGLE_') && !k.startsWith('GCLOUD_') && !k.startsWith('STORAGE_') && !k.startsWith('LITESTREAM_') && !k.startsWith('TIDEMARK_')) env[k] = v;
  }
  return { ...env, STORAGE_EMULATOR_HOST: emulator, ...extra };
}

/** Runs the CLI without blocking this process, where the fault proxy runs. */
async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  try {
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

describe('tidemark replicate and restore with a gs:// replica on the emulator (built bin)', () => {
  let server: GsTestServer;
  let proxy: GsFaultProxy;
  let tmp = '';

  async function maxTxid(path: string): Promise<bigint> {
    const files = await listAll(testGsClient(server.origin, BUCKET, path).ltxFiles(0));
    assert.ok(files.length > 0, `no L0 files under ${path}`);
    return files.at(-1)!.maxTxid;
  }

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: build first (tsc -p tsconfig.build.json)`);
    assert.ok(existsSync(SQLITE3), `${SQLITE3} is missing`);
    server = await startGsServer();
    proxy = await GsFaultProxy.start(server.origin);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-gs-cli-'));
  });
  after(async () => {
    await proxy.close();
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a database written by the sqlite3 shell: replicate -once (URL) twice, then restore latest, -txid and -timestamp', async () => {
    const env = cliEnv(server.origin);
    const db = join(tmp, 'shell.db');
    const replica = `gs://${BUCKET}/shell/app`;
    sqlite3(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);\nINSERT INTO t (v, b) SELECT 'first ' || value, randomblob(200) FROM generate_series(1, 300);");
    const first = await cli(['replicate', '-once', db, replica], env);
    assert.equal(first.code, 0, first.stderr);
    const firstState = stateOf(db);
    const firstTxid = await maxTxid('shell/app');
    // LTX timestamps are in milliseconds; a pause puts a clear instant between the two runs.
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    sqlite3(db, "INSERT INTO t (v, b) SELECT 'second ' || value, randomblob(300) FROM generate_series(1, 200);\nUPDATE t SET v = upper(v) WHERE id % 3 = 0;\nCREATE INDEX t_v ON t (v);");
    const second = await cli(['replicate', '-once', db, replica], env);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((await maxTxid('shell/app')) > firstTxid, 'the second run uploaded more');

    const latest = join(tmp, 'shell-latest.db');
    const r1 = await cli(['restore', '-o', latest, replica], env);
    assert.equal(r1.code, 0, r1.stderr);
    const got = stateOf(latest);
    assert.equal(got.integrity, 'ok');
    assert.deepEqual(got.dump, stateOf(db).dump);

    const atTxid = join(tmp, 'shell-txid.db');
    const r2 = await cli(['restore', '-o', atTxid, '-txid', firstTxid.toString(16).padStart(16, '0'), replica], env);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(stateOf(atTxid).integrity, 'ok');
    assert.deepEqual(stateOf(atTxid).dump, firstState.dump);

    const atTime = join(tmp, 'shell-time.db');
    const r3 = await cli(['restore', '-o', atTime, '-timestamp', between, replica], env);
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(stateOf(atTime).integrity, 'ok');
    assert.deepEqual(stateOf(atTime).dump, firstState.dump);
  });

  it("litestream.yml in both forms of Litestream's GCS guide: a running replicator written to by better-sqlite3, then restore latest, -txid and -timestamp through each", async () => {
    const env = cliEnv(server.origin);
    const db = join(tmp, 'daemon.db');
    const fields = join(tmp, 'fields.yml');
    writeFileSync(
      fields,
      `dbs:
  - path: ${db}
    replica:
      type: gs
      bucket: ${BUCKET}
      path: daemon/app
`,
    );
    const urlForm = join(tmp, 'url.yml');
    writeFileSync(
      urlForm,
      `dbs:
  - path: ${db}
    replica:
      url: gs://${BUCKET}/daemon/app
`,
    );
    writeRows(db, 1, 200);
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', fields], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const direct = testGsClient(server.origin, BUCKET, 'daemon/app');
    let firstTxid: bigint;
    let firstState: LogicalDump;
    let between: string;
    try {
      const started = Date.now();
      while ((await listAll(direct.ltxFiles(0))).length === 0) {
        assert.ok(Date.now() - started < DAEMON_START_TIMEOUT_MS, `no upload within ${DAEMON_START_TIMEOUT_MS} ms: ${stderr}`);
        await sleep(100);
      }
      firstTxid = await maxTxid('daemon/app');
      firstState = stateOf(db).dump;
      await sleep(1100);
      between = new Date().toISOString();
      await sleep(1100);
      writeRows(db, 201, 100);
      while ((await maxTxid('daemon/app')) === firstTxid) {
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
      ['fields', fields],
      ['url', urlForm],
    ] as const) {
      const out = join(tmp, `daemon-${name}.db`);
      const r = await cli(['restore', '-config', config, '-o', out, db], env);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const got = stateOf(out);
      assert.equal(got.integrity, 'ok');
      assert.deepEqual(got.dump, stateOf(db).dump, name);

      const atTxid = join(tmp, `daemon-${name}-txid.db`);
      const r2 = await cli(['restore', '-config', config, '-o', atTxid, '-txid', firstTxid.toString(16).padStart(16, '0'), db], env);
      assert.equal(r2.code, 0, `${name}: ${r2.stderr}`);
      assert.deepEqual(stateOf(atTxid).dump, firstState, name);

      const atTime = join(tmp, `daemon-${name}-time.db`);
      const r3 = await cli(['restore', '-config', config, '-o', atTime, '-timestamp', between, db], env);
      assert.equal(r3.code, 0, `${name}: ${r3.stderr}`);
      assert.deepEqual(stateOf(atTime).dump, firstState, name);
    }
  });

  describe('bad input: one line on stderr naming the backend and the cause, a non-zero exit, the database untouched', () => {
    // The emulator checks no credentials and makes any bucket asked for, so GCS's 401, 403 and 404 come from the proxy.
    const viaProxy = (fault: GsFaultKind, args: (db: string) => string[], re: RegExp) => async () => {
      proxy.inject({ kind: fault });
      return { args, env: cliEnv(proxy.origin), re };
    };
    const cases: [string, () => Promise<{ args: (db: string) => string[]; env: NodeJS.ProcessEnv; re: RegExp }>][] = [
      ['replicate -once with credentials GCS refuses (401)', viaProxy('unauthorized', (db) => ['replicate', '-once', db, `gs://${BUCKET}/x`], /^tidemark: .*gs:\/\/tidemark-cli\/x at http:\/\/127\.0\.0\.1:\d+: .*not authenticated \(authError: Invalid Credentials\)/)],
      ['restore with credentials GCS refuses (401)', viaProxy('unauthorized', (db) => ['restore', '-o', `${db}.restored`, `gs://${BUCKET}/shell/app`], /gs:\/\/tidemark-cli\/shell\/app at .*not authenticated \(authError/)],
      ['replicate -once with credentials lacking the permission (403)', viaProxy('forbidden', (db) => ['replicate', '-once', db, `gs://${BUCKET}/x`], /gs:\/\/.*access denied \(forbidden: .*storage\.objects\.list/)],
      ['replicate -once to a bucket that does not exist', viaProxy('no-bucket', (db) => ['replicate', '-once', db, 'gs://no-such-bucket/x'], /gs:\/\/no-such-bucket\/x at .*bucket "no-such-bucket" does not exist \(notFound/)],
      ['restore from a bucket that does not exist', viaProxy('no-bucket', (db) => ['restore', '-o', `${db}.restored`, 'gs://no-such-bucket/x'], /gs:\/\/no-such-bucket\/x at .*bucket "no-such-bucket" does not exist/)],
      [
        'restore from a host nobody listens on',
        async () => {
          const port = await closedPort();
          return { args: (db) => ['restore', '-o', `${db}.restored`, `gs://${BUCKET}/x`], env: cliEnv(`127.0.0.1:${port}`), re: /gs:\/\/tidemark-cli\/x at http:\/\/127\.0\.0\.1:\d+: .*cannot reach Google Cloud Storage after 5 attempts \(ECONNREFUSED/ };
        },
      ],
      [
        'replicate -once to a host nobody listens on',
        async () => {
          const port = await closedPort();
          return { args: (db) => ['replicate', '-once', db, `gs://${BUCKET}/x`], env: cliEnv(`127.0.0.1:${port}`), re: /gs:\/\/.*cannot reach Google Cloud Storage after 5 attempts \(ECONNREFUSED/ };
        },
      ],
      [
        'a GOOGLE_APPLICATION_CREDENTIALS key file that is not there',
        async () => {
          const env = cliEnv(server.origin, { GOOGLE_APPLICATION_CREDENTIALS: join(tmp, 'no-such-key.json') });
          delete env['STORAGE_EMULATOR_HOST'];
          return { args: (db) => ['replicate', '-once', db, `gs://${BUCKET}/x`], env, re: /gs:\/\/tidemark-cli\/x.*the key file GOOGLE_APPLICATION_CREDENTIALS names \(.*no-such-key\.json\) cannot be read: ENOENT/ };
        },
      ],
      ['a bucket name GCS would refuse', async () => ({ args: (db) => ['replicate', '-once', db, 'gs://Not_A_Bucket/x'], env: cliEnv(server.origin), re: /bucket name "Not_A_Bucket" is not valid on Google Cloud Storage/ })],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const dir = join(tmp, name.replace(/\W+/g, '-'));
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const db = join(dir, 'app.db');
        writeRows(db, 1, 10);
        const before = { bytes: readFileSync(db), mtime: statSync(db).mtimeMs, files: readdirSync(dir).sort() };
        const { args, env, re } = await make();
        let r;
        try {
          r = await cli(args(db), env);
        } finally {
          proxy.clear();
        }
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
