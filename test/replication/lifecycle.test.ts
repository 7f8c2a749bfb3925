import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { restore } from '../../src/restore/restore.js';
import { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { BIN, ROOT } from '../cli/helpers.js';
import { withTempDir } from './helpers.js';

const run = promisify(execFile);
/** The Debian sqlite3 shell: Litestream's getting-started guide writes with it, one process per statement. */
const SQLITE3 = '/usr/bin/sqlite3';
const SYNC_INTERVAL = '100ms';
/** Long enough for a few syncs and the upload after them. */
const SETTLE_MS = 1500;
const STOP_TIMEOUT_MS = 20_000;
/** How long the back-to-back writer writes. */
const BUSY_WRITER_MS = 4000;
/** Generations of the WAL the test must see: the replicator must let it restart, again and again. */
const MIN_GENERATIONS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Daemon {
  proc: ChildProcess;
  stderr(): string;
}

/** `tidemark replicate` as a user runs it, up once it logs that it replicates. */
async function startDaemon(args: string[]): Promise<Daemon> {
  assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build first`);
  const proc = spawn(process.execPath, [BIN, 'replicate', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const upBy = Date.now() + STOP_TIMEOUT_MS;
  while (!err.includes('msg=replicating') && Date.now() < upBy && proc.exitCode === null) await sleep(10);
  assert.ok(err.includes('msg=replicating'), `the daemon did not start: ${err}`);
  return { proc, stderr: () => err };
}

/** SIGTERM, then the exit code; the daemon must end on its own after its final sync. */
async function stopDaemon(d: Daemon): Promise<number | null> {
  const exited = new Promise<number | null>((res) => d.proc.on('exit', (code) => res(code)));
  d.proc.kill('SIGTERM');
  const timer = setTimeout(() => d.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

async function shell(db: string, sql: string): Promise<void> {
  await run(SQLITE3, [db, sql]);
}

/** The replica restored with the CLI, as Litestream's guide does it, then read. */
async function restoreRows(dir: string, replica: string, name: string, table = 't'): Promise<number[]> {
  const out = join(dir, `${name}.db`);
  await run(process.execPath, [BIN, 'restore', '-o', out, '-integrity-check', 'full', replica]);
  const db = new Database(out, { readonly: true });
  try {
    return (db.prepare(`SELECT x FROM ${table} ORDER BY x`).pluck().all() as number[]).map(Number);
  } finally {
    db.close();
  }
}

/** A child process that writes rows and exits, as a deploy or a cron job does. */
async function appProcess(db: string, from: number, count: number, perTx: number, pauseMs: number): Promise<void> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(db)}, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    const ins = db.prepare('INSERT INTO t (x) VALUES (?)');
    let x = ${from};
    const end = ${from + count};
    (async () => {
      while (x < end) {
        db.transaction(() => { for (let i = 0; i < ${perTx} && x < end; i++) ins.run(x++); })();
        await new Promise((r) => setTimeout(r, ${pauseMs}));
      }
      db.close();
    })();`;
  await run(process.execPath, ['-e', script], { cwd: ROOT });
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('replication through real application lifecycles', () => {
  it("Litestream's getting-started flow: the sqlite3 shell inserts, one process per row, while replicate runs", async () => {
    await withTempDir(async (dir) => {
      const db = join(dir, 'fruits.db');
      const replica = join(dir, 'replica');
      await shell(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);');
      const d = await startDaemon(['-sync-interval', SYNC_INTERVAL, db, replica]);
      for (let i = 1; i <= 10; i++) {
        await shell(db, `INSERT INTO t (x) VALUES (${i});`);
        await sleep(50);
      }
      await sleep(SETTLE_MS);
      // While it still runs: every row is already on the replica.
      assert.deepEqual(await restoreRows(dir, replica, 'while-running'), range(1, 11), d.stderr());
      assert.equal(await stopDaemon(d), 0, d.stderr());
      assert.doesNotMatch(d.stderr(), /level=ERROR/, 'no sync ever failed');
      assert.deepEqual(await restoreRows(dir, replica, 'after-stop'), range(1, 11));
    });
  });

  it('an application that exits while the daemon keeps running, and a new one that starts later', async () => {
    await withTempDir(async (dir) => {
      const db = join(dir, 'app.db');
      const replica = join(dir, 'replica');
      await shell(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);');
      const d = await startDaemon(['-sync-interval', SYNC_INTERVAL, db, replica]);
      await appProcess(db, 0, 300, 7, 5);
      await sleep(SETTLE_MS);
      assert.deepEqual(await restoreRows(dir, replica, 'first-app'), range(0, 300), 'the first application\'s last commit is on the replica');
      await sleep(500);
      await appProcess(db, 300, 300, 13, 2);
      await sleep(SETTLE_MS);
      assert.deepEqual(await restoreRows(dir, replica, 'second-app'), range(0, 600));
      assert.equal(await stopDaemon(d), 0, d.stderr());
      assert.doesNotMatch(d.stderr(), /level=ERROR/);
    });
  });

  it('a better-sqlite3 writer that closes and reopens its database between bursts', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'app.db');
      const replica = join(dir, 'replica');
      const setup = new Database(path);
      setup.pragma('journal_mode = WAL');
      setup.exec('CREATE TABLE t (x INTEGER)');
      setup.close();
      const d = await startDaemon(['-sync-interval', SYNC_INTERVAL, path, replica]);
      let x = 0;
      for (let burst = 0; burst < 6; burst++) {
        const app = new Database(path, { timeout: 5000 });
        const ins = app.prepare('INSERT INTO t (x) VALUES (?)');
        for (let t = 0; t < 20; t++) app.transaction(() => { for (let i = 0; i < 5; i++) ins.run(x++); })();
        if (burst % 2 === 1) app.pragma('wal_checkpoint(TRUNCATE)');
        app.close();
        await sleep(150);
      }
      await sleep(SETTLE_MS);
      assert.deepEqual(await restoreRows(dir, replica, 'bursts'), range(0, x));
      assert.equal(await stopDaemon(d), 0, d.stderr());
      assert.doesNotMatch(d.stderr(), /level=ERROR/);
    });
  });

  it('a store of two databases fed by sqlite3 shell writers', async () => {
    await withTempDir(async (dir) => {
      const dbs = ['a', 'b'].map((n) => join(dir, `${n}.db`));
      for (const db of dbs) await shell(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);');
      const config = join(dir, 'litestream.yml');
      await writeFile(
        config,
        ['dbs:', ...dbs.flatMap((db, i) => [`  - path: ${db}`, `    monitor-interval: ${SYNC_INTERVAL}`, '    replica:', `      path: ${join(dir, `replica-${i}`)}`])].join('\n') + '\n',
      );
      const d = await startDaemon(['-config', config]);
      for (let i = 1; i <= 8; i++) {
        await shell(dbs[0]!, `INSERT INTO t (x) VALUES (${i});`);
        await shell(dbs[1]!, `INSERT INTO t (x) VALUES (${100 + i});`);
      }
      await sleep(SETTLE_MS);
      assert.equal(await stopDaemon(d), 0, d.stderr());
      assert.doesNotMatch(d.stderr(), /level=ERROR/);
      assert.deepEqual(await restoreRows(dir, join(dir, 'replica-0'), 'a-restored'), range(1, 9));
      assert.deepEqual(await restoreRows(dir, join(dir, 'replica-1'), 'b-restored'), range(101, 109));
    });
  });

  it('starts on a database whose WAL was deleted by its last close, and on one whose WAL header is still zero', async () => {
    await withTempDir(async (dir) => {
      for (const kind of ['deleted', 'zero-header'] as const) {
        const db = join(dir, `${kind}.db`);
        const replica = join(dir, `replica-${kind}`);
        await shell(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);');
        assert.equal(existsSync(`${db}-wal`), false, 'the shell checkpointed and deleted the WAL on close');
        if (kind === 'zero-header') await writeFile(`${db}-wal`, new Uint8Array(4096));
        const d = await startDaemon(['-sync-interval', SYNC_INTERVAL, db, replica]);
        await shell(db, 'INSERT INTO t VALUES (3);');
        await sleep(SETTLE_MS);
        assert.equal(await stopDaemon(d), 0, d.stderr());
        assert.doesNotMatch(d.stderr(), /level=ERROR/, d.stderr());
        assert.deepEqual(await restoreRows(dir, replica, `${kind}-restored`), [1, 2, 3]);
      }
    });
  });
});

