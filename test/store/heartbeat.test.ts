// The heartbeat (heartbeat-url): against a local HTTP server, with a real replicator of a real
// database, a replica made to fail through FaultInjectingClient, and `replicate -config` as a user runs it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Heartbeat } from '../../src/store/heartbeat.js';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const MINUTE = 60_000;

/** A monitoring endpoint that counts GETs on /ping and answers with `status`. */
class PingServer {
  gets = 0;
  status = 200;
  readonly server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/ping/secret-token') this.gets++;
    res.writeHead(req.url === '/ping/secret-token' ? this.status : 404).end('ok');
  });

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ping/secret-token`;
  }
}

describe('heartbeat', () => {
  let dir: string;
  let ping: PingServer;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-heartbeat-'));
    ping = new PingServer();
    url = await ping.listen();
  });
  after(() => {
    ping.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pings while every database is current, at most once per interval, and not while a replica fails', async () => {
    const dbPath = join(dir, 'app.db');
    const app = new Database(dbPath);
    app.pragma('journal_mode = wal');
    app.exec('CREATE TABLE t (x)');
    const flaky = new FaultInjectingClient(new FileReplicaClient(join(dir, 'replica')));
    const r = await DbReplicator.open({ dbPath, client: flaky, syncIntervalMs: 60_000, uploadRetryBaseMs: 10, uploadRetryMaxMs: 20 });
    let now = Date.UTC(2026, 0, 1);
    const hb = new Heartbeat({ url, intervalMs: 1000, databases: () => [{ ...r.status(), path: dbPath }], now: () => now });
    try {
      assert.equal(hb.intervalMs, MINUTE, 'raised to the 1-minute minimum');
      await r.syncAndWait();
      ping.gets = 0;
      assert.deepEqual(await hb.check(), { sent: true, status: 200 });
      assert.equal(ping.gets, 1);
      // Not again within the interval, however often it looks.
      now += MINUTE - 1;
      assert.deepEqual(await hb.check(), { sent: false, reason: 'not-due' });
      assert.equal(ping.gets, 1);
      now += 1;
      assert.equal((await hb.check()).sent, true);
      assert.equal(ping.gets, 2);

      // The replica refuses uploads: the database is behind and in error, so no ping.
      flaky.setErrorRate(1, ['write']);
      app.prepare('INSERT INTO t VALUES (?)').run(1);
      await r.sync();
      const deadline = Date.now() + 10_000;
      while (r.status().replicas[0]!.lastError === undefined && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      now += MINUTE;
      const withheld = await hb.check();
      assert.equal(withheld.sent, false);
      assert.equal(withheld.sent === false && withheld.reason, 'unhealthy');
      assert.match(withheld.sent === false ? (withheld.detail ?? '') : '', /app\.db: (replica .*: )?cannot upload L0 file TXID 0+2 to the file replica: injected write failure/);
      assert.equal(ping.gets, 2);

      // It recovers: pings resume once the replica holds the newest TXID.
      flaky.setErrorRate(0);
      await r.syncAndWait({ timeoutMs: 10_000 });
      assert.equal((await hb.check()).sent, true);
      assert.equal(ping.gets, 3);

      // An endpoint that fails is tried once per interval, not at every check.
      ping.status = 503;
      now += MINUTE;
      const failed = await hb.check();
      assert.equal(failed.sent === false && failed.reason, 'failed');
      assert.match(failed.sent === false ? (failed.detail ?? '') : '', /unexpected status code: 503/);
      assert.deepEqual(await hb.check(), { sent: false, reason: 'not-due' });
      assert.equal(ping.gets, 4);
      ping.status = 200;
    } finally {
      await hb.stop();
      flaky.setErrorRate(0);
      await r.close();
      app.close();
    }
    assert.deepEqual(await hb.check(), { sent: false, reason: 'stopped' });
    assert.throws(() => new Heartbeat({ url: 'ftp://x', intervalMs: MINUTE, databases: () => [] }), /must start with http/);
  });

  it('replicate -config with heartbeat-url pings once its database is replicated, and logs only the host', async () => {
    const dbPath = join(dir, 'cli.db');
    const app = new Database(dbPath);
    app.pragma('journal_mode = wal');
    app.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    app.close();
    const config = join(dir, 'litestream.yml');
    writeFileSync(config, `heartbeat-url: ${url}\nheartbeat-interval: 1m\ndbs:\n  - path: ${dbPath}\n    replica:\n      path: ${join(dir, 'cli-replica')}\n`);
    ping.gets = 0;
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      // The first check comes 15 s after start (Litestream's check interval).
      const deadline = Date.now() + 40_000;
      while (ping.gets === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
      assert.equal(ping.gets, 1, stderr);
    } finally {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      const [code] = (await once(child, 'exit')) as [number | null];
      clearTimeout(killer);
      assert.equal(code, 0, stderr);
    }
    assert.match(stderr, /msg="heartbeat enabled" host=127\.0\.0\.1:\d+ interval=60s/);
    assert.doesNotMatch(stderr, /secret-token/);
    assert.doesNotMatch(stderr, /heartbeat-url has no effect/);
    assert.equal(ping.gets, 1, 'one ping in the first minute');
  });
});
