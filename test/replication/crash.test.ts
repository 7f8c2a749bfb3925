import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { parseFilename } from '../../src/ltx/file-name.js';
import { DbReplicator } from '../../src/replication/db-replicator.js';
import { restore } from '../../src/restore/restore.js';
import { seededRandom } from '../../src/seeded-random.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { assertAllStrict, logicalDump, openAppDb, withTempDir } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const ROUNDS = 8;

function startDaemon(dbPath: string, replica: string): ChildProcess {
  return spawn(process.execPath, [BIN, 'replicate', '-sync-interval', '20ms', dbPath, replica], { stdio: ['ignore', 'ignore', 'pipe'] });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('replicator killed with SIGKILL at random moments', () => {
  it('the replica stays contiguous, strictly valid and restorable, and ends equal to the database', async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const replica = join(dir, 'replica');
      const app = openAppDb(dbPath);
      app.pragma('busy_timeout = 10000'); // the replicator takes the write lock for its checkpoints
      app.pragma('wal_autocheckpoint = 200'); // the application checkpoints too, between and during the crashes
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
      const ins = app.prepare('INSERT INTO t (k, v) VALUES (?, randomblob(?))');
      const random = seededRandom(0x5eed);
      let k = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const child = startDaemon(dbPath, replica);
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        // Killed a random time after it is up and replicating, while the application writes.
        const upBy = Date.now() + 20_000;
        while (!stderr.includes('msg=replicating') && Date.now() < upBy) await sleep(10);
        assert.ok(stderr.includes('msg=replicating'), `round ${round}: the daemon did not start: ${stderr}`);
        const killAt = Date.now() + Math.floor(random() * 400);
        while (Date.now() < killAt) {
          app.transaction(() => {
            const n = 1 + Math.floor(random() * 40);
            for (let i = 0; i < n; i++) ins.run(k++, 50 + Math.floor(random() * 3000));
            if (random() < 0.2) app.prepare('DELETE FROM t WHERE k % 7 = ?').run(Math.floor(random() * 7));
          })();
          await sleep(Math.floor(random() * 10));
        }
        child.kill('SIGKILL');
        const exit = await new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
        assert.equal(exit, 'SIGKILL', `round ${round}: the daemon ended on its own: ${stderr}`);
        if (random() < 0.3) app.pragma('wal_checkpoint(PASSIVE)');
      }

      // A last, orderly run brings the replica up to date.
      const r = await DbReplicator.open({ dbPath, client: new FileReplicaClient(replica) });
      try {
        await r.syncAndWait({ timeoutMs: 20_000 });
      } finally {
        await r.close();
      }

      const txids = readdirSync(join(replica, 'ltx', '0'))
        .map((n) => parseFilename(n))
        .filter((p) => p !== null)
        .map((p) => p.maxTxid)
        .sort((a, b) => (a < b ? -1 : 1));
      assert.ok(txids.length >= 2, `only ${txids.length} L0 files`);
      txids.forEach((t, i) => assert.equal(t, BigInt(i + 1), 'L0 TXIDs run 1, 2, 3, … without a gap or a repeat'));
      await assertAllStrict(join(replica, 'ltx', '0'));
      assert.equal(readdirSync(join(replica, 'ltx', '0')).filter((n) => n.endsWith('.tmp')).length, 0, 'no temporary file is left in the replica');

      const out = join(dir, 'restored.db');
      await restore({ client: new FileReplicaClient(replica), outputPath: out, integrityCheck: 'full' });
      const restored = new Database(out, { readonly: true });
      try {
        assert.deepEqual(logicalDump(restored), logicalDump(app));
      } finally {
        restored.close();
      }
      // Every TXID in between restores to a database SQLite finds intact.
      for (const t of txids.filter((_, i) => i % Math.ceil(txids.length / 10) === 0)) {
        await restore({ client: new FileReplicaClient(replica), outputPath: join(dir, `at-${t}.db`), txid: t, integrityCheck: 'full' });
      }
      app.close();
    });
  });
});
