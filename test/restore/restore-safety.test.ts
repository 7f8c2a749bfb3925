import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { decodeLtx } from '../../src/ltx/decoder.js';
import { LtxContentError, LtxError, LtxTruncatedError } from '../../src/ltx/errors.js';
import { decodeHeader } from '../../src/ltx/header.js';
import {
  RestoreError,
  RestoreFetchError,
  RestoreIntegrityError,
  RestoreOptionsError,
  RestoreOutputExistsError,
  RestoreSidecarExistsError,
} from '../../src/restore/errors.js';
import { restoreIfMissing } from '../../src/restore/restore-if-missing.js';
import { restore } from '../../src/restore/restore.js';
import { ReplicaFileNotFoundError } from '../../src/storage/errors.js';
import { FaultInjectingClient, InjectedFaultError } from '../../src/storage/fault-injecting-client.js';
import { ltxFilePath, type FileReplicaClient } from '../../src/storage/file-replica-client.js';
import type { OpenOptions, ReplicaClient } from '../../src/storage/replica-client.js';
import { makeLtxFile } from '../storage/ltx-fixtures.js';
import { encodeLtx, listDir, makeReplica, makeTempDir, placeRaw, putLtx, T0 } from './replica-fixtures.js';

const PAGE_SIZE = 4096;
/** Pages of the snapshot: about 800 KB of incompressible data, so a file can be cut "midway". */
const SNAPSHOT_PAGES = 200;
/** L0 files after the snapshot. */
const L0_FILES = 11;
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
/** How long the crash test waits for the child to reach the temporary file. */
const CHILD_DEADLINE_MS = 20_000;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A database image (pages 1..n of incompressible data) and the replica files that rebuild it. */
async function buildReplicaFiles(): Promise<{ files: { level: number; bytes: Uint8Array }[]; image: Uint8Array }> {
  const image = new Uint8Array(SNAPSHOT_PAGES * PAGE_SIZE);
  const files: { level: number; bytes: Uint8Array }[] = [];
  files.push({ level: 0, bytes: await makeLtxFile({ minTxid: 1n, maxTxid: 1n, timestamp: T0, pages: SNAPSHOT_PAGES, pageSize: PAGE_SIZE, incompressible: true }) });
  for (const p of (await decodeLtx(files[0]!.bytes)).pages) image.set(p.data, (p.pgno - 1) * PAGE_SIZE);
  // Each L0 file rewrites every 17th page from its TXID on.
  for (let t = 2; t <= L0_FILES + 1; t++) {
    const pages = [];
    for (let pgno = t; pgno <= SNAPSHOT_PAGES; pgno += 17) {
      const data = new Uint8Array(PAGE_SIZE).fill(t);
      data[0] = pgno & 0xff;
      pages.push({ pgno, data });
      image.set(data, (pgno - 1) * PAGE_SIZE);
    }
    files.push({
      level: 0,
      bytes: await encodeLtx({ pageSize: PAGE_SIZE, commit: SNAPSHOT_PAGES, minTxid: BigInt(t), maxTxid: BigInt(t), timestamp: T0 + t * 1000, pages }),
    });
  }
  return { files, image };
}

/** Wraps a client to watch openLtxFile: how many opens are in flight at most, and which files were opened. */
function watchOpens(inner: ReplicaClient, onOpen?: (level: number, min: bigint) => void | Promise<void>) {
  const stats = { active: 0, maxActive: 0, opens: 0 };
  const client: ReplicaClient = {
    type: inner.type,
    init: (s) => inner.init(s),
    ltxFiles: (...a) => inner.ltxFiles(...a),
    async openLtxFile(level: number, min: bigint, max: bigint, opts?: OpenOptions) {
      stats.opens++;
      stats.active++;
      stats.maxActive = Math.max(stats.maxActive, stats.active);
      try {
        await onOpen?.(level, min);
        return await inner.openLtxFile(level, min, max, opts);
      } finally {
        stats.active--;
      }
    },
    writeLtxFile: (...a) => inner.writeLtxFile(...a),
    deleteLtxFiles: (...a) => inner.deleteLtxFiles(...a),
    deleteAll: (s) => inner.deleteAll(s),
  };
  return { client, stats };
}

