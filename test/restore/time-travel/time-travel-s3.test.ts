// Time travel over a real S3 server (s3rver on loopback), plain and
// age-encrypted, through a fault proxy that counts the requests: a lookup
// fetches a few byte ranges, not the files, and a dropped connection is
// retried by the S3 client underneath without failing the query.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { restore } from '../../../src/restore/restore.js';
import { openTimeTravel } from '../../../src/restore/time-travel/time-travel.js';
import { AgeReplicaClient } from '../../../src/storage/age/age-replica-client.js';
import type { ReplicaClient } from '../../../src/storage/replica-client.js';
import { KEY_A } from '../../storage/age/age-test-keys.js';
import { FaultProxy } from '../../storage/s3/fault-proxy.js';
import { testS3Client } from '../../storage/s3/helpers.js';
import { startS3Server, type S3TestServer } from '../../storage/s3/s3-server.js';

const BUCKET = 'tidemark-time-travel';
const KEYS = { recipients: [KEY_A.recipient], identities: [KEY_A.identity] };
const STEPS = 6;

describe('time travel over S3 (s3rver on loopback)', () => {
  let server: S3TestServer;
  let proxy: FaultProxy;
  let dir: string;

  before(async () => {
    server = await startS3Server([BUCKET]);
    proxy = await FaultProxy.start(server.endpoint);
    dir = mkdtempSync(join(tmpdir(), 'tidemark-time-travel-s3-'));
  });
  after(async () => {
    await proxy.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['plain', 'age'] as const) {
    const replicaOver = (endpoint: string): ReplicaClient => {
      const s3 = testS3Client(endpoint, BUCKET, kind);
      return kind === 'age' ? new AgeReplicaClient(s3, KEYS, `s3 ${kind}`) : s3;
    };

    it(`${kind}: equals restore at every TXID, with a few ranged GETs per lookup and a reset connection retried`, async () => {
      const dbPath = join(dir, `${kind}.db`);
      const app = new Database(dbPath);
      app.pragma('journal_mode = wal');
      app.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
      const writer = replicaOver(server.endpoint);
      const replicator = await DbReplicator.open({ dbPath, client: writer, syncIntervalMs: 60_000 });
      const txids: bigint[] = [];
      try {
        const ins = app.prepare('INSERT INTO notes (body) VALUES (?)');
        for (let step = 0; step < STEPS; step++) {
          app.transaction(() => {
            for (let i = 0; i < 300; i++) ins.run(`step ${step} note ${i} `.padEnd(200, 'x'));
          })();
          txids.push(await replicator.syncAndWait());
        }
      } finally {
        await replicator.close();
        app.close();
      }

      const client = replicaOver(proxy.endpoint);
      await client.init();
      const tt = await openTimeTravel(client);
      try {
        for (const [i, txid] of txids.entries()) {
          const out = join(dir, `${kind}-${i}.db`);
          await restore({ client: writer, outputPath: out, txid });
          const db = new Database(out, { readonly: true });
          const expected = db.prepare('SELECT COUNT(*) AS n, MAX(body) AS top FROM notes').all();
          db.close();
          await tt.setTime({ txid });
          assert.deepEqual(await tt.query('SELECT COUNT(*) AS n, MAX(body) AS top FROM notes'), expected, `TXID ${txid}`);
        }

      } finally {
        await tt.close();
      }

      // A fresh view, so nothing is cached: a point lookup at the latest state.
      const fresh = await openTimeTravel(client);
      try {
        proxy.resetCounts();
        const before = fresh.stats();
        const [row] = await fresh.query('SELECT body FROM notes WHERE id = ?', [STEPS * 300 - 7]);
        assert.match(String(row!.body), new RegExp(`^step ${STEPS - 1} note 292 `));
        const after = fresh.stats();
        const fetched = after.pagesFetched - before.pagesFetched;
        assert.ok(fetched >= 1 && fetched <= 6, `${fetched} pages fetched`);
        const reads = after.requests - before.requests;
        // An age replica reads the object's header with the chunks a range needs: up to two GETs per read.
        if (kind === 'plain') assert.equal(proxy.counts.get, reads, 'one GET per range read');
        else assert.ok(proxy.counts.get >= reads && proxy.counts.get <= 2 * reads, `${proxy.counts.get} GETs for ${reads} range reads`);
        assert.ok(after.pagesFetched < fresh.pageCount / 4, `${after.pagesFetched} of ${fresh.pageCount} pages fetched in all`);
        for (const r of proxy.requests) assert.match(String(r.headers['range']), /^bytes=\d+-\d+$/, 'every GET is a byte range');
      } finally {
        await fresh.close();
      }

      // A connection cut before the answer: the S3 client retries, the view does not notice.
      const injected = proxy.injected;
      proxy.inject({ kind: 'reset', on: 'get', times: 1 });
      const past = await openTimeTravel(client, { txid: txids[0]! });
      try {
        assert.deepEqual(await past.query('SELECT COUNT(*) AS n FROM notes'), [{ n: 300 }]);
        assert.equal(proxy.injected - injected, 1);
      } finally {
        proxy.clear();
        await past.close();
      }
    });
  }
});
