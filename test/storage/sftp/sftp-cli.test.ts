import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { formatTxid } from '../../../src/ltx/file-name.js';
import { BIN } from '../../cli/helpers.js';
import { type LogicalDump } from '../../replication/helpers.js';
import { listAll } from '../ltx-fixtures.js';
import { testSftpClient } from './helpers.js';
import { freePort, makeKeyPair, makePasswordUser, startSftpServer, type PasswordUser, type SftpTestServer } from './sftp-server.js';
import { TcpFaultProxy } from './tcp-fault-proxy.js';
import { SQLITE3, stateOf } from '../backend-cli-helpers.js';

const DAEMON_START_TIMEOUT_MS = 20_000;
/** LTX timestamps of two batches are kept this far apart, so a -timestamp between them is unambiguous even in whole seconds. */
const BATCH_GAP_MS = 1_100;

let srv: SftpTestServer;
let proxy: TcpFaultProxy;
let pwUser: PasswordUser | undefined;
let tmp = '';

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
  srv = await startSftpServer();
  proxy = await TcpFaultProxy.start(srv.port);
  pwUser = makePasswordUser(srv.dir);
  assert.ok(pwUser !== undefined, 'useradd could make a throwaway login for password authentication');
  tmp = mkdtempSync(join(tmpdir(), 'tidemark-sftp-cli-'));
});
after(async () => {
  pwUser?.remove();
  await proxy.close();
  await srv.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process, whose event loop runs the proxy. */
async function cliAsync(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code: code ?? -1, stderr };
}

function cli(args: string[]): { code: number; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

function ok(args: string[]): void {
  const r = cli(args);
  assert.equal(r.code, 0, `tidemark ${args.join(' ')}: ${r.stderr}`);
}

/** One sqlite3 shell process per statement, as applications driven by scripts write. */
function shell(db: string, sql: string): void {
  const r = spawnSync(SQLITE3, [db, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

function shellBatch(db: string, from: number, n: number): void {
  shell(db, `WITH RECURSIVE s(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM s WHERE i < ${from + n - 1}) INSERT INTO t (id, v) SELECT i, hex(randomblob(150)) FROM s`);
}

function nodeBatch(db: string, from: number, n: number): void {
  const app = new Database(db);
  app.pragma('journal_mode = WAL');
  app.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = app.prepare('INSERT INTO t (id, v) VALUES (?, ?)');
  app.transaction(() => {
    for (let i = from; i < from + n; i++) ins.run(i, `row ${i} `.repeat(30));
  })();
  app.close();
}

function assertRestored(out: string, want: LogicalDump): void {
  const got = stateOf(out);
  assert.equal(got.integrity, 'ok');
  assert.deepEqual(got.dump, want);
}

/** The highest TXID on the replica's L0, read directly. */
async function replicaTxid(absDir: string): Promise<bigint> {
  const client = testSftpClient(srv, absDir);
  try {
    const files = await listAll(client.ltxFiles(0));
    assert.ok(files.length > 0, 'something was uploaded');
    return files[files.length - 1]!.maxTxid;
  } finally {
    client.destroy();
  }
}

/**
 * Checks restore latest, -txid and -timestamp from `source` (a replica URL,
 * or a database of `config`) against the states after the first and second batch.
 */
function checkRestores(name: string, source: string[], first: { dump: LogicalDump; txid: bigint; at: Date }, latest: LogicalDump): void {
  const out = (what: string): string => join(tmp, `${name}-${what}.db`);
  ok(['restore', '-o', out('latest'), ...source]);
  assertRestored(out('latest'), latest);
  ok(['restore', '-txid', formatTxid(first.txid), '-o', out('txid'), ...source]);
  assertRestored(out('txid'), first.dump);
  ok(['restore', '-timestamp', first.at.toISOString(), '-o', out('timestamp'), ...source]);
  assertRestored(out('timestamp'), first.dump);
}

describe('tidemark replicate and restore with an sftp:// replica (built bin, OpenSSH sshd)', () => {
  it('a database written by the sqlite3 shell, replicated to a URL with a password: restore latest, -txid and -timestamp', async () => {
    const user = pwUser!;
    const db = join(tmp, 'shell.db');
    shell(db, 'PRAGMA journal_mode=WAL');
    shell(db, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    shellBatch(db, 1, 200);
    // Relative to the login directory, as in Litestream's URLs.
    const url = `sftp://${user.name}:${encodeURIComponent(user.password)}@127.0.0.1:${srv.port}/backups/shell`;
    ok(['replicate', '-once', db, url]);
    const first = { dump: stateOf(db).dump, txid: await replicaTxid(join(user.home, 'backups', 'shell')), at: new Date() };
    await sleep(BATCH_GAP_MS);
    shellBatch(db, 201, 150);
    shell(db, 'DELETE FROM t WHERE id % 5 = 0');
    ok(['replicate', '-once', db, url]);
    assert.ok((await replicaTxid(join(user.home, 'backups', 'shell'))) > first.txid);
    checkRestores('shell', [url], first, stateOf(db).dump);
  });

  it("a better-sqlite3 database under a running replicator configured by Litestream's documented SFTP key example", async () => {
    const db = join(tmp, 'node.db');
    const remote = srv.mkdir('cli-config');
    const config = join(tmp, 'litestream-key.yml');
    // From Litestream's SFTP guide, with its placeholders filled in.
    writeFileSync(
      config,
      `dbs:
  - path: ${db}
    replica:
      url: sftp://${srv.user}@127.0.0.1:${srv.port}${remote}
      key-path: ${srv.userKey.privatePath}
`,
    );
    nodeBatch(db, 1, 300);
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let first: { dump: LogicalDump; txid: bigint; at: Date };
    try {
      const started = Date.now();
      while (!existsSync(join(remote, 'ltx', '0')) || readdirSync(join(remote, 'ltx', '0')).filter((f) => f.endsWith('.ltx')).length === 0) {
        assert.ok(Date.now() - started < DAEMON_START_TIMEOUT_MS, `no upload within ${DAEMON_START_TIMEOUT_MS} ms: ${stderr}`);
        await sleep(50);
      }
      first = { dump: stateOf(db).dump, txid: await replicaTxid(remote), at: new Date() };
      await sleep(BATCH_GAP_MS);
      nodeBatch(db, 301, 200);
      while ((await replicaTxid(remote)) === first.txid) {
        assert.ok(Date.now() - started < 60_000, `the new rows were never uploaded: ${stderr}`);
        await sleep(50);
      }
      nodeBatch(db, 501, 20);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    assert.match(stderr, /level=WARN msg="sftp host key not verified: set host-key to pin it"/);
    assert.deepEqual(readdirSync(join(remote, 'ltx', '0')).filter((f) => f.endsWith('.tmp')), []);
    checkRestores('config', ['-config', config, db], first, stateOf(db).dump);
  });

  it("Litestream's documented fields form with a password, an absolute path and a pinned host key", async () => {
    const user = pwUser!;
    const db = join(tmp, 'fields.db');
    const remote = join(user.home, 'fields');
    const config = join(tmp, 'litestream-fields.yml');
    writeFileSync(
      config,
      `dbs:
  - path: ${db}
    replica:
      type:     sftp
      host:     127.0.0.1:${srv.port}
      user:     ${user.name}
      password: ${user.password}
      path:     ${remote}
      host-key: ${srv.hostKeyLine}
`,
    );
    nodeBatch(db, 1, 100);
    const r = cli(['replicate', '-once', '-config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /WARN/, 'a pinned host key is not warned about');
    assert.ok(readdirSync(join(remote, 'ltx', '0')).some((f) => f.endsWith('.ltx')));
    ok(['restore', '-config', config, '-o', join(tmp, 'fields-restored.db'), db]);
    assertRestored(join(tmp, 'fields-restored.db'), stateOf(db).dump);
  });

  describe('bad input: one line on stderr naming the backend and the cause, a non-zero exit, the database untouched', () => {
    /** A config whose replica goes through the proxy, so the connections a run makes can be counted. */
    function config(name: string, db: string, replica: Record<string, string>): string {
      const path = join(tmp, `${name}.yml`);
      const lines = Object.entries(replica).map(([k, v]) => `      ${k}: ${v}`);
      writeFileSync(path, `dbs:\n  - path: ${db}\n    replica:\n${lines.join('\n')}\n`);
      return path;
    }
    const viaProxy = (): Record<string, string> => ({
      type: 'sftp',
      host: `127.0.0.1:${proxy.port}`,
      user: srv.user,
      'key-path': srv.userKey.privatePath,
      'host-key': srv.hostKeyLine,
      path: srv.mkdir('bad-input'),
    });
    // startsUp: the failure only shows at the first upload, so the replicator's own log lines (started, upload failed) come first.
    const cases: [string, (db: string) => Promise<{ args: string[]; re: RegExp; permanent: boolean; startsUp?: boolean }>][] = [
      [
        'a host key other than the pinned one (replicate -once)',
        async (db) => {
          const other = makeKeyPair(srv.dir, `cli_other_${Date.now()}`);
          return {
            args: ['replicate', '-once', '-config', config('wrong-host-key', db, { ...viaProxy(), 'host-key': other.publicLine })],
            re: /sftp:\/\/.*: the host key of 127\.0\.0\.1:\d+ \(SHA256:\S+\) is not the one host-key pins/,
            permanent: true,
          };
        },
      ],
      [
        'a host key other than the pinned one (restore)',
        async (db) => {
          const other = makeKeyPair(srv.dir, `cli_other_r_${Date.now()}`);
          return {
            args: ['restore', '-o', `${db}.restored`, '-config', config('wrong-host-key-restore', db, { ...viaProxy(), 'host-key': other.publicLine }), db],
            re: /sftp:\/\/.*: the host key of 127\.0\.0\.1:\d+ .* is not the one host-key pins/,
            permanent: true,
          };
        },
      ],
      [
        'a wrong password (replicate -once)',
        async (db) => {
          const { 'key-path': _unused, ...rest } = viaProxy();
          return {
            args: ['replicate', '-once', '-config', config('wrong-password', db, { ...rest, user: pwUser!.name, password: 'wrong' })],
            re: new RegExp(`sftp://${pwUser!.name}@.*: authentication as ${pwUser!.name} on 127\\.0\\.0\\.1:\\d+ failed \\(tried password\\)`),
            permanent: true,
          };
        },
      ],
      [
        'a key the server does not accept (restore)',
        async (db) => {
          const stranger = makeKeyPair(srv.dir, `cli_stranger_${Date.now()}`);
          return {
            args: ['restore', '-o', `${db}.restored`, '-config', config('wrong-key', db, { ...viaProxy(), 'key-path': stranger.privatePath }), db],
            re: /sftp:\/\/.*: authentication as \S+ on 127\.0\.0\.1:\d+ failed \(tried key-path/,
            permanent: true,
          };
        },
      ],
      [
        'a path the user may not write (replicate -once)',
        async (db) => {
          const { 'key-path': _unused, ...rest } = viaProxy();
          return {
            args: ['replicate', '-once', '-config', config('unwritable', db, { ...rest, user: pwUser!.name, password: pwUser!.password, path: join(srv.dir, 'not-theirs') })],
            re: /cannot upload L0 file TXID 0000000000000001 to the sftp replica: sftp:\/\/.*: creating .*not-theirs\/ltx\/0: permission denied/,
            permanent: true,
            startsUp: true,
          };
        },
      ],
      [
        'an unreachable host (replicate -once to a closed port)',
        async (db) => ({ args: ['replicate', '-once', db, `sftp://${srv.user}@127.0.0.1:${await freePort()}/x`], re: /sftp:\/\/.*: cannot reach the SFTP server after \d+ attempts \(ECONNREFUSED/, permanent: false }),
      ],
      [
        'an unreachable host (restore)',
        async (db) => ({ args: ['restore', '-o', `${db}.restored`, `sftp://${srv.user}@127.0.0.1:${await freePort()}/x`], re: /sftp:\/\/.*: cannot reach the SFTP server after \d+ attempts \(ECONNREFUSED/, permanent: false }),
      ],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const dir = join(tmp, name.replace(/\W+/g, '-'));
        mkdirSync(dir, { recursive: true });
        const db = join(dir, 'app.db');
        nodeBatch(db, 1, 10);
        const { args, re, permanent, startsUp } = await make(db);
        const beforeRun = { bytes: readFileSync(db), mtime: statSync(db).mtimeMs, files: readdirSync(dir).sort() };
        proxy.resetCounts();
        const r = await cliAsync(args);
        assert.notEqual(r.code, 0);
        let lines = r.stderr.split('\n').filter((l) => l !== '');
        if (startsUp === true) {
          const logged = lines.filter((l) => l.startsWith('time='));
          assert.match(logged[0]!, /^time=\S+ level=INFO msg=replicating /);
          assert.ok(logged.slice(1).every((l) => /level=ERROR msg="replica upload failed, will retry"/.test(l) && re.test(l)), r.stderr);
          lines = lines.filter((l) => !l.startsWith('time='));
        }
        assert.equal(lines.length, 1, `one line: ${r.stderr}`);
        assert.match(lines[0]!, /^tidemark: /);
        assert.match(lines[0]!, re);
        assert.deepEqual(readFileSync(db), beforeRun.bytes);
        assert.equal(statSync(db).mtimeMs, beforeRun.mtime);
        // Past start-up the replicator has made its meta directory, as it does for any replica.
        if (startsUp !== true) assert.deepEqual(readdirSync(dir).sort(), beforeRun.files, 'no meta directory, no restored file');
        // A permanent failure is reported on the first connection, not after retries.
        if (permanent) assert.equal(proxy.connections, 1, 'one connection');
      });
    }
  });
});