describe('restore failure safety', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let files: { level: number; bytes: Uint8Array }[];
  let image: Uint8Array;
  let good: FileReplicaClient;
  let n = 0;

  /** A fresh, empty directory for one restore's output. */
  async function outDir(): Promise<string> {
    const d = join(dir, `out-${n++}`);
    await mkdir(d);
    return d;
  }

  async function replicaWith(name: string, change?: (level: number, min: bigint, bytes: Uint8Array) => Uint8Array): Promise<FileReplicaClient> {
    const client = await makeReplica(dir, name);
    for (const f of files) {
      const h = decodeHeader(f.bytes);
      await placeRaw(client, f.level, h.minTxid, h.maxTxid, change ? change(f.level, h.minTxid, f.bytes) : f.bytes, new Date(h.timestamp));
    }
    return client;
  }

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('restore-safety'));
    ({ files, image } = await buildReplicaFiles());
    good = await replicaWith('good');
  });
  after(() => cleanup());

  it('the replica restores to the expected image', async () => {
    const out = join(await outDir(), 'db');
    const r = await restore({ client: good, outputPath: out });
    assert.equal(r.files, L0_FILES + 1);
    assert.deepEqual(new Uint8Array(await readFile(out)), image);
    assert.deepEqual(await listDir(join(out, '..')), ['db']);
  });

  describe('damaged replica files', () => {
    it('a file truncated midway: LtxError, and neither the output nor its .tmp exists', async () => {
      const client = await replicaWith('truncated');
      const path = ltxFilePath(client.root, 0, 1n, 1n);
      await truncate(path, Math.floor((await stat(path)).size / 2));
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db') }), LtxTruncatedError);
      assert.deepEqual(await listDir(d), []);
    });

    it('a byte flipped midway: LtxError, nothing left behind', async () => {
      const client = await replicaWith('flipped', (_level, min, bytes) => {
        if (min !== 1n) return bytes;
        const copy = bytes.slice();
        copy[Math.floor(copy.length / 2)]! ^= 0x40;
        return copy;
      });
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db') }), LtxError);
      assert.deepEqual(await listDir(d), []);
    });

    it('a damaged file late in the plan, after most of the image is written', async () => {
      const client = await replicaWith('late', (_level, min, bytes) => {
        if (min !== BigInt(L0_FILES + 1)) return bytes;
        const copy = bytes.slice();
        copy[copy.length - 9]! ^= 0x01;
        return copy;
      });
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db') }), (err: unknown) => {
        assert.ok(err instanceof LtxError);
        assert.match(err.message, /ltx\/0\/000000000000000c-000000000000000c\.ltx/);
        return true;
      });
      assert.deepEqual(await listDir(d), []);
    });

    it('a header that covers other TXIDs than its name is LtxContentError', async () => {
      const client = await makeReplica(dir, 'misnamed');
      await placeRaw(client, 0, 1n, 1n, files[0]!.bytes, new Date(T0));
      // TXID 2's bytes stored as 2-3: the plan trusts names, the fetch checks headers.
      await placeRaw(client, 0, 2n, 3n, files[1]!.bytes, new Date(T0 + 3000));
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db') }), (err: unknown) => {
        assert.ok(err instanceof LtxContentError);
        assert.match(err.message, /ltx\/0\/0000000000000002-0000000000000003\.ltx.*header covers TXIDs 0000000000000002-0000000000000002/);
        return true;
      });
      assert.deepEqual(await listDir(d), []);
    });

    it('a listed file shorter than a header is refused before anything is written', async () => {
      const client = await makeReplica(dir, 'tiny');
      await placeRaw(client, 0, 1n, 1n, new Uint8Array(50), new Date(T0));
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db') }), /lists it as 50 bytes/);
      assert.deepEqual(await listDir(d), []);
    });
  });

  describe('the output path', () => {
    it('an existing output is RestoreOutputExistsError and stays untouched', async () => {
      const d = await outDir();
      const out = join(d, 'db');
      await writeFile(out, 'precious');
      await assert.rejects(restore({ client: good, outputPath: out }), (err: unknown) => {
        assert.ok(err instanceof RestoreOutputExistsError);
        assert.equal(err.path, out);
        assert.equal(err.message, `cannot restore, output path already exists and is not empty: ${out}; use -force (force: true) to replace it`);
        return true;
      });
      assert.equal(await readFile(out, 'utf8'), 'precious');
      assert.deepEqual(await listDir(d), ['db']);
    });

    it('ifDbNotExists skips without touching the file or the replica', async () => {
      const d = await outDir();
      const out = join(d, 'db');
      await writeFile(out, 'precious');
      const client = new FaultInjectingClient(good);
      const r = await restore({ client, outputPath: out, ifDbNotExists: true });
      assert.deepEqual(r, { restored: false, reason: 'output-exists', outputPath: out });
      assert.equal(client.totalCalls, 0);
      assert.equal(await readFile(out, 'utf8'), 'precious');
    });

    it('ifDbNotExists restores when the output is missing', async () => {
      const out = join(await outDir(), 'db');
      const r = await restore({ client: good, outputPath: out, ifDbNotExists: true });
      assert.equal(r.restored, true);
      assert.deepEqual(new Uint8Array(await readFile(out)), image);
    });

    for (const suffix of ['-wal', '-journal']) {
      it(`a leftover ${suffix} beside the output is RestoreSidecarExistsError`, async () => {
        const d = await outDir();
        const out = join(d, 'db');
        await writeFile(out + suffix, 'old journal');
        await assert.rejects(restore({ client: good, outputPath: out }), (err: unknown) => {
          assert.ok(err instanceof RestoreSidecarExistsError);
          assert.equal(err.sidecar, out + suffix);
          return true;
        });
        assert.deepEqual(await listDir(d), [`db${suffix}`]);
      });
    }

    it('a leftover -shm is harmless and does not block the restore', async () => {
      const d = await outDir();
      const out = join(d, 'db');
      await writeFile(out + '-shm', 'old index');
      await restore({ client: good, outputPath: out });
      assert.deepEqual(new Uint8Array(await readFile(out)), image);
    });

    it('a restore killed part way leaves nothing at the output path, and the next restore succeeds', async () => {
      const d = await outDir();
      const out = join(d, 'db');
      const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'restore-child.ts'), good.root, out], { cwd: REPO, stdio: 'ignore' });
      const exited = once(child, 'exit');
      const deadline = Date.now() + CHILD_DEADLINE_MS;
      while (!(await exists(out + '.tmp')) && child.exitCode === null && Date.now() < deadline) await sleep(5);
      child.kill('SIGKILL');
      await exited;
      assert.equal(child.signalCode, 'SIGKILL', 'the child was killed before it finished');
      assert.ok(await exists(out + '.tmp'), 'the child had started writing');
      assert.equal(await exists(out), false);

      await restore({ client: good, outputPath: out });
      assert.deepEqual(new Uint8Array(await readFile(out)), image);
      assert.deepEqual(await listDir(d), ['db']);
    });

    it('creates missing parent directories', async () => {
      const out = join(await outDir(), 'a', 'b', 'db');
      await restore({ client: good, outputPath: out });
      assert.deepEqual(new Uint8Array(await readFile(out)), image);
    });

    it('a relative output path is resolved', async () => {
      const d = await outDir();
      const r = await restore({ client: good, outputPath: relative(process.cwd(), join(d, 'db')) });
      assert.equal(r.outputPath, join(d, 'db'));
      assert.deepEqual(await listDir(d), ['db']);
    });
  });

  describe('integrity check', () => {
    async function sqliteReplica(name: string, damage: boolean): Promise<FileReplicaClient> {
      const path = join(dir, `${name}.src.db`);
      const db = new Database(path);
      db.pragma('page_size = 1024');
      db.pragma('journal_mode = DELETE');
      db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
        INSERT INTO t SELECT i, printf('value %d', i) FROM n;
        CREATE INDEX t_v ON t (v);`);
      db.close();
      const bytes = new Uint8Array(await readFile(path));
      const pages = [];
      for (let p = 1; p <= bytes.length / 1024; p++) pages.push({ pgno: p, data: bytes.slice((p - 1) * 1024, p * 1024) });
      if (damage) {
        // Point the last index page's cells at garbage: the b-tree no longer matches the table.
        const last = pages.at(-1)!.data;
        last.fill(0x5a, 200, 900);
      }
      const client = await makeReplica(dir, name);
      await putLtx(client, 0, await encodeLtx({ pageSize: 1024, commit: pages.length, minTxid: 1n, maxTxid: 1n, timestamp: T0, pages }));
      return client;
    }

    it('a sound database passes quick and full checks', async () => {
      const client = await sqliteReplica('sound', false);
      for (const mode of ['quick', 'full'] as const) {
        const d = await outDir();
        await restore({ client, outputPath: join(d, 'db'), integrityCheck: mode });
        assert.deepEqual(await listDir(d), ['db']);
      }
    });

    for (const mode of ['quick', 'full'] as const) {
      it(`a damaged database fails the ${mode} check: RestoreIntegrityError, nothing left behind`, async () => {
        const client = await sqliteReplica(`damaged-${mode}`, true);
        const d = await outDir();
        await assert.rejects(restore({ client, outputPath: join(d, 'db'), integrityCheck: mode }), (err: unknown) => {
          assert.ok(err instanceof RestoreIntegrityError);
          assert.ok(err.problems.length > 0);
          assert.match(err.message, mode === 'quick' ? /failed quick_check/ : /failed integrity_check/);
          return true;
        });
        assert.deepEqual(await listDir(d), []);
      });
    }

    it('an image that is not a database at all fails with SQLite\'s message', async () => {
      const d = await outDir();
      await assert.rejects(restore({ client: good, outputPath: join(d, 'db'), integrityCheck: 'quick' }), /file is not a database/);
      assert.deepEqual(await listDir(d), []);
    });

    it('with no check (the default) the same image is restored', async () => {
      const d = await outDir();
      await restore({ client: good, outputPath: join(d, 'db') });
      assert.deepEqual(await listDir(d), ['db']);
    });
  });

  describe('fetching', () => {
    it('parallel fetches through a slow client stay within the parallelism and give the right image', async () => {
      for (const parallelism of [1, 4]) {
        const { client, stats } = watchOpens(new FaultInjectingClient(good, { delayMs: 20 }));
        const out = join(await outDir(), 'db');
        const r = await restore({ client, outputPath: out, parallelism });
        assert.equal(r.files, L0_FILES + 1);
        assert.deepEqual(new Uint8Array(await readFile(out)), image);
        assert.equal(stats.maxActive, parallelism, `parallelism ${parallelism}`);
      }
    });

    it('streams that break off are resumed where they stopped', async () => {
      const client = new FaultInjectingClient(good, { truncateReadsAfter: 100_000 });
      const out = join(await outDir(), 'db');
      await restore({ client, outputPath: out, parallelism: 3 });
      assert.deepEqual(new Uint8Array(await readFile(out)), image);
      assert.ok(client.injectedFaults >= 5, `${client.injectedFaults} breaks`);
      assert.ok(client.calls.open > L0_FILES + 1);
    });

    it('a failed open is retried', async () => {
      const client = new FaultInjectingClient(good).failNext('open', { error: new InjectedFaultError('open'), count: 2 });
      const out = join(await outDir(), 'db');
      await restore({ client, outputPath: out });
      assert.deepEqual(new Uint8Array(await readFile(out)), image);
      assert.equal(client.calls.open, L0_FILES + 1 + 2);
    });

    it('a file that keeps failing ends in RestoreFetchError, nothing left behind', async () => {
      const client = new FaultInjectingClient(good).failNext('open', { error: new InjectedFaultError('open'), count: 4 });
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db'), parallelism: 1 }), (err: unknown) => {
        assert.ok(err instanceof RestoreFetchError);
        assert.ok(err.cause instanceof InjectedFaultError);
        assert.match(err.message, /gave up after 3 retries/);
        return true;
      });
      assert.deepEqual(await listDir(d), []);
    });

    it('a file removed after planning is not retried, and the error says to run again', async () => {
      const { client, stats } = watchOpens(good, (level, min) => {
        if (min === 5n) throw new ReplicaFileNotFoundError(level, min, min, 'test');
      });
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db') }), (err: unknown) => {
        assert.ok(err instanceof RestoreFetchError);
        assert.ok(err.cause instanceof ReplicaFileNotFoundError);
        assert.match(err.message, /run the restore again/);
        return true;
      });
      assert.equal(stats.opens, L0_FILES + 1);
      assert.deepEqual(await listDir(d), []);
    });

    it('aborting mid-restore rejects with the reason and leaves nothing behind', async () => {
      const ac = new AbortController();
      const reason = new Error('stop');
      const { client } = watchOpens(new FaultInjectingClient(good, { delayMs: 5 }), (_level, min) => {
        if (min === 6n) ac.abort(reason);
      });
      const d = await outDir();
      await assert.rejects(restore({ client, outputPath: join(d, 'db'), signal: ac.signal, parallelism: 2 }), (err: unknown) => err === reason);
      assert.deepEqual(await listDir(d), []);
    });
  });

  describe('options', () => {
    it('rejects bad options before touching anything', async () => {
      const client = new FaultInjectingClient(good);
      const outputPath = join(await outDir(), 'db');
      await assert.rejects(restore({ client, outputPath, parallelism: 0 }), RestoreOptionsError);
      await assert.rejects(restore({ client, outputPath, parallelism: 1.5 }), RestoreOptionsError);
      await assert.rejects(restore({ client, outputPath, integrityCheck: 'thorough' as 'full' }), RestoreOptionsError);
      await assert.rejects(restore({ client, outputPath: '' }), RestoreOptionsError);
      await assert.rejects(restore({ client, outputPath, txid: 2n, timestamp: new Date() }), RestoreOptionsError);
      assert.equal(client.totalCalls, 0);
      assert.ok(new RestoreOptionsError('x') instanceof RestoreError);
    });
  });

  describe('restoreIfMissing', () => {
    it('restores a missing database', async () => {
      const out = join(await outDir(), 'db');
      const r = await restoreIfMissing({ client: good, outputPath: out });
      assert.equal(r.restored, true);
      assert.ok(r.restored && r.txid === BigInt(L0_FILES + 1) && r.files === L0_FILES + 1);
      assert.deepEqual(new Uint8Array(await readFile(out)), image);
    });

    it('answers with the same shapes as restore()', async () => {
      const a = await restore({ client: good, outputPath: join(await outDir(), 'db') });
      const b = await restoreIfMissing({ client: good, outputPath: join(await outDir(), 'db') });
      assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
      const { outputPath: _a, durationMs: _da, ...restA } = a;
      assert.ok(b.restored);
      const { outputPath: _b, durationMs: _db, ...restB } = b;
      assert.deepEqual(restB, restA);
      const existing = join(await outDir(), 'db');
      await writeFile(existing, 'mine');
      assert.deepEqual(await restore({ client: good, outputPath: existing, ifDbNotExists: true }), await restoreIfMissing({ client: good, outputPath: existing }));
    });

    it('leaves an existing database alone', async () => {
      const out = join(await outDir(), 'db');
      await writeFile(out, 'mine');
      assert.deepEqual(await restoreIfMissing({ client: good, outputPath: out }), { restored: false, reason: 'output-exists', outputPath: out });
      assert.equal(await readFile(out, 'utf8'), 'mine');
    });

    it('reports an empty replica as nothing to restore', async () => {
      const d = await outDir();
      const out = join(d, 'sub', 'db');
      const empty = await makeReplica(dir, 'empty');
      assert.deepEqual(await restoreIfMissing({ client: empty, outputPath: out }), { restored: false, reason: 'no-backups', outputPath: out });
      assert.deepEqual(await listDir(d), []);
    });

    it('still throws on a damaged replica', async () => {
      const client = await makeReplica(dir, 'gappy');
      await placeRaw(client, 0, 1n, 1n, files[0]!.bytes, new Date(T0));
      await placeRaw(client, 0, 3n, 3n, files[2]!.bytes, new Date(T0 + 3000));
      await assert.rejects(restoreIfMissing({ client, outputPath: join(await outDir(), 'db') }), /no file covering TXIDs 0000000000000002-0000000000000002/);
    });
  });
});
