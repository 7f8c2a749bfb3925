/**
 * The real Litestream v0.3.13 replicates a real database through checkpoints
 * (several WAL indexes), periodic snapshots and restarts after the WAL was
 * reset behind its back (several generations). tidemark then restores the
 * latest state and every recorded moment; each result must equal both what
 * `litestream restore` produces from the same replica (byte for byte) and
 * the state the application saw (logical dump).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { restore } from '../../../src/restore/restore.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import { logicalDump, type LogicalDump } from '../../replication/helpers.js';
import { makeTempDir } from '../replica-fixtures.js';
import { LITESTREAM_V03_BIN } from './helpers.js';
import { toV03Reader } from '../../../src/storage/v03-reader.js';

/** Litestream polls the WAL and uploads this often (v0.3 defaults to 1 s; shorter keeps the test fast). */
const INTERVAL_MS = 50;
/** Litestream checkpoints (starting a new WAL index) once the WAL holds this many pages. */
const MIN_CHECKPOINT_PAGES = 8;
/** A snapshot at the current WAL index this often, so generations hold more than one. */
const SNAPSHOT_INTERVAL = '1500ms';
/** The replica counts as caught up once no object has appeared or changed for this long. */
const QUIET_MS = 8 * INTERVAL_MS;
const GENERATIONS = 3;
const WRITES_PER_GENERATION = 7;
const WAIT_LIMIT_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface State {
  /** A moment when this was the replicated state: after the replica caught up, before the next write. */
  at: Date;
  dump: LogicalDump;
}

/** Every file under the replica with its size and mtime: the replica's progress, read without the code under test. */
async function replicaSignature(root: string): Promise<string> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await stat(p, { bigint: true }).catch(() => undefined);
        if (st) out.push(`${p}:${st.size}:${st.mtimeNs}`);
      }
    }
  };
  await walk(root);
  return out.sort().join('\n');
}

