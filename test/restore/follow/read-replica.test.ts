// Following a replica (restore -f, followReplica) with real processes: a
// source database written by better-sqlite3 and the sqlite3 shell, replicated
// by the built CLI, followed into a database that readers open as usual.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { MemorySink } from '../../../src/ltx/byte-sink.js';
import { MemorySource } from '../../../src/ltx/byte-source.js';
import { compactLtx } from '../../../src/ltx/compactor.js';
import { HEADER_FLAG_NO_CHECKSUM } from '../../../src/ltx/constants.js';
import { followReplica, ReadReplicaError, type AppliedEvent } from '../../../src/restore/follow/read-replica.js';
import { seededRandom } from '../../../src/seeded-random.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
/** Reproduces a run of the kill test: TIDEMARK_FOLLOW_SEED=<seed>. */
const SEED = Number(process.env.TIDEMARK_FOLLOW_SEED ?? Math.floor(Math.random() * 2 ** 32));
const DEADLINE_MS = 60_000;

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every table's rows, in a fixed order: what two databases must agree on. */
function contents(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', path);
    const out: Record<string, unknown[]> = {};
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]) {
      out[name] = db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all();
    }
    return out;
  } finally {
    db.close();
  }
}

/** The newest TXID on a directory replica, from its L0 file names. */
function replicaTxid(replica: string): bigint {
  const names = readdirSync(join(replica, 'ltx', '0')).filter((n) => n.endsWith('.ltx'));
  return names.reduce((m, n) => {
    const t = BigInt(`0x${n.slice(17, 33)}`);
    return t > m ? t : m;
  }, 0n);
}

