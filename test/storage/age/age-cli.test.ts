import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createReplicaClient } from '../../../src/storage/replica-url.js';
import { LOCAL_AGE_IDENTITY_FILE } from '../../../src/storage/age/age-local-identity.js';
import { defaultMetaDir } from '../../../src/replication/local-meta.js';
import { BIN } from '../../cli/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from '../s3/s3-server.js';
import { KEY_A, KEY_B, KEY_C } from './age-test-keys.js';
import { SQLITE3, stateOf } from '../backend-cli-helpers.js';

const BUCKET = 'tidemark-age';
/** How long the daemon test waits for compaction to show up on the replica. */
const DAEMON_WAIT_MS = 60_000;
/** Written into every row; no stored object of an encrypted replica may contain it. */
const MARKER = 'PLAINTEXT-MARKER-Q7XK2';

function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('LITESTREAM_') && !k.startsWith('TIDEMARK_')) env[k] = v;
  return env;
}

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: cliEnv(), timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function sqlite3(path: string, sql: string): void {
  execFileSync(SQLITE3, [path], { input: `PRAGMA journal_mode=WAL;\n${sql}\n` });
}

/** Rows whose text holds the marker next to random bytes, so compression cannot fold it away. */
function markerRows(db: string, from: number, n: number): void {
  sqlite3(db, `CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t (id, v) SELECT value, '${MARKER} ' || hex(randomblob(24)) FROM generate_series(${from}, ${from + n - 1});`);
}

interface Target {
  name: string;
  /** The replica's YAML lines (under `replica:`), without the age block. */
  yaml(path: string): string;
  options(path: string): Record<string, string | boolean>;
  url(path: string): string;
  /** Every stored object's bytes under the replica path. */
  objects(path: string): Promise<Buffer[]>;
}

