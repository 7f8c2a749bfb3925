// Time travel without a restore: a source database written by better-sqlite3
// under a seeded random workload, replicated by DbReplicator to a directory
// replica (with an L1 compaction and L0 retention on the way), then opened
// at many moments straight from the replica and compared, query by query,
// with `restore` at the same moments.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { compactLevel } from '../../../src/compaction/compact-level.js';
import { formatFilename } from '../../../src/ltx/file-name.js';
import { readPageMap } from '../../../src/ltx/random-access.js';
import { DbReplicator } from '../../../src/replication/db-replicator.js';
import { NoBackupsError, RestoreError, RestoreTargetUnavailableError } from '../../../src/restore/errors.js';
import { restore } from '../../../src/restore/restore.js';
import { openTimeTravel, TimeTravelError, type SqlRow, type TimeTravelDatabase } from '../../../src/restore/time-travel/time-travel.js';
import { seededRandom } from '../../../src/seeded-random.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import type { LtxFileInfo } from '../../../src/storage/replica-client.js';

/** Reproduces a run: TIDEMARK_TIME_TRAVEL_SEED=<seed>. */
const SEED = Number(process.env.TIDEMARK_TIME_TRAVEL_SEED ?? Math.floor(Math.random() * 2 ** 32));
const MOMENTS = 30;
const ROUNDS = 40;
/** L0 files up to this TXID are deleted after the L1 compaction at round 20. */
const RETIRED_TXIDS = 10n;

/** What a comparison reads from a database: the schema, every table in rowid order, and a query across two tables. */
const QUERIES = [
  "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
  'SELECT * FROM accounts ORDER BY id',
  'SELECT * FROM transfers ORDER BY id',
  'SELECT a.owner, COUNT(t.id) AS n, SUM(t.amount) AS total FROM accounts a LEFT JOIN transfers t ON t.src = a.id GROUP BY a.id ORDER BY a.id',
  "SELECT id, length(memo) AS len, hex(substr(memo, 1, 16)) AS head FROM transfers WHERE memo IS NOT NULL ORDER BY id",
];

/** Row values in one comparable form: blobs as hex, Buffers and Uint8Arrays alike. */
function normalise(rows: readonly Record<string, unknown>[]): unknown[] {
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Uint8Array ? `x'${Buffer.from(v).toString('hex')}'` : v])));
}

function readWithSqlite(path: string): unknown[][] {
  const db = new Database(path, { readonly: true });
  try {
    return QUERIES.map((q) => normalise(db.prepare(q).all() as Record<string, unknown>[]));
  } finally {
    db.close();
  }
}

async function readWithTimeTravel(tt: TimeTravelDatabase): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for (const q of QUERIES) out.push(normalise(await tt.query(q)));
  return out;
}

async function listAll(client: FileReplicaClient, level: number): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for await (const f of client.ltxFiles(level)) out.push(f);
  return out;
}

