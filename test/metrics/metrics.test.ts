// Prometheus metrics under Litestream's names: a Store replicating real databases through
// MeteredReplicaClient (one replica failing through FaultInjectingClient), scraped as text; then
// `replicate -config` with `addr`, scraped over HTTP, and an address in use refused in one line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { MeteredReplicaClient } from '../../src/metrics/metered-replica-client.js';
import { ReplicationMetrics } from '../../src/metrics/replication-metrics.js';
import { Store } from '../../src/store/store.js';
import { FaultInjectingClient } from '../../src/storage/fault-injecting-client.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');

/** Litestream v0.5's metric names, which its dashboards query. */
const LITESTREAM_METRICS = [
  'litestream_db_size',
  'litestream_wal_size',
  'litestream_total_wal_bytes',
  'litestream_txid',
  'litestream_sync_count',
  'litestream_sync_error_count',
  'litestream_sync_seconds',
  'litestream_disk_full',
  'litestream_checkpoint_count',
  'litestream_checkpoint_error_count',
  'litestream_checkpoint_seconds',
  'litestream_replica_operation_total',
  'litestream_replica_operation_bytes',
  'litestream_replica_operation_duration_seconds',
  'litestream_replica_operation_errors_total',
];

/** The value of one sample, by metric name and exact label set. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = m[2]!.split(',').sort().join(',');
    if (got === want) return Number(m[3]);
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

describe('metrics', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-metrics-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("counts syncs, WAL bytes, uploads and errors under Litestream's names, and the lag per replica", async () => {
    const paths = ['good.db', 'bad.db'].map((n) => join(dir, n));
    for (const p of paths) {
      const app = new Database(p);
      app.pragma('journal_mode = wal');
      app.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
      app.close();
    }
    const opened: { store?: Store } = {};
    const metrics = new ReplicationMetrics(() => opened.store?.status() ?? []);
    const good = new FileReplicaClient(join(dir, 'good-replica'));
    const bad = new FaultInjectingClient(new FileReplicaClient(join(dir, 'bad-replica')));
    const store = await Store.open(
      [
        { path: paths[0]!, client: new MeteredReplicaClient(good, metrics), replicator: { syncIntervalMs: 60_000 } },
        { path: paths[1]!, client: new MeteredReplicaClient(bad, metrics), replicator: { syncIntervalMs: 60_000 } },
      ],
      { compaction: false },
    );
    opened.store = store;
    try {
      for (const p of paths) await store.replicator(p)!.syncAndWait();
      const app = new Database(paths[0]!);
      for (let i = 0; i < 5; i++) {
        app.prepare('INSERT INTO t VALUES (?)').run(i);
        await store.replicator(paths[0]!)!.syncAndWait();
      }
      app.close();
      // The second database's replica starts refusing uploads.
      bad.setErrorRate(1, ['write']);
      const badApp = new Database(paths[1]!);
      badApp.prepare('INSERT INTO t VALUES (?)').run(2);
      badApp.close();
      await store.replicator(paths[1]!)!.sync();
      const deadline = Date.now() + 10_000;
      while (store.replicator(paths[1]!)!.status().replicas[0]!.lastError === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

      const text = await metrics.metrics();
      for (const name of LITESTREAM_METRICS) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
      const goodStatus = store.replicator(paths[0]!)!.status();
      assert.equal(sample(text, 'litestream_txid', { db: paths[0]! }), Number(goodStatus.localTxid));
      assert.equal(sample(text, 'litestream_db_size', { db: paths[0]! }), statSync(paths[0]!).size);
      assert.equal(sample(text, 'litestream_wal_size', { db: paths[0]! }), goodStatus.walSize);
      assert.ok(sample(text, 'litestream_sync_count', { db: paths[0]! })! >= 6);
      assert.ok(sample(text, 'litestream_total_wal_bytes', { db: paths[0]! })! > 0);
      assert.ok(sample(text, 'litestream_sync_seconds', { db: paths[0]! })! > 0);
      assert.equal(sample(text, 'litestream_disk_full', { db: paths[0]! }), 0);
      assert.ok(sample(text, 'litestream_checkpoint_count', { db: paths[0]!, mode: 'PASSIVE' }) !== undefined);

      // Every L0 file on the good replica was one PUT of exactly its bytes.
      const files = readdirSync(join(dir, 'good-replica', 'ltx', '0'));
      const stored = files.reduce((n, f) => n + statSync(join(dir, 'good-replica', 'ltx', '0', f)).size, 0);
      const puts = sample(text, 'litestream_replica_operation_total', { replica_type: 'file', operation: 'PUT' })!;
      const putBytes = sample(text, 'litestream_replica_operation_bytes', { replica_type: 'file', operation: 'PUT' })!;
      const failedPuts = sample(text, 'litestream_replica_operation_errors_total', { replica_type: 'file', operation: 'PUT', code: 'ECONNRESET' })!;
      assert.ok(failedPuts >= 1, 'the refused uploads are counted with their code');
      assert.ok(puts >= files.length + 1 + failedPuts, `${puts} PUTs`);
      assert.ok(putBytes >= stored, `${putBytes} bytes put, ${stored} stored on the good replica`);
      assert.ok(sample(text, 'litestream_replica_operation_duration_seconds_count', { replica_type: 'file', operation: 'PUT' })! >= puts);

      // Lag: the good replica is current, the bad one a TXID behind and down.
      assert.equal(sample(text, 'tidemark_replica_lag_txids', { db: paths[0]!, replica: 'file' }), 0);
      assert.equal(sample(text, 'tidemark_replica_lag_seconds', { db: paths[0]!, replica: 'file' }), 0);
      assert.equal(sample(text, 'tidemark_replica_up', { db: paths[0]!, replica: 'file' }), 1);
      assert.equal(sample(text, 'tidemark_replica_lag_txids', { db: paths[1]!, replica: 'file' }), 1);
      assert.equal(sample(text, 'tidemark_replica_up', { db: paths[1]!, replica: 'file' }), 0);
      assert.equal(sample(text, 'tidemark_replica_txid', { db: paths[1]!, replica: 'file' }), 1);
    } finally {
      bad.setErrorRate(0);
      await store.close();
    }
    // Closed databases leave the metrics.
    assert.equal(sample(await metrics.metrics(), 'litestream_txid', { db: paths[0]! }), undefined);
  });

  it('replicate -config with addr serves /metrics over HTTP, and refuses an address in use in one line', async () => {
    const dbPath = join(dir, 'served.db');
    const app = new Database(dbPath);
    app.pragma('journal_mode = wal');
    app.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    app.close();
    const port = await freePort();
    const config = join(dir, 'litestream.yml');
    writeFileSync(config, `addr: 127.0.0.1:${port}\ndbs:\n  - path: ${dbPath}\n    replica:\n      path: ${join(dir, 'served-replica')}\n`);
    const child = spawn(process.execPath, [BIN, 'replicate', '-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      let text = '';
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
        if (res?.status === 200) {
          text = await res.text();
          if ((sample(text, 'litestream_txid', { db: dbPath }) ?? 0) >= 1 && (sample(text, 'litestream_replica_operation_total', { replica_type: 'file', operation: 'PUT' }) ?? 0) >= 1) break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(sample(text, 'litestream_txid', { db: dbPath }), 1, stderr);
      assert.match(text, /^# TYPE litestream_sync_count counter$/m);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
      assert.match(stderr, new RegExp(`msg="serving metrics" addr=127\\.0\\.0\\.1:${port} path=/metrics`));
      assert.doesNotMatch(stderr, /addr has no effect/);

      // A second daemon on the same address: one line, non-zero, and it touched nothing.
      const other = join(dir, 'other.yml');
      writeFileSync(other, `addr: 127.0.0.1:${port}\ndbs:\n  - path: ${join(dir, 'other.db')}\n    replica:\n      path: ${join(dir, 'other-replica')}\n`);
      const r = spawnSync(process.execPath, [BIN, 'replicate', '-config', other], { encoding: 'utf8', timeout: 30_000 });
      assert.notEqual(r.status, 0);
      const lines = r.stderr.trim().split('\n');
      assert.match(lines[lines.length - 1]!, new RegExp(`^tidemark: addr 127\\.0\\.0\\.1:${port}: cannot serve metrics: address already in use$`));
      assert.equal(lines.filter((l) => l.startsWith('tidemark:')).length, 1, r.stderr);
    } finally {
      child.kill('SIGTERM');
      // A daemon that does not stop after one SIGTERM (its metrics server left open) fails here.
      const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      clearTimeout(killer);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr);
    }
  });
});
