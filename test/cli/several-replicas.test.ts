import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { LocalMeta, defaultMetaDir } from '../../src/replication/local-meta.js';
import { replicaMaxTxid } from '../../src/replication/uploader.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { ReplicaClient } from '../../src/storage/replica-client.js';
import { logicalDump, type LogicalDump } from '../replication/helpers.js';
import { testS3Client } from '../storage/s3/helpers.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from '../storage/s3/s3-server.js';
import { testSftpClient } from '../storage/sftp/helpers.js';
import { SSHD, startSftpServer, type SftpTestServer } from '../storage/sftp/sftp-server.js';
import { TcpFaultProxy } from '../storage/sftp/tcp-fault-proxy.js';
import { BIN } from './helpers.js';

const BUCKET = 'tidemark-several';
const SQLITE3 = '/usr/bin/sqlite3';
/** Bounds on waits, not timings: a replica that never gets there fails the test instead of hanging it. */
const CATCH_UP_TIMEOUT_MS = 90_000;
const CLI_TIMEOUT_MS = 120_000;

function sqlite3(path: string, sql: string): void {
  execFileSync(SQLITE3, [path], { input: `PRAGMA journal_mode=WAL;\n${sql}\n` });
}

function dumpOf(path: string): LogicalDump {
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return logicalDump(db);
  } finally {
    db.close();
  }
}

/** Runs the CLI without blocking this process: the SFTP proxy lives in it and must keep forwarding. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS|LITESTREAM|TIDEMARK)_/.test(k)) env[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: CLI_TIMEOUT_MS });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code: code ?? -1, stdout, stderr };
}

async function waitFor(what: string, check: () => Promise<boolean>, stderr: () => string): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    assert.ok(Date.now() - started < CATCH_UP_TIMEOUT_MS, `${what} within ${CATCH_UP_TIMEOUT_MS} ms; daemon said:\n${stderr()}`);
    await sleep(100);
  }
}

describe('replicate to a directory, an S3 and an SFTP replica at once (built bin)', () => {
  let s3: S3TestServer;
  let sftp: SftpTestServer;
  let proxy: TcpFaultProxy;
  let tmp = '';

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: build first`);
    assert.ok(existsSync(SQLITE3) && existsSync(SSHD), 'the sqlite3 shell and sshd are needed');
    s3 = await startS3Server([BUCKET]);
    sftp = await startSftpServer();
    proxy = await TcpFaultProxy.start(sftp.port);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-several-'));
  });
  after(async () => {
    await proxy.close();
    await sftp.stop();
    await s3.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('with the SFTP server unreachable for a while the other two keep up; it catches up; all three restore to the database', async () => {
    const db = join(tmp, 'app.db');
    const dirReplica = join(tmp, 'dir-replica');
    const sftpDir = sftp.mkdir('several');
    const cfg = join(tmp, 'litestream.yml');
    writeFileSync(
      cfg,
      `dbs:
  - path: ${db}
    monitor-interval: 100ms
    replicas:
      - name: local
        path: ${dirReplica}
      - name: s3
        url: s3://${BUCKET}/app?endpoint=${encodeURIComponent(s3.endpoint)}&forcePathStyle=true
        access-key-id: ${S3RVER_ACCESS_KEY_ID}
        secret-access-key: ${S3RVER_SECRET_ACCESS_KEY}
      - name: backup
        type: sftp
        host: 127.0.0.1:${proxy.port}
        user: ${sftp.user}
        key-path: ${sftp.userKey.privatePath}
        host-key: ${sftp.hostKeyLine}
        path: ${sftpDir}
`,
    );
    const direct: Record<string, ReplicaClient> = {
      local: new FileReplicaClient(dirReplica),
      s3: testS3Client(s3.endpoint, BUCKET, 'app'),
      // Straight to sshd, not through the proxy, so the test sees the server while the replicator cannot.
      backup: testSftpClient(sftp, sftpDir),
    };
    const localTxid = (): Promise<bigint> => new LocalMeta(defaultMetaDir(db)).maxTxid();
    const at = async (name: string): Promise<bigint> => replicaMaxTxid(direct[name]!);

    sqlite3(db, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);');
    const daemon = spawn(process.execPath, [BIN, 'replicate', '-config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    daemon.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', resolve));
    const log = (): string => stderr.split('\n').slice(-30).join('\n');
    // An application that opens the database for each write, as a CGI script or the sqlite3 shell does.
    let n = 0;
    const write = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, n++) {
        sqlite3(db, `INSERT INTO t (v, b) VALUES ('row ${n}', randomblob(500));`);
        await sleep(30);
      }
    };
    const allAt = (names: string[]) => async (): Promise<boolean> => {
      const t = await localTxid();
      if (t === 0n) return false;
      for (const name of names) if ((await at(name)) !== t) return false;
      return true;
    };
    try {
      await write(5);
      await waitFor('all three replicas hold every TXID', allAt(['local', 's3', 'backup']), log);
      const beforeOutage = await at('backup');

      proxy.refuse(true);
      proxy.cutAll();
      await write(15);
      await waitFor('the directory and S3 replicas keep up while SFTP is down', allAt(['local', 's3']), log);
      const during = await localTxid();
      assert.ok(during > beforeOutage, 'the database moved on during the outage');
      assert.ok((await at('backup')) < during, 'the SFTP replica is behind while its server cannot be reached');
      const status = await cli(['status', '-config', cfg]);
      assert.equal(status.code, 0, `status: ${status.stderr}`);
      assert.match(status.stdout, /^database\s+replica\s+status/m);
      for (const name of ['local', 's3', 'backup']) assert.match(status.stdout, new RegExp(`${db}\\s+${name}\\s+ok`), status.stdout);
      assert.match(status.stdout, /backup\s+ok\s.*unreachable/, status.stdout);

      proxy.refuse(false);
      await write(5);
      await waitFor('the SFTP replica catches up with the others', allAt(['local', 's3', 'backup']), log);
      daemon.kill('SIGTERM');
      assert.equal(await exited, 0, `daemon: ${log()}`);
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
      for (const c of Object.values(direct)) (c as { destroy?: () => void }).destroy?.();
    }

    const want = dumpOf(db);
    const app = new Database(db, { readonly: true });
    assert.equal((app.prepare('SELECT count(*) AS c FROM t').get() as { c: number }).c, n, 'every write is in the database');
    app.close();
    for (const name of ['local', 's3', 'backup']) {
      const out = join(tmp, `restored-${name}.db`);
      const r = await cli(['restore', '-config', cfg, '-replica', name, '-o', out, db]);
      assert.equal(r.code, 0, `restore -replica ${name}: ${r.stderr}`);
      assert.deepEqual(dumpOf(out), want, `the ${name} replica restores to the database`);
    }
    const chosen = join(tmp, 'restored-chosen.db');
    const r = await cli(['restore', '-config', cfg, '-o', chosen, db]);
    assert.equal(r.code, 0, `restore: ${r.stderr}`);
    assert.match(r.stderr, /restoring from replica local \(TXID [0-9a-f]{16}; s3: TXID [0-9a-f]{16}; backup: TXID [0-9a-f]{16}\)/);
    assert.deepEqual(dumpOf(chosen), want);
    const bad = await cli(['restore', '-config', cfg, '-replica', 'nope', '-o', join(tmp, 'x.db'), db]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /-replica nope: .* has no replica of that name \(replicas: local, s3, backup\)/);
  });
});
