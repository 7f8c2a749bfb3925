import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { CompactionLevels } from '../../src/compaction/compaction-levels.js';
import { LocalMeta, defaultMetaDir } from '../../src/replication/local-meta.js';
import { Store, type StoreDatabase } from '../../src/store/store.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { openAppDb, withTempDir } from '../replication/helpers.js';

const RUN_MS = 4_000;
const OWNER_FRAME = 'local-l0-pruner';

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** Replaces `proto[name]` with a wrapper that reports each call first; returns the undo. */
function spy(proto: object, name: string, onCall: (self: unknown, args: unknown[]) => void): () => void {
  const original = (proto as Record<string, Method>)[name]!;
  (proto as Record<string, Method>)[name] = function (this: unknown, ...args: unknown[]) {
    onCall(this, args);
    return original.apply(this, args);
  };
  return () => {
    (proto as Record<string, Method>)[name] = original;
  };
}

describe('Store: one owner of the meta directory\'s ltx/0', () => {
  it('with upload pruning and L0 retention both running, every local L0 deletion goes through LocalL0Pruner', async () => {
    await withTempDir(async (dir) => {
      const dbPath = join(dir, 'app.db');
      const metaDir = resolve(defaultMetaDir(dbPath));
      const app = openAppDb(dbPath);
      app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const deletions: string[] = [];
      const strays: string[] = [];
      const undo = [
        ...['removeBelow', 'removeAbove', 'remove', 'clear'].map((name) =>
          spy(LocalMeta.prototype, name, () => {
            const stack = new Error().stack ?? '';
            if (stack.includes(OWNER_FRAME)) deletions.push(name);
            else strays.push(`LocalMeta.${name} from\n${stack}`);
          }),
        ),
        spy(FileReplicaClient.prototype, 'deleteLtxFiles', (self) => {
          if (resolve((self as FileReplicaClient).root) === metaDir) strays.push(`FileReplicaClient.deleteLtxFiles on the meta directory from\n${new Error().stack}`);
        }),
      ];
      try {
        const store = await Store.open(
          [
            {
              path: dbPath,
              client: new FileReplicaClient(join(dir, 'replica')),
              // Not a store option, but passed through to the replicator: upload-side pruning within the test's run.
              replicator: { syncIntervalMs: 50, checkpointIntervalMs: 0, localL0RetentionMs: 300 } as StoreDatabase['replicator'],
            },
          ],
          {
            compaction: {
              levels: new CompactionLevels(
                [
                  { level: 0, intervalMs: 0 },
                  { level: 1, intervalMs: 500 },
                ],
                60_000,
              ),
              l0RetentionMs: 200,
              l0RetentionCheckIntervalMs: 200,
            },
          },
        );
        const r = store.replicator(dbPath)!;
        try {
          const ins = app.prepare('INSERT INTO t (v) VALUES (?)');
          const started = Date.now();
          for (let i = 0; Date.now() - started < RUN_MS; i++) {
            ins.run(`row ${i}`.padEnd(100, 'x'));
            await r.syncAndWait({ timeoutMs: 10_000 });
            await new Promise((res) => setTimeout(res, 20));
          }
        } finally {
          await store.close();
        }
        const left = await new LocalMeta(metaDir).txids();
        assert.ok(left.length > 0, 'the newest local file stays');
        assert.ok(deletions.includes('removeBelow'), `upload-side pruning ran through the owner (${deletions.join(', ')})`);
        assert.ok(deletions.includes('remove'), `L0 retention's local deletions ran through the owner (${deletions.join(', ')})`);
      } finally {
        for (const u of undo) u();
        app.close();
      }
      assert.deepEqual(strays, [], 'no local L0 file was deleted by anyone but LocalL0Pruner');
    });
  });
});
