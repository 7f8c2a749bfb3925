import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LocalL0Pruner, LOCAL_L0_PRUNE_INTERVAL_MS, type PrunedReplica } from '../../src/replication/local-l0-pruner.js';
import { LocalMeta } from '../../src/replication/local-meta.js';
import { ReplicaPosition } from '../../src/replication/replica-position.js';
import { seededRandom } from '../../src/seeded-random.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { withTempDir } from './helpers.js';

const SEEDS = [1, 2, 3, 42, 20260101];
const STEPS = 300;
const RETENTION_MS = 60_000;
const REPLICAS = 3;

interface Rig {
  meta: LocalMeta;
  pruner: LocalL0Pruner;
  replicas: { position: ReplicaPosition; failingSince: number | undefined }[];
  model: { txid: bigint };
}

function rig(dir: string, replicaCount: number): Rig {
  const meta = new LocalMeta(join(dir, 'meta'));
  const replicas = Array.from({ length: replicaCount }, (_, i) => ({
    position: new ReplicaPosition(new FileReplicaClient(join(dir, `replica-${i}`))),
    failingSince: undefined as number | undefined,
  }));
  const model = { txid: 0n };
  const pruner = new LocalL0Pruner({
    meta,
    modelTxid: () => model.txid,
    replicas: (): readonly PrunedReplica[] => replicas,
    laggingReplicaKeepMs: Number.MAX_SAFE_INTEGER,
    retentionMs: RETENTION_MS,
  });
  return { meta, pruner, replicas, model };
}

/** Writes local L0 file `txid` last modified at `mtimeMs`. */
async function writeLocal(meta: LocalMeta, txid: bigint, mtimeMs: number): Promise<void> {
  await meta.ensureDir();
  await writeFile(meta.pathOf(txid), `l0 ${txid}`);
  await utimes(meta.pathOf(txid), mtimeMs / 1000, mtimeMs / 1000);
}

function min(values: readonly bigint[]): bigint {
  return values.reduce((m, v) => (v < m ? v : m));
}