async function until(what: string, ok: () => boolean, deadlineMs = DEADLINE_MS): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('followReplica (library)', () => {
  let tmp = '';
  before(() => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-follow-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('equals the source at every TXID it reports, through growth, a schema change, deletes and VACUUM; resumes after close', async () => {
    const src = join(tmp, 'src.db');
    const replica = join(tmp, 'replica');
    const out = join(tmp, 'follower.db');
    const steps: ((db: Database.Database) => void)[] = [
      (db) => {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
        const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
        for (let i = 0; i < 50; i++) ins.run(`row ${i}`);
      },
      (db) => {
        const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
        for (let i = 0; i < 400; i++) ins.run(`grow ${i} ${'y'.repeat(500)}`);
      },
      (db) => db.exec("CREATE TABLE u (k TEXT PRIMARY KEY, n INTEGER); INSERT INTO u VALUES ('a', 1), ('b', 2); UPDATE t SET v = 'changed' WHERE id % 7 = 0"),
      (db) => db.exec('DELETE FROM t WHERE id > 60'),
      (db) => db.exec('VACUUM'),
    ];
    const states: Record<string, unknown[]>[] = [];
    const runStep = (i: number): void => {
      const db = new Database(src);
      db.pragma('journal_mode = WAL');
      steps[i]!(db);
      db.close();
      states.push(contents(src));
      const r = cli('replicate', '-once', src, replica);
      assert.equal(r.code, 0, r.stderr);
    };
    runStep(0);
    const client = new FileReplicaClient(replica);
    const r = await followReplica({ client, outputPath: out, intervalMs: 20 });
    const seen: { event: AppliedEvent; contents: Record<string, unknown[]> }[] = [];
    r.on('applied', (event: AppliedEvent) => seen.push({ event, contents: contents(out) }));
    try {
      assert.equal(r.txid, replicaTxid(replica));
      assert.deepEqual(contents(out), states[0]);
      const txidAfter: bigint[] = [r.txid];
      for (let i = 1; i < steps.length; i++) {
        runStep(i);
        const target = replicaTxid(replica);
        txidAfter.push(target);
        await r.waitFor(target);
        assert.equal(r.txid, target);
        assert.deepEqual(contents(out), states[i], `after step ${i}`);
      }
      // Each reported TXID is a state the source was in at that TXID.
      assert.ok(seen.length >= steps.length - 1);
      for (const { event, contents: c } of seen) {
        const step = txidAfter.indexOf(event.txid);
        assert.ok(step >= 0, `TXID ${event.txid} is one that -once produced`);
        assert.deepEqual(c, states[step]);
      }
      assert.equal(readFileSync(out + '-txid', 'utf8'), `${r.txid.toString(16).padStart(16, '0')}\n`);
      assert.equal(r.replicaTxid, r.txid);
      assert.ok(r.lagMs >= 0);
    } finally {
      await r.close();
    }
    // Resumed from the -txid file, then caught up with what was written meanwhile.
    const db = new Database(src);
    db.exec("INSERT INTO u VALUES ('c', 3)");
    db.close();
    const want = contents(src);
    assert.equal(cli('replicate', '-once', src, replica).code, 0);
    const again = await followReplica({ client, outputPath: out, intervalMs: 20 });
    try {
      await again.waitFor(replicaTxid(replica));
      assert.deepEqual(contents(out), want);
    } finally {
      await again.close();
    }
  });

  it('bridges L0 files removed by retention with the compaction that holds them, then continues in L0', async () => {
    const src = join(tmp, 'bridge-src.db');
    const replica = join(tmp, 'bridge-replica');
    const out = join(tmp, 'bridge-follower.db');
    const write = (sql: string): void => {
      const db = new Database(src);
      db.pragma('journal_mode = WAL');
      db.exec(sql);
      db.close();
      const r = cli('replicate', '-once', src, replica);
      assert.equal(r.code, 0, r.stderr);
    };
    write('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (0)');
    const client = new FileReplicaClient(replica);
    const first = await followReplica({ client, outputPath: out, intervalMs: 20 });
    const stoppedAt = first.txid;
    await first.close();
    for (let i = 1; i <= 4; i++) write(`INSERT INTO t (v) VALUES (${i})`);
    // What compaction and L0 retention leave: one L1 file for three missed TXIDs, their L0 files gone.
    const l0 = join(replica, 'ltx', '0');
    const missed = readdirSync(l0).filter((n) => BigInt(`0x${n.slice(0, 16)}`) > stoppedAt).sort().slice(0, 3);
    assert.equal(missed.length, 3);
    const sink = new MemorySink();
    await compactLtx(missed.map((n) => ({ source: new MemorySource(readFileSync(join(l0, n))), name: n })), sink, { headerFlags: HEADER_FLAG_NO_CHECKSUM });
    mkdirSync(join(replica, 'ltx', '1'), { recursive: true });
    writeFileSync(join(replica, 'ltx', '1', `${missed[0]!.slice(0, 16)}-${missed[2]!.slice(17, 33)}.ltx`), sink.bytes());
    for (const n of missed) rmSync(join(l0, n));
    const again = await followReplica({ client, outputPath: out, intervalMs: 20 });
    const files: string[] = [];
    again.on('applied', (e: AppliedEvent) => files.push(e.file));
    try {
      await again.waitFor(replicaTxid(replica));
      assert.deepEqual(contents(out), contents(src));
      assert.match(files[0]!, /^ltx\/1\//);
      assert.match(files.at(-1)!, /^ltx\/0\//);
    } finally {
      await again.close();
    }
  });

  it('a damaged file on the replica: no crash without an error listener, lastError says why, the database stays as it was', async () => {
    const src = join(tmp, 'damaged-src.db');
    const replica = join(tmp, 'damaged-replica');
    const out = join(tmp, 'damaged-follower.db');
    const db = new Database(src);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (1)');
    db.close();
    assert.equal(cli('replicate', '-once', src, replica).code, 0);
    const r = await followReplica({ client: new FileReplicaClient(replica), outputPath: out, intervalMs: 20 });
    try {
      const before = contents(out);
      const next = r.txid + 1n;
      const name = `${next.toString(16).padStart(16, '0')}-${next.toString(16).padStart(16, '0')}.ltx`;
      writeFileSync(join(replica, 'ltx', '0', name), Buffer.alloc(300, 7));
      const pending = r.waitFor(next);
      await until('the failure to be seen', () => r.lastError !== undefined);
      assert.match(String((r.lastError as Error).message), /.+/);
      assert.equal(r.txid, next - 1n);
      assert.deepEqual(contents(out), before);
      await r.close();
      await assert.rejects(pending, (err: unknown) => err instanceof ReadReplicaError && /closed before it reached TXID/.test(err.message));
    } finally {
      await r.close();
    }
  });

  it('refuses to resume a database without a -txid file, and leaves it alone', async () => {
    const out = join(tmp, 'stray.db');
    writeFileSync(out, 'not ours');
    await assert.rejects(followReplica({ client: new FileReplicaClient(join(tmp, 'replica')), outputPath: out }), (err: unknown) => {
      assert.ok(err instanceof ReadReplicaError);
      assert.match(err.message, /stray\.db-txid does not, so its TXID is unknown/);
      return true;
    });
    assert.equal(readFileSync(out, 'utf8'), 'not ours');
  });
});

describe('restore -f under a live writer, with the follower killed (SIGKILL) at random moments', () => {
  let tmp = '';
  const children: ChildProcess[] = [];
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'tidemark-follow-kill-'));
  });
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });

  const start = (...args: string[]): ChildProcess => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    Object.defineProperty(c, 'log', { get: () => err });
    children.push(c);
    return c;
  };

  it('a reader checking an invariant over two tables never sees it broken, and the follower ends equal to the source', async () => {
    const random = seededRandom(SEED);
    const note = `seed ${SEED} (TIDEMARK_FOLLOW_SEED=${SEED} to replay)`;
    const src = join(tmp, 'src.db');
    const replica = join(tmp, 'replica');
    const out = join(tmp, 'follower.db');
    const db = new Database(src);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE a (id INTEGER PRIMARY KEY, v INTEGER NOT NULL); CREATE TABLE b (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)');
    db.exec('INSERT INTO a (v) VALUES (0); INSERT INTO b (v) VALUES (0)');
    const replicator = start('replicate', '-sync-interval', '50ms', src, replica);
    await until('the first upload', () => existsSync(join(replica, 'ltx', '0')) && replicaTxid(replica) > 0n);

    // The invariant every committed state keeps: as many rows in a as in b, and the sums cancel.
    let k = 0;
    const transfer = db.transaction(() => {
      k++;
      db.prepare('INSERT INTO a (v) VALUES (?)').run(k);
      db.prepare('INSERT INTO b (v) VALUES (?)').run(-k);
      const id = 1 + Math.floor(random() * k);
      db.prepare('UPDATE a SET v = v + 7 WHERE id = ?').run(id);
      db.prepare('UPDATE b SET v = v - 7 WHERE id = ?').run(id);
    });
    let writing = true;
    let reading = true;
    try {
      const writer = (async () => {
        while (writing) {
          transfer();
          await sleep(2 + Math.floor(random() * 6));
        }
      })();
      // A broken invariant ends the test at once rather than when the reader is next awaited.
      let readerFailed: unknown;

      let follower = start('restore', '-f', '-follow-interval', '30ms', '-o', out, replica);
      await until('the follower database', () => existsSync(out) && existsSync(out + '-txid'));

      // The reader: its own connection, one read transaction per check, as an application would read.
      let reader: Database.Database | undefined;
      let checks = 0;
      let busy = 0;
      const counts = new Set<number>();
      const readerLoop = (async () => {
        while (reading && readerFailed === undefined) {
          try {
            reader ??= new Database(out, { timeout: 2000, fileMustExist: true });
            const r = reader.transaction(() => ({
              na: (reader!.prepare('SELECT count(*) AS n FROM a').get() as { n: number }).n,
              nb: (reader!.prepare('SELECT count(*) AS n FROM b').get() as { n: number }).n,
              sa: (reader!.prepare('SELECT total(v) AS s FROM a').get() as { s: number }).s,
              sb: (reader!.prepare('SELECT total(v) AS s FROM b').get() as { s: number }).s,
            }))();
            assert.equal(r.na, r.nb, `rows in a and b differ: ${JSON.stringify(r)}; ${note}`);
            assert.equal(r.sa + r.sb, 0, `sums do not cancel: ${JSON.stringify(r)}; ${note}`);
            counts.add(r.na);
            checks++;
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            // The follower held its lock longer than the timeout: not a wrong answer, only a late one.
            if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) busy++;
            else throw err;
          }
          await sleep(5);
        }
      })().catch((err: unknown) => {
        readerFailed = err;
        throw err;
      });
      const failFast = (): void => {
        if (readerFailed !== undefined) throw readerFailed;
      };

      const kills = 5;
      for (let i = 0; i < kills; i++) {
        await sleep(150 + Math.floor(random() * 500));
        follower.kill('SIGKILL');
        await once(follower, 'exit');
        await sleep(Math.floor(random() * 100));
        follower = start('restore', '-f', '-follow-interval', '30ms', '-o', out, replica);
        failFast();
      }
      await sleep(300);
      failFast();

      writing = false;
      await writer;
      const want = contents(src);
      db.close();
      // A clean stop uploads everything the database holds.
      replicator.kill('SIGTERM');
      await once(replicator, 'exit');
      assert.equal(replicator.exitCode, 0, (replicator as unknown as { log: string }).log);
      const last = replicaTxid(replica);
      await until(`the follower to reach TXID ${last}`, () => {
        try {
          return BigInt(`0x${readFileSync(out + '-txid', 'utf8').trim()}`) >= last;
        } catch {
          return false;
        }
      });
      reading = false;
      await readerLoop;
      reader?.close();
      follower.kill('SIGTERM');
      await once(follower, 'exit');
      assert.equal(follower.exitCode, 0, (follower as unknown as { log: string }).log);
      assert.match((follower as unknown as { log: string }).log, /SIGTERM received: stopped at TXID/);

      assert.deepEqual(contents(out), want, note);
      assert.ok(checks > 20, `the reader checked ${checks} times (${busy} busy); ${note}`);
      assert.ok(counts.size > 3, `the reader saw ${counts.size} distinct states; ${note}`);
      assert.equal(existsSync(out + '-journal'), false);
      assert.equal(existsSync(out + '-wal'), false, 'readers never put the follower database in WAL mode');
    } finally {
      writing = false;
      reading = false;
    }
  });
});