/** Waits until the replica has changed since `before` and then stayed unchanged for QUIET_MS. */
async function waitForReplica(root: string, before: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  let last = await replicaSignature(root);
  while (last === before) {
    if (Date.now() > deadline) throw new Error('litestream uploaded nothing');
    await sleep(INTERVAL_MS);
    last = await replicaSignature(root);
  }
  let quietSince = Date.now();
  while (Date.now() - quietSince < QUIET_MS) {
    if (Date.now() > deadline) throw new Error('the replica never settled');
    await sleep(INTERVAL_MS);
    const now = await replicaSignature(root);
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
}

function litestreamRestore(out: string, replica: string, timestamp?: Date): Buffer {
  const args = ['restore', '-o', out, ...(timestamp ? ['-timestamp', timestamp.toISOString()] : []), `file://${replica}`];
  const r = spawnSync(LITESTREAM_V03_BIN, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `litestream ${args.join(' ')}: ${r.stderr}`);
  return readFileSync(out);
}

/** Dump and integrity of database bytes, read from a copy so that opening it cannot touch the file compared. */
function dumpOf(bytes: Buffer, path: string): { dump: LogicalDump; integrity: string } {
  writeFileSync(path, bytes);
  const db = new Database(path, { readonly: true });
  try {
    return { dump: logicalDump(db), integrity: db.pragma('integrity_check', { simple: true }) as string };
  } finally {
    db.close();
  }
}

describe('restore of a replica written by Litestream v0.3.13', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let replica: string;
  let litestream: ChildProcess | undefined;
  let log = '';
  const states: State[] = [];

  async function startLitestream(config: string): Promise<void> {
    litestream = spawn(LITESTREAM_V03_BIN, ['replicate', '-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    litestream.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    litestream.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  }

  async function stopLitestream(): Promise<void> {
    const p = litestream;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    litestream = undefined;
  }

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('v03-litestream'));
    replica = join(dir, 'replica');
    const dbPath = join(dir, 'app.db');
    const config = join(dir, 'litestream.yml');
    await writeFile(
      config,
      [
        'dbs:',
        `  - path: ${dbPath}`,
        `    monitor-interval: ${INTERVAL_MS}ms`,
        `    min-checkpoint-page-count: ${MIN_CHECKPOINT_PAGES}`,
        '    replicas:',
        `      - url: file://${replica}`,
        `        sync-interval: ${INTERVAL_MS}ms`,
        `        snapshot-interval: ${SNAPSHOT_INTERVAL}`,
        '',
      ].join('\n'),
    );
    const db = new Database(dbPath);
    // Litestream v0.3 wants to be the only one checkpointing while it runs.
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, gen INTEGER, v TEXT, b BLOB)');
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const insert = db.prepare('INSERT INTO t (gen, v, b) VALUES (?, ?, ?)');
    // A moment is recorded only once the replica restores to what the application sees: a quiet
    // replica alone is not proof on a loaded machine, where Litestream can pause longer than QUIET_MS
    // between a new generation's snapshot and the WAL segment after it.
    let probes = 0;
    const record = async (): Promise<void> => {
      const want = logicalDump(db);
      const deadline = Date.now() + WAIT_LIMIT_MS;
      for (;;) {
        const probe = join(dir, `probe-${probes++}.db`);
        const holds = await restore({ client: new FileReplicaClient(replica), outputPath: probe }).then(
          async () => JSON.stringify(dumpOf(await readFile(probe), `${probe}-copy`).dump) === JSON.stringify(want),
          () => false,
        );
        await rm(probe, { force: true });
        await rm(`${probe}-copy`, { force: true });
        if (holds) break;
        if (Date.now() > deadline) throw new Error('the replica never restored to the state the application sees');
        await sleep(INTERVAL_MS);
      }
      states.push({ at: new Date(), dump: want });
    };
    try {
      for (let g = 0; g < GENERATIONS; g++) {
        const before0 = await replicaSignature(replica);
        await startLitestream(config);
        await waitForReplica(replica, before0);
        await record();
        for (let w = 0; w < WRITES_PER_GENERATION; w++) {
          await sleep(20);
          const before = await replicaSignature(replica);
          if (w === 3) {
            // One large transaction: many frames, overflow pages.
            db.transaction(() => {
              for (let i = 0; i < 40; i++) insert.run(g, `bulk ${g}/${i}`, Buffer.alloc(100 + rand(6000), g * 16 + (i % 16)));
            })();
          } else if (w === 5) {
            db.prepare('UPDATE t SET v = v || ? WHERE id % 3 = ?').run(` updated in ${g}`, g % 3);
            db.prepare('DELETE FROM t WHERE id % 5 = ?').run(g);
          } else if (w === 6 && g === 1) {
            // Shrinks the file: the restore must cut the database to the last commit's size.
            db.prepare('DELETE FROM t WHERE length(b) > 3000').run();
            db.exec('VACUUM');
          } else {
            for (let i = 0; i < 3; i++) insert.run(g, `row ${g}/${w}/${i} ${'x'.repeat(rand(1500))}`, Buffer.alloc(rand(200), w));
          }
          await waitForReplica(replica, before);
          await record();
        }
        await stopLitestream();
        // With Litestream stopped, the WAL is reset behind its back and written to: it must start a new generation.
        db.pragma('wal_checkpoint(TRUNCATE)');
        insert.run(g, `between generations ${g}`, null);
      }
      const before = await replicaSignature(replica);
      await startLitestream(config);
      await waitForReplica(replica, before);
      await record();
      await stopLitestream();
      await truncateMtimesToMs(replica);
    } catch (err) {
      await stopLitestream();
      throw new Error(`workload failed: ${(err as Error).message}\nlitestream log:\n${log}`, { cause: err });
    } finally {
      db.close();
    }
  });

  after(async () => {
    await stopLitestream();
    await cleanup();
  });

  it('the replica has several generations, WAL indexes and snapshots', async () => {
    const client = new FileReplicaClient(replica);
    const generations = await toV03Reader(client).v03Generations();
    assert.equal(generations.length, GENERATIONS + 1);
    let multiIndex = 0;
    let laterSnapshots = 0;
    for (const g of generations) {
      const indexes = new Set((await toV03Reader(client).v03WalSegments(g)).map((s) => s.index));
      if (indexes.size >= 3) multiIndex++;
      laterSnapshots += (await toV03Reader(client).v03Snapshots(g)).filter((s) => s.index > 0).length;
    }
    assert.ok(multiIndex >= GENERATIONS, `generations with 3+ WAL indexes: ${multiIndex}`);
    assert.ok(laterSnapshots >= 1, 'some snapshot was taken after a checkpoint');
  });

  it('the latest state equals litestream restore byte for byte, and the last state the application saw', async () => {
    const out = join(dir, 'latest.db');
    const r = await restore({ client: new FileReplicaClient(replica), outputPath: out, integrityCheck: 'full' });
    assert.equal(r.format, 'v0.3');
    const ours = await readFile(out);
    await mkdir(join(dir, 'ls-latest'));
    const theirs = litestreamRestore(join(dir, 'ls-latest', 'db'), replica);
    assert.ok(ours.equals(theirs), 'tidemark and litestream restore differ');
    const { dump, integrity } = dumpOf(ours, join(dir, 'latest-copy.db'));
    assert.equal(integrity, 'ok');
    assert.deepEqual(dump, states.at(-1)!.dump);
  });

  it('every recorded moment restores to the state of that moment, as litestream restore -timestamp does', async () => {
    const client = new FileReplicaClient(replica);
    const objectTimes = await allObjectTimes(client);
    let compared = 0;
    for (const [k, s] of states.entries()) {
      const out = join(dir, `at-${k}.db`);
      await restore({ client, outputPath: out, timestamp: s.at });
      const ours = await readFile(out);
      const { dump, integrity } = dumpOf(ours, join(dir, `at-${k}-copy.db`));
      assert.equal(integrity, 'ok', `state ${k}`);
      assert.deepEqual(dump, s.dump, `state ${k} at ${s.at.toISOString()}`);
      // Litestream v0.3 refuses a time past its generation's last object (tidemark restores that
      // generation's final state there), so both are asked about the time of the newest object at
      // or before the moment, which holds the same state.
      const t = objectTimes.filter((x) => x <= s.at.getTime()).at(-1)!;
      const lsDir = join(dir, `ls-${k}`);
      await mkdir(lsDir);
      const theirs = litestreamRestore(join(lsDir, 'db'), replica, new Date(t));
      const again = join(dir, `at-${k}-object-time.db`);
      await restore({ client, outputPath: again, timestamp: new Date(t) });
      assert.ok((await readFile(again)).equals(theirs), `state ${k}: tidemark and litestream differ at ${new Date(t).toISOString()}`);
      assert.ok((await readFile(again)).equals(ours), `state ${k}: the object time and the moment give different states`);
      compared++;
    }
    assert.equal(compared, GENERATIONS * (WRITES_PER_GENERATION + 1) + 1);
  });
});

/**
 * Cuts each file's mtime to whole milliseconds (order is kept), so that a
 * millisecond timestamp can name an object's exact time: Litestream v0.3
 * refuses a -timestamp even a nanosecond past its generation's last object.
 * `touch` sets the time exactly; utimes from Node goes through a float.
 */
async function truncateMtimesToMs(root: string): Promise<void> {
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        await walk(p);
        continue;
      }
      const ms = (await stat(p, { bigint: true })).mtimeNs / 1_000_000n;
      const r = spawnSync('touch', ['-m', '-d', `@${ms / 1000n}.${(ms % 1000n).toString().padStart(3, '0')}`, p], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  };
  await walk(root);
}

/** The createdAt of every v0.3 object, ascending, in milliseconds. */
async function allObjectTimes(client: FileReplicaClient): Promise<number[]> {
  const times: number[] = [];
  for (const g of await toV03Reader(client).v03Generations()) {
    for (const s of await toV03Reader(client).v03Snapshots(g)) times.push(s.createdAt.getTime());
    for (const w of await toV03Reader(client).v03WalSegments(g)) times.push(w.createdAt.getTime());
  }
  return times.sort((a, b) => a - b);
}