describe(`time travel from a directory replica (seed ${SEED})`, () => {
  let dir: string;
  let client: FileReplicaClient;
  let l0: LtxFileInfo[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-time-travel-'));
    const dbPath = join(dir, 'bank.db');
    const app = new Database(dbPath);
    app.pragma('journal_mode = wal');
    app.exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL);
      CREATE TABLE transfers (id INTEGER PRIMARY KEY, src INTEGER NOT NULL, dst INTEGER NOT NULL, amount INTEGER NOT NULL, memo BLOB);
      CREATE INDEX transfers_src ON transfers(src);`);
    client = new FileReplicaClient(join(dir, 'replica'));
    const replicator = await DbReplicator.open({ dbPath, client, syncIntervalMs: 60_000 });
    const rnd = seededRandom(SEED);
    const addAccount = app.prepare('INSERT INTO accounts (owner, balance) VALUES (?, ?)');
    const move = app.prepare('INSERT INTO transfers (src, dst, amount, memo) VALUES (?, ?, ?, ?)');
    const debit = app.prepare('UPDATE accounts SET balance = balance - ? WHERE id = ?');
    const credit = app.prepare('UPDATE accounts SET balance = balance + ? WHERE id = ?');
    try {
      for (let round = 0; round < ROUNDS; round++) {
        app.transaction(() => {
          const accounts = (app.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n;
          if (accounts < 2 || rnd() < 0.3) for (let i = 0; i < 1 + Math.floor(rnd() * 20); i++) addAccount.run(`owner-${round}-${i}`, 1000);
          const n = (app.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n;
          for (let i = 0; i < 1 + Math.floor(rnd() * 60); i++) {
            const src = 1 + Math.floor(rnd() * n);
            const dst = 1 + Math.floor(rnd() * n);
            const amount = 1 + Math.floor(rnd() * 50);
            // Some memos are large enough to spill onto overflow pages.
            const memo = rnd() < 0.2 ? Buffer.alloc(Math.floor(rnd() * 9000), round) : rnd() < 0.5 ? null : Buffer.from(`r${round}`);
            move.run(src, dst, amount, memo);
            debit.run(amount, src);
            credit.run(amount, dst);
          }
          if (rnd() < 0.15) app.prepare('DELETE FROM transfers WHERE id % 7 = ?').run(Math.floor(rnd() * 7));
        })();
        if (round === 25) app.exec('VACUUM'); // shrinks the file: later states have fewer pages than earlier ones
        await replicator.syncAndWait();
        // File times are kept to the millisecond: keep each round's file distinct in time.
        await sleep(3);
        if (round === 20) {
          const r = await compactLevel({ client, dstLevel: 1, now: Date.now() });
          assert.equal(r.status, 'compacted');
          // L0 retention: the oldest L0 files go, their TXIDs now only in the L1 file.
          await client.deleteLtxFiles((await listAll(client, 0)).filter((f) => f.maxTxid <= RETIRED_TXIDS));
        }
      }
    } finally {
      await replicator.close();
      app.close();
    }
    l0 = await listAll(client, 0);
    assert.ok(l0.length >= ROUNDS - Number(RETIRED_TXIDS), `${l0.length} L0 files`);
    assert.equal((await listAll(client, 1)).length, 1);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`equals restore -timestamp at ${MOMENTS} moments, query by query`, async () => {
    const rnd = seededRandom(SEED ^ 0x5eed);
    const l1 = (await listAll(client, 1))[0]!;
    // Moments after the L1 file was written can all be built (L1, then L0); before it, only
    // from L0 files that no longer start at TXID 1, which both paths must refuse alike.
    const buildable = l0.filter((f) => f.createdAt > l1.createdAt);
    const moments: Date[] = [new Date(l0[0]!.createdAt.getTime() + 1)];
    while (moments.length < MOMENTS) {
      const f = buildable[Math.floor(rnd() * buildable.length)]!;
      // At a file's own time the plan stops before it (strictly before); a millisecond later includes it.
      moments.push(new Date(f.createdAt.getTime() + (rnd() < 0.5 ? 0 : 1)));
    }
    moments.push(new Date(Date.now() + 60_000));
    const tt = await openTimeTravel(client, { timestamp: moments[1], cacheBytes: 64 * 4096 });
    try {
      let checked = 0;
      let refused = 0;
      for (const [i, at] of moments.entries()) {
        const out = join(dir, `restored-${i}.db`);
        let expected: unknown[][] | undefined;
        try {
          await restore({ client, outputPath: out, timestamp: at });
          expected = readWithSqlite(out);
        } catch (err) {
          assert.ok(err instanceof RestoreError, String(err));
          await assert.rejects(tt.setTime(at), (e: unknown) => e instanceof Error && e.constructor === err.constructor && e.message === err.message);
          refused++;
          continue;
        }
        await tt.setTime(at);
        assert.deepEqual(await readWithTimeTravel(tt), expected, `moment ${i}: ${at.toISOString()} (TXID ${tt.txid})`);
        const [fns] = await tt.query<SqlRow>('SELECT litestream_txid() AS txid, litestream_time() AS time');
        assert.equal(fns!.txid, tt.txid.toString(16).padStart(16, '0'));
        assert.equal(fns!.time, at.toISOString());
        checked++;
      }
      assert.equal(refused, 1, 'only the moment before the L1 file is refused');
      assert.equal(checked, MOMENTS, `${checked} moments compared`);
      const s = tt.stats();
      assert.ok(s.cachedBytes <= 64 * 4096, `cache holds ${s.cachedBytes} bytes`);
      assert.ok(s.cacheHits > 0 && s.pagesFetched > 0);
    } finally {
      await tt.close();
    }
  });

  it('equals restore -txid at every TXID, moving back and forth through one connection', async () => {
    const rnd = seededRandom(SEED + 1);
    const newest = l0[l0.length - 1]!.maxTxid;
    const l1 = (await listAll(client, 1))[0]!;
    const order = Array.from({ length: 16 }, () => 1n + BigInt(Math.floor(rnd() * Number(newest))));
    const tt = await openTimeTravel(client);
    try {
      for (const [i, txid] of order.entries()) {
        const out = join(dir, `restored-txid-${i}.db`);
        try {
          await restore({ client, outputPath: out, txid });
        } catch (err) {
          // TXIDs inside the L1 file whose L0 files retention removed are not reachable exactly.
          assert.ok(err instanceof RestoreTargetUnavailableError && txid < l1.maxTxid, String(err));
          await assert.rejects(tt.setTime({ txid }), RestoreTargetUnavailableError);
          continue;
        }
        await tt.setTime({ txid });
        assert.equal(tt.txid, txid);
        assert.deepEqual(await readWithTimeTravel(tt), readWithSqlite(out), `TXID ${txid}`);
      }
    } finally {
      await tt.close();
    }
  });

  it('answers a point lookup with a handful of pages and serves a repeat from the cache', async () => {
    const tt = await openTimeTravel(client);
    try {
      const before = tt.stats();
      const rows = await tt.query('SELECT id, owner FROM accounts WHERE id = ?', [2]);
      assert.equal(rows.length, 1);
      const lookup = tt.stats();
      const fetched = lookup.pagesFetched - before.pagesFetched;
      assert.ok(fetched > 0 && fetched <= 8 && fetched * 4 < tt.pageCount, `point lookup fetched ${fetched} of ${tt.pageCount} pages`);
      await tt.query('SELECT id, owner FROM accounts WHERE id = ?', [2]);
      const again = tt.stats();
      assert.equal(again.pagesFetched, lookup.pagesFetched, 'the repeat fetched nothing');
    } finally {
      await tt.close();
    }
  });

  it('keeps the cache within its bound through a scan, and read-ahead fetches runs of pages in fewer requests', async () => {
    // One large transaction: its pages sit in one L0 file, in page order.
    const dbPath = join(dir, 'scan.db');
    const app = new Database(dbPath);
    app.pragma('journal_mode = wal');
    app.exec('CREATE TABLE big (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const scanClient = new FileReplicaClient(join(dir, 'scan-replica'));
    const replicator = await DbReplicator.open({ dbPath, client: scanClient, syncIntervalMs: 60_000 });
    try {
      const ins = app.prepare('INSERT INTO big (body) VALUES (?)');
      app.transaction(() => {
        for (let i = 0; i < 2000; i++) ins.run(`row ${i} `.padEnd(500, String.fromCharCode(97 + (i % 26))));
      })();
      await replicator.syncAndWait();
    } finally {
      await replicator.close();
      app.close();
    }
    const pageSize = 4096;
    const plain = await openTimeTravel(scanClient, { cacheBytes: 8 * pageSize });
    const ahead = await openTimeTravel(scanClient, { cacheBytes: 64 * pageSize, readAheadPages: 32 });
    try {
      const sql = 'SELECT COUNT(*) AS n, SUM(length(body)) AS bytes, MAX(body) AS top FROM big';
      const expected = await plain.query(sql);
      assert.equal(expected[0]!.n, 2000);
      assert.deepEqual(await ahead.query(sql), expected);
      const p = plain.stats();
      const a = ahead.stats();
      assert.ok(p.cachedBytes <= 8 * pageSize && a.cachedBytes <= 64 * pageSize, `cached ${p.cachedBytes} and ${a.cachedBytes} bytes`);
      assert.ok(p.pagesFetched >= 200, `the scan fetched ${p.pagesFetched} pages`);
      assert.ok(a.pagesFetched <= p.pagesFetched + 32, `read-ahead fetched ${a.pagesFetched} pages, on demand ${p.pagesFetched}`);
      assert.ok(a.requests * 4 < p.requests, `read-ahead: ${a.requests} requests for ${a.pagesFetched} pages; without: ${p.requests} for ${p.pagesFetched}`);
    } finally {
      await plain.close();
      await ahead.close();
    }
  });

  it("takes litestream_set_time('... ago'), 'LATEST' and an RFC 3339 time in SQL, and refuses a bad one in one line", async () => {
    const tt = await openTimeTravel(client);
    try {
      const latest = tt.txid;
      const [{ n: latestCount }] = (await tt.query('SELECT COUNT(*) AS n FROM transfers')) as [{ n: number }];
      const first = l0.find((f) => f.minTxid === f.maxTxid && f.maxTxid > 22n) ?? l0[l0.length - 5]!;
      const rows = await tt.query(`SELECT litestream_set_time('${new Date(first.createdAt.getTime() + 1).toISOString()}'); SELECT litestream_txid() AS t`);
      assert.equal(rows[0]!.t, first.maxTxid.toString(16).padStart(16, '0'));
      assert.ok(tt.txid < latest);
      await tt.query("SELECT litestream_set_time('LATEST')");
      assert.equal(tt.txid, latest);
      assert.deepEqual(await tt.query('SELECT litestream_time() AS t, COUNT(*) AS n FROM transfers'), [{ t: 'latest', n: latestCount }]);
      await tt.query("SELECT litestream_set_time('1 second ago')");
      assert.ok(tt.target !== 'latest' && 'timestamp' in tt.target);
      const err = await tt.query("SELECT litestream_set_time('next tuesday')").then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof TimeTravelError);
      assert.match(err.message, /litestream_set_time: invalid time "next tuesday"/);
      assert.doesNotMatch(err.message, /\n/);
      await assert.rejects(tt.setTime('soon'), /invalid time "soon"/);
    } finally {
      await tt.close();
    }
    await assert.rejects(tt.query('SELECT 1'), /closed/);
  });

  it('at the latest state, picks up files written after it opened', async () => {
    const dbPath = join(dir, 'live.db');
    const app = new Database(dbPath);
    app.pragma('journal_mode = wal');
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const liveClient = new FileReplicaClient(join(dir, 'live-replica'));
    const replicator = await DbReplicator.open({ dbPath, client: liveClient, syncIntervalMs: 60_000 });
    try {
      app.prepare('INSERT INTO t (v) VALUES (?)').run('one');
      await replicator.syncAndWait();
      const tt = await openTimeTravel(liveClient, { pollIntervalMs: 0 });
      try {
        assert.deepEqual(await tt.query('SELECT v FROM t'), [{ v: 'one' }]);
        app.prepare('INSERT INTO t (v) VALUES (?)').run('two');
        const txid = await replicator.syncAndWait();
        assert.deepEqual(await tt.query('SELECT v FROM t ORDER BY id'), [{ v: 'one' }, { v: 'two' }]);
        assert.equal(tt.txid, txid);
        const [lag] = await tt.query<{ lag: number }>('SELECT litestream_lag() AS lag');
        assert.ok(lag!.lag >= 0 && lag!.lag <= 1);
      } finally {
        await tt.close();
      }
    } finally {
      await replicator.close();
      app.close();
    }
  });

  it('reports a replica file damaged after opening as a query error naming it, and unreachable targets as restore does', async () => {
    const copy = join(dir, 'damaged-replica');
    mkdirSync(copy);
    const src = new FileReplicaClient(copy);
    for (const level of [0, 1]) {
      for (const f of await listAll(client, level)) {
        const chunks: Uint8Array[] = [];
        for await (const c of await client.openLtxFile(f.level, f.minTxid, f.maxTxid)) chunks.push(c);
        await src.writeLtxFile(f.level, f.minTxid, f.maxTxid, (async function* () {
          yield Buffer.concat(chunks);
        })());
      }
    }
    const tt = await openTimeTravel(src, { cacheBytes: 0 });
    try {
      assert.equal((await tt.query('SELECT COUNT(*) AS n FROM accounts')).length, 1);
      // Overwrite every page frame (keeping header, size and page index) so any page read fails to decode.
      for (const level of [0, 1]) {
        const ldir = join(copy, 'ltx', String(level));
        for (const name of readdirSync(ldir)) {
          const p = join(ldir, name);
          const bytes = Buffer.from(await readAll(src, level, name));
          const map = await readPageMap({ size: bytes.length, readAt: async (o, n) => bytes.subarray(o, o + n) });
          for (const e of map.pages.values()) bytes.fill(0xff, e.offset, e.offset + e.size);
          writeFileSync(p, bytes);
        }
      }
      const err = await tt.query('SELECT * FROM transfers').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof TimeTravelError, String(err));
      assert.match(err.message, /reading the replica failed: .*\d{16}-\d{16}\.ltx/);
    } finally {
      await tt.close();
    }
    const empty = new FileReplicaClient(join(dir, 'empty-replica'));
    await assert.rejects(openTimeTravel(empty), NoBackupsError);
    await assert.rejects(openTimeTravel(client, { txid: 0xffff_ffffn }), RestoreTargetUnavailableError);
    await assert.rejects(openTimeTravel(client, { timestamp: new Date(l0[0]!.createdAt.getTime() - 3_600_000) }), RestoreTargetUnavailableError);
  });
});

async function readAll(client: FileReplicaClient, level: number, name: string): Promise<Uint8Array> {
  const min = BigInt(`0x${name.slice(0, 16)}`);
  const max = BigInt(`0x${name.slice(17, 33)}`);
  assert.equal(formatFilename(min, max), name);
  const chunks: Uint8Array[] = [];
  for await (const c of await client.openLtxFile(level, min, max)) chunks.push(c);
  return Buffer.concat(chunks);
}