describe('replicate -once', () => {
  it('replicates a database whose last application has closed it', async () => {
    await withTempDir(async (dir) => {
      const db = join(dir, 'app.db');
      const replica = join(dir, 'replica');
      await shell(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
      await run(process.execPath, [BIN, 'replicate', '-once', db, replica]);
      await shell(db, 'INSERT INTO t VALUES (2);');
      await run(process.execPath, [BIN, 'replicate', '-once', db, replica]);
      assert.deepEqual(await restoreRows(dir, replica, 'once'), [1, 2]);
      // Nothing changed: the database still matches the saved model, so no file is written.
      const before = await restore({ client: new FileReplicaClient(replica), outputPath: join(dir, 'txid-check.db') });
      await run(process.execPath, [BIN, 'replicate', '-once', db, replica]);
      const after = await restore({ client: new FileReplicaClient(replica), outputPath: join(dir, 'txid-check-2.db') });
      assert.equal(after.txid, before.txid);
    });
  });
});

describe('tidemark status while replicate runs', () => {
  it('names the running replicator and shows its last check, a divergence and how it was healed', async () => {
    await withTempDir(async (dir) => {
      const db = join(dir, 'app.db');
      const replica = join(dir, 'replica');
      await shell(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
      const config = join(dir, 'litestream.yml');
      await writeFile(config, ['validation:', '  interval: 200ms', 'dbs:', `  - path: ${db}`, `    monitor-interval: ${SYNC_INTERVAL}`, '    replica:', `      path: ${replica}`].join('\n') + '\n');
      const d = await startDaemon(['-config', config]);
      try {
        const status = async (): Promise<Record<string, unknown>> => {
          const { stdout } = await run(process.execPath, [BIN, 'status', '-config', config, '-offline', '-json']);
          return (JSON.parse(stdout) as Record<string, unknown>[])[0]!;
        };
        const until = async (what: string, cond: (s: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
          const deadline = Date.now() + STOP_TIMEOUT_MS;
          for (;;) {
            const s = await status();
            if (cond(s)) return s;
            assert.ok(Date.now() < deadline, `timed out waiting until ${what}: ${JSON.stringify(s)}`);
            await sleep(50);
          }
        };
        const first = await until('a check has run', (s) => s['last_check'] !== null);
        assert.deepEqual((first['replicator'] as { pid: number }).pid, d.proc.pid);
        assert.equal((first['last_check'] as { ok: boolean }).ok, true);
        // The daemon may write into the replica while it is removed (an upload, or the heal itself),
        // which makes one pass of a recursive rm fail with ENOTEMPTY: retry as rm -rf would.
        await rm(replica, { recursive: true, maxRetries: 20, retryDelay: 10 });
        // The check after the heal may already be back to ok: the divergence stays on record.
        const diverged = await until('the deletion is found', (s) => (s['last_check'] as { last_divergence?: unknown }).last_divergence !== undefined);
        const check = (diverged['last_check'] as { last_divergence: { problems: string[]; healed_by: string } }).last_divergence;
        assert.match(check.problems.join(' '), /cannot be restored/);
        assert.match(check.healed_by, /^snapshot 1-/);
        const { stdout: table } = await run(process.execPath, [BIN, 'status', '-config', config, '-offline']);
        assert.match(table, new RegExp(`pid ${d.proc.pid} on \\S+`));
        await until('the replica is right again', (s) => (s['last_check'] as { ok: boolean }).ok === true);
        assert.deepEqual(await restoreRows(dir, replica, 'healed'), [1]);
      } finally {
        assert.equal(await stopDaemon(d), 0, d.stderr());
      }
      assert.match(d.stderr(), /level=ERROR msg="the replica diverged from the database"/, 'the divergence is logged as one error');
    });
  });
});

/** The salts in a WAL's header, which change at every restart; '' while there is none. */
async function walSalts(path: string): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const b = Buffer.alloc(8);
      const { bytesRead } = await fh.read(b, 0, 8, 16);
      return bytesRead === 8 ? b.toString('hex') : '';
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

describe('a writer that commits back to back', () => {
  it('keeps restarting its own WAL while replicate runs, and the replica ends equal to the database', async () => {
    await withTempDir(async (dir) => {
      const db = join(dir, 'busy.db');
      const replica = join(dir, 'replica');
      await shell(db, 'PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);');
      const d = await startDaemon([db, replica]);
      try {
        // The application keeps SQLite's automatic checkpoint (1000 pages) and never pauses.
        const writer = spawn(
          process.execPath,
          [
            '-e',
            `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(db)}, { timeout: 5000 });
             const ins = db.prepare('INSERT INTO t (x) VALUES (?)'); const end = Date.now() + ${BUSY_WRITER_MS}; let x = 0;
             while (Date.now() < end) ins.run(x++); db.close(); console.log(x);`,
          ],
          { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        writer.stdout!.on('data', (b: Buffer) => (out += b.toString()));
        const generations = new Set<string>();
        const exited = new Promise<number | null>((res) => writer.on('exit', res));
        let done = false;
        void exited.then(() => (done = true));
        while (!done) {
          const head = await walSalts(`${db}-wal`);
          if (head !== '') generations.add(head);
          await sleep(20);
        }
        assert.equal(await exited, 0);
        const rows = Number(out.trim());
        assert.ok(rows > 1000, `the writer committed ${rows} rows`);
        assert.ok(generations.size >= MIN_GENERATIONS, `the WAL restarted under the writer: ${generations.size} generations seen`);
        await sleep(SETTLE_MS);
        assert.deepEqual(await restoreRows(dir, replica, 'busy-restored'), range(0, rows));
      } finally {
        assert.equal(await stopDaemon(d), 0, d.stderr());
      }
    });
  });
});