describe('LocalL0Pruner: the one owner of local L0 deletions', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: a local L0 file goes only once every replica holds it, the model no longer needs it and retention allows`, async () => {
      await withTempDir(async (dir) => {
        const r = rig(dir, REPLICAS);
        const random = seededRandom(seed);
        let now = 1_700_000_000_000;
        let local = 0n;
        const written = new Map<bigint, number>();
        for (let step = 0; step < STEPS; step++) {
          const before = new Set(await r.meta.txids());
          const bound = min([r.model.txid, ...r.replicas.map((x) => x.position.txid)]);
          const op = random();
          let allowed: (t: bigint) => boolean = () => false;
          let expected: (t: bigint) => boolean = () => false;
          if (op < 0.3) {
            local++;
            await writeLocal(r.meta, local, now);
            written.set(local, now);
          } else if (op < 0.5) {
            const x = r.replicas[Math.floor(random() * r.replicas.length)]!;
            const to = x.position.txid + BigInt(Math.floor(random() * 4));
            if (to <= local && to > x.position.txid) x.position.uploaded(to);
          } else if (op < 0.6) {
            r.model.txid = local;
          } else if (op < 0.7) {
            now += Math.floor(random() * RETENTION_MS);
          } else if (op < 0.85) {
            const pruneNow = now;
            await r.pruner.pruneAged(pruneNow);
            allowed = (t) => t < bound && written.get(t)! < pruneNow - RETENTION_MS;
            expected = allowed;
            now += LOCAL_L0_PRUNE_INTERVAL_MS;
          } else {
            // L0 retention releases a run of files, some of which a replica or the model still needs.
            const upTo = BigInt(Math.floor(random() * Number(local + 2n)));
            const files = [...before].filter((t) => t <= upTo).map((t) => ({ minTxid: t, maxTxid: t }));
            await r.pruner.release(files);
            allowed = (t) => t <= upTo && t <= bound;
            expected = allowed;
          }
          const after = new Set(await r.meta.txids());
          for (const t of before) {
            const gone = !after.has(t);
            const where = `seed ${seed}, step ${step}, TXID ${t} (bound ${bound}, positions ${r.replicas.map((x) => x.position.txid).join('/')}, model ${r.model.txid})`;
            if (gone) assert.ok(allowed(t), `${where}: removed although a replica, the model or retention still needs it`);
            else assert.ok(!expected(t), `${where}: kept although nothing needs it`);
          }
          if (local > 0n) assert.ok(after.has(local), `seed ${seed}, step ${step}: the newest local file (the replicator's position) is kept`);
        }
      });
    });
  }

  it('keeps every file for a replica that was never listed or uploaded to', async () => {
    await withTempDir(async (dir) => {
      const r = rig(dir, 2);
      const old = 1_000;
      for (let t = 1n; t <= 5n; t++) await writeLocal(r.meta, t, old);
      r.model.txid = 5n;
      r.replicas[0]!.position.uploaded(5n);
      await r.pruner.pruneAged(old + 10 * RETENTION_MS);
      await r.pruner.release([1n, 2n, 3n].map((t) => ({ minTxid: t, maxTxid: t })));
      assert.deepEqual(await r.meta.txids(), [1n, 2n, 3n, 4n, 5n]);
    });
  });

  it('lets a replica failing for longer than the lagging keep stop holding files back, when there are others', async () => {
    await withTempDir(async (dir) => {
      const meta = new LocalMeta(join(dir, 'meta'));
      const healthy = new ReplicaPosition(new FileReplicaClient(join(dir, 'a')));
      const down = new ReplicaPosition(new FileReplicaClient(join(dir, 'b')));
      const now = 10 * RETENTION_MS;
      const pruner = new LocalL0Pruner({
        meta,
        modelTxid: () => 4n,
        replicas: () => [
          { position: healthy, failingSince: undefined },
          { position: down, failingSince: 0 },
        ],
        laggingReplicaKeepMs: RETENTION_MS,
        retentionMs: RETENTION_MS,
      });
      for (let t = 1n; t <= 4n; t++) await writeLocal(meta, t, 0);
      healthy.uploaded(4n);
      down.uploaded(1n);
      assert.equal(pruner.keepFrom(now), 4n);
      await pruner.pruneAged(now);
      assert.deepEqual(await meta.txids(), [4n]);
    });
  });
});

/** Source files of src/, relative to it. */
async function sources(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

describe('no second deleter of local L0 files', () => {
  const src = join(import.meta.dirname, '..', '..', 'src');
  // The file system seam (LocalMeta) and its one caller; anything else calling these deletes behind the owner's back.
  const OWNER = 'replication/local-l0-pruner.ts';
  const SEAM = 'replication/local-meta.ts';
  const DELETES = /\.(removeBelow|removeAbove|remove|clear)\(/;

  it('only LocalL0Pruner calls the meta directory deletions of LocalMeta', async () => {
    const offenders: string[] = [];
    for (const file of await sources(src)) {
      const name = relative(src, file);
      if (name === OWNER || name === SEAM) continue;
      const text = await readFile(file, 'utf8');
      for (const [i, line] of text.split('\n').entries()) {
        if (/\bmeta\b/i.test(line) && DELETES.test(line)) offenders.push(`${name}:${i + 1}: ${line.trim()}`);
      }
    }
    assert.deepEqual(offenders, [], 'local L0 files are deleted only through LocalL0Pruner');
  });

  it('the uploader has no delete path', async () => {
    const text = await readFile(join(src, 'replication', 'uploader.ts'), 'utf8');
    for (const pattern of [/\brm\(/, /\bunlink\(/, /removeBelow|removeAbove|\.clear\(|deleteLtxFiles/, /retention/i]) {
      assert.doesNotMatch(text, pattern, `uploader.ts matches ${pattern}`);
    }
  });

  it('the store hands compaction a view of the meta directory whose deletions go to the replicator', async () => {
    const text = await readFile(join(src, 'store', 'store.ts'), 'utf8');
    assert.match(text, /releaseLocalL0\(/);
    assert.doesNotMatch(text, /\.delete!\(|deleteLtxFiles/, 'no delete of the meta directory\'s files straight through the FileReplicaClient');
  });
});