describe('age-encrypted replicas through the CLI (built bin)', () => {
  let server: S3TestServer;
  let tmp = '';
  const targets: Target[] = [];

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    server = await startS3Server([BUCKET]);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-age-cli-'));
    targets.push(
      {
        name: 'directory',
        yaml: (p) => `      path: ${join(tmp, 'replicas', p)}\n`,
        options: () => ({}),
        url: (p) => join(tmp, 'replicas', p),
        objects: async (p) => {
          const root = join(tmp, 'replicas', p);
          return readdirSync(root, { recursive: true, withFileTypes: true })
            .filter((e) => e.isFile())
            .map((e) => readFileSync(join(e.parentPath, e.name)));
        },
      },
      {
        name: 's3',
        yaml: (p) =>
          `      url: s3://${BUCKET}/${p}\n      endpoint: ${server.endpoint}\n      force-path-style: true\n` +
          `      access-key-id: ${S3RVER_ACCESS_KEY_ID}\n      secret-access-key: ${S3RVER_SECRET_ACCESS_KEY}\n`,
        options: () => ({ endpoint: server.endpoint, 'force-path-style': true, 'access-key-id': S3RVER_ACCESS_KEY_ID, 'secret-access-key': S3RVER_SECRET_ACCESS_KEY }),
        url: (p) => `s3://${BUCKET}/${p}`,
        objects: async (p) => {
          const s3 = server.raw();
          const out: Buffer[] = [];
          let token: string | undefined;
          do {
            const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${p}/`, ContinuationToken: token }));
            for (const o of page.Contents ?? []) {
              const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key }));
              out.push(Buffer.from(await got.Body!.transformToByteArray()));
            }
            token = page.NextContinuationToken;
          } while (token !== undefined);
          return out;
        },
      },
    );
  });
  after(async () => {
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  function config(name: string, db: string, replicaYaml: string, age: { recipients?: readonly string[]; identities?: readonly string[] } | undefined): string {
    const lines = [`dbs:\n  - path: ${db}\n    replica:\n${replicaYaml}`];
    if (age !== undefined) {
      lines.push('      age:\n');
      if (age.recipients !== undefined) lines.push(`        recipients: [${age.recipients.join(', ')}]\n`);
      if (age.identities !== undefined) lines.push(`        identities: [${age.identities.join(', ')}]\n`);
    }
    const path = join(tmp, `${name}.yml`);
    writeFileSync(path, lines.join(''));
    return path;
  }

  async function maxTxid(t: Target, path: string): Promise<bigint> {
    const c = createReplicaClient(t.url(path), { ...t.options(path), 'age.identities': KEY_B.identity });
    const files = await listAll(c.ltxFiles(0));
    return files.reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), 0n);
  }

  async function markerFound(t: Target, path: string): Promise<{ objects: number; found: number }> {
    const objects = await t.objects(path);
    return { objects: objects.length, found: objects.filter((b) => b.includes(MARKER)).length };
  }

  for (const which of ['directory', 's3']) {
    it(`${which}: replicate with an age block, restore latest, -txid and -timestamp; no plaintext reaches the replica`, async () => {
      const t = targets.find((x) => x.name === which)!;
      const path = `enc-${which}`;
      const db = join(tmp, `${path}.db`);
      // Two recipients; restore uses the second one's identity, given as an identity file.
      const idFile = join(tmp, `${path}-identity.txt`);
      writeFileSync(idFile, `# created: for a test\n# public key: ${KEY_B.recipient}\n${KEY_B.identity}\n`);
      const cfg = config(path, db, t.yaml(path), { recipients: [KEY_A.recipient, KEY_B.recipient], identities: [idFile] });
      markerRows(db, 1, 400);
      const first = cli(['replicate', '-config', cfg, '-once']);
      assert.equal(first.code, 0, first.stderr);
      const firstState = stateOf(db);
      const firstTxid = await maxTxid(t, path);
      assert.ok(firstTxid > 0n);
      await sleep(1100);
      const between = new Date().toISOString();
      await sleep(1100);
      markerRows(db, 401, 300);
      sqlite3(db, "UPDATE t SET v = lower(v) WHERE id % 5 = 0;\nCREATE INDEX t_v ON t (v);");
      const second = cli(['replicate', '-config', cfg, '-once']);
      assert.equal(second.code, 0, second.stderr);
      assert.ok((await maxTxid(t, path)) > firstTxid);

      const scan = await markerFound(t, path);
      assert.ok(scan.objects >= 2, `objects stored: ${scan.objects}`);
      assert.equal(scan.found, 0, 'an encrypted replica holds no plaintext page content');

      const latest = join(tmp, `${path}-latest.db`);
      const r1 = cli(['restore', '-config', cfg, '-o', latest, db]);
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(stateOf(latest).integrity, 'ok');
      assert.deepEqual(stateOf(latest).dump, stateOf(db).dump);

      const atTxid = join(tmp, `${path}-txid.db`);
      const r2 = cli(['restore', '-config', cfg, '-o', atTxid, '-txid', firstTxid.toString(16).padStart(16, '0'), db]);
      assert.equal(r2.code, 0, r2.stderr);
      assert.deepEqual(stateOf(atTxid).dump, firstState.dump);

      const atTime = join(tmp, `${path}-time.db`);
      const r3 = cli(['restore', '-config', cfg, '-o', atTime, '-timestamp', between, db]);
      assert.equal(r3.code, 0, r3.stderr);
      assert.deepEqual(stateOf(atTime).dump, firstState.dump);

      const status = cli(['status', '-config', cfg]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /\(age-encrypted\)/);
      const json = JSON.parse(cli(['status', '-config', cfg, '-json']).stdout) as { replica_encrypted: boolean }[];
      assert.equal(json[0]!.replica_encrypted, true);

      // Wrong identity, and recipients only: one line each, a non-zero exit, no key material.
      for (const [name, age, re] of [
        ['wrong', { recipients: [KEY_A.recipient], identities: [KEY_C.identity] }, /none of the configured age identities can decrypt/],
        ['missing', { recipients: [KEY_A.recipient] }, /reading an encrypted replica needs age identities/],
      ] as const) {
        const bad = config(`${path}-${name}`, db, t.yaml(path), age);
        const out = join(tmp, `${path}-${name}.db`);
        const r = cli(['restore', '-config', bad, '-o', out, db]);
        assert.notEqual(r.code, 0, `${name}: ${r.stderr}`);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `${name}: one line: ${r.stderr}`);
        assert.match(lines[0]!, re);
        assert.match(lines[0]!, /replica /);
        for (const k of [KEY_A, KEY_B, KEY_C]) assert.ok(!r.stderr.includes(k.identity) && !r.stdout.includes(k.identity), `${name}: no key in the output`);
        assert.ok(!existsSync(out), `${name}: nothing restored`);
      }
    });

    it(`${which}: the same scan finds the marker in a replica without an age block`, async () => {
      const t = targets.find((x) => x.name === which)!;
      const path = `plain-${which}`;
      const db = join(tmp, `${path}.db`);
      const cfg = config(path, db, t.yaml(path), undefined);
      markerRows(db, 1, 400);
      const r = cli(['replicate', '-config', cfg, '-once']);
      assert.equal(r.code, 0, r.stderr);
      const scan = await markerFound(t, path);
      assert.ok(scan.found > 0, `marker found in ${scan.found} of ${scan.objects} objects`);
      const status = cli(['status', '-config', cfg]);
      assert.doesNotMatch(status.stdout, /age-encrypted/);
    });
  }

  it('a replicator with recipients only compacts past L1 and snapshots (reading back with its own key), and the result restores', async () => {
    const t = targets.find((x) => x.name === 'directory')!;
    const path = 'enc-daemon';
    const db = join(tmp, `${path}.db`);
    // The machine that replicates holds no secret key of the user's.
    const cfgPath = config(path, db, t.yaml(path), { recipients: [KEY_A.recipient, KEY_B.recipient] });
    // Short intervals, so L2 files (merged from L1 files read back from the replica) and snapshots appear within the test.
    writeFileSync(cfgPath, `levels:\n  - interval: 1s\n  - interval: 2s\nsnapshot:\n  interval: 2s\n${readFileSync(cfgPath, 'utf8')}`);
    markerRows(db, 1, 200);
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', cfgPath], { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const reader = createReplicaClient(t.url(path), { 'age.identities': KEY_B.identity });
    try {
      const started = Date.now();
      let next = 201;
      for (;;) {
        const [l2, snaps] = [await listAll(reader.ltxFiles(2)), await listAll(reader.ltxFiles(9))];
        if (l2.length > 0 && snaps.length > 0 && next > 600) break;
        assert.ok(Date.now() - started < DAEMON_WAIT_MS, `no L2 and snapshot files within ${DAEMON_WAIT_MS} ms: ${stderr}`);
        markerRows(db, next, 50);
        next += 50;
        await sleep(400);
      }
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    assert.doesNotMatch(stderr, /level=(ERROR|WARN)/, 'no compaction or check failed');
    assert.doesNotMatch(stderr, /AGE-SECRET-KEY/);
    assert.equal((await markerFound(t, path)).found, 0);
    const local = readFileSync(join(defaultMetaDir(db), LOCAL_AGE_IDENTITY_FILE), 'utf8');
    assert.match(local, /^AGE-SECRET-KEY-1/m);
    // Restore needs one of the user's identities; the replicator's own key stays on its machine.
    const restoreCfg = config(`${path}-restore`, db, t.yaml(path), { identities: [KEY_A.identity] });
    const out = join(tmp, `${path}-restored.db`);
    const r = cli(['restore', '-config', restoreCfg, '-o', out, db]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stateOf(out).integrity, 'ok');
    assert.deepEqual(stateOf(out).dump, stateOf(db).dump);
  });

  it('a bad recipient in the config: one line naming the file, a non-zero exit', () => {
    const db = join(tmp, 'badcfg.db');
    markerRows(db, 1, 10);
    mkdirSync(join(tmp, 'replicas'), { recursive: true });
    const cfg = config('badcfg', db, `      path: ${join(tmp, 'replicas', 'badcfg')}\n`, { recipients: [KEY_A.identity] });
    const r = cli(['replicate', '-config', cfg, '-once']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /badcfg\.yml:\d+:\d+: .*age\.recipients: age recipient: an identity \(secret key\) was given where a recipient/);
    assert.ok(!r.stderr.includes(KEY_A.identity));
  });
});
