import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MemorySource } from '../../src/ltx/byte-source.js';
import { MemorySink } from '../../src/ltx/byte-sink.js';
import { compactLtx } from '../../src/ltx/compactor.js';
import { restore } from '../../src/restore/restore.js';
import { RestoreTargetUnavailableError } from '../../src/restore/errors.js';
import type { FileReplicaClient } from '../../src/storage/file-replica-client.js';
import { encodeLtx, makeReplica, makeTempDir, putLtx, T0, type PageImage } from './replica-fixtures.js';

const PAGE_SIZE = 1024;

/** One committed state of the database: TXID k is the k-th state. */
interface State {
  txid: bigint;
  bytes: Uint8Array;
  timestamp: number;
}

function pageOf(db: Uint8Array, pgno: number): Uint8Array {
  return db.subarray((pgno - 1) * PAGE_SIZE, pgno * PAGE_SIZE);
}

function pageCount(db: Uint8Array): number {
  return db.length / PAGE_SIZE;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Every page of a state: what a snapshot or the TXID-1 file holds. */
function allPages(s: State): PageImage[] {
  const out: PageImage[] = [];
  for (let p = 1; p <= pageCount(s.bytes); p++) out.push({ pgno: p, data: pageOf(s.bytes, p) });
  return out;
}

/** The pages that differ from the previous state (or are new), as an L0 file from the WAL would hold them. */
function changedPages(prev: State, next: State): PageImage[] {
  const out: PageImage[] = [];
  for (let p = 1; p <= pageCount(next.bytes); p++) {
    const data = pageOf(next.bytes, p);
    if (p > pageCount(prev.bytes) || !equalBytes(data, pageOf(prev.bytes, p))) out.push({ pgno: p, data });
  }
  return out;
}

function l0File(states: State[], k: number): Promise<Uint8Array> {
  const s = states[k - 1]!;
  return encodeLtx({
    pageSize: PAGE_SIZE,
    commit: pageCount(s.bytes),
    minTxid: s.txid,
    maxTxid: s.txid,
    timestamp: s.timestamp,
    pages: k === 1 ? allPages(s) : changedPages(states[k - 2]!, s),
  });
}

/** Runs a workload against a rollback-journal database and keeps the file after each commit. */
async function buildHistory(path: string): Promise<State[]> {
  const db = new Database(path);
  db.pragma(`page_size = ${PAGE_SIZE}`);
  db.pragma('journal_mode = DELETE');
  const steps: string[] = [
    `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
     INSERT INTO t SELECT i, printf('row %d %s', i, hex(randomblob(40))), NULL FROM n;`,
    `WITH RECURSIVE n(i) AS (SELECT 201 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
     INSERT INTO t SELECT i, printf('row %d %s', i, hex(randomblob(60))), NULL FROM n;`,
    `UPDATE t SET v = upper(v) WHERE id % 7 = 0;`,
    `CREATE INDEX t_v ON t (v); UPDATE t SET b = randomblob(3000) WHERE id % 50 = 0;`,
    `DELETE FROM t WHERE id > 120; DROP INDEX t_v;`,
    `VACUUM;`,
    `INSERT INTO t (v) VALUES ('after vacuum'), ('again');`,
  ];
  const states: State[] = [];
  for (const [i, sql] of steps.entries()) {
    db.exec(sql);
    const txid = BigInt(i + 1);
    states.push({ txid, bytes: new Uint8Array(await readFile(path)), timestamp: T0 + (i + 1) * 1000 });
  }
  db.close();
  return states;
}

describe('restore of a real SQLite database', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let states: State[];
  let l0: Uint8Array[];
  let out = 0;
  const output = (): string => join(dir, `out-${out++}.db`);

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('restore-sqlite'));
    states = await buildHistory(join(dir, 'source.db'));
    l0 = [];
    for (let k = 1; k <= states.length; k++) l0.push(await l0File(states, k));
  });
  after(() => cleanup());

  async function restoredBytes(client: FileReplicaClient, opts: { txid?: bigint; timestamp?: Date } = {}): Promise<Uint8Array> {
    const outputPath = output();
    await restore({ client, outputPath, integrityCheck: 'full', ...opts });
    return new Uint8Array(await readFile(outputPath));
  }

  it('the workload grows, changes and shrinks the file', () => {
    const pages = states.map((s) => pageCount(s.bytes));
    assert.ok(pages[1]! > pages[0]!, 'inserts grow the database');
    assert.ok(pages[5]! < pages[4]!, 'VACUUM shrinks it');
    assert.ok(changedPages(states[1]!, states[2]!).length < pages[2]!, 'an update touches only some pages');
  });

  describe('L0 files only', () => {
    let client: FileReplicaClient;
    before(async () => {
      client = await makeReplica(dir, 'l0');
      for (const f of l0) await putLtx(client, 0, f);
    });

    it('restores every TXID to the exact bytes of that state', async () => {
      for (const s of states) {
        const outputPath = output();
        const r = await restore({ client, outputPath, txid: s.txid, integrityCheck: 'full' });
        assert.equal(r.txid, s.txid);
        assert.equal(r.pageSize, PAGE_SIZE);
        assert.equal(r.pageCount, pageCount(s.bytes));
        assert.equal(r.bytes, s.bytes.length);
        assert.equal(r.files, Number(s.txid));
        assert.ok(equalBytes(new Uint8Array(await readFile(outputPath)), s.bytes), `TXID ${s.txid}`);
      }
    });

    it('restores the latest state without a target', async () => {
      assert.ok(equalBytes(await restoredBytes(client), states.at(-1)!.bytes));
    });

    it('restores by timestamp to the last state committed before it', async () => {
      for (const s of states) {
        const between = new Date(s.timestamp + 500);
        assert.ok(equalBytes(await restoredBytes(client, { timestamp: between }), s.bytes), `just after TXID ${s.txid}`);
      }
      // At the exact creation time of state 4, state 4 is not yet included.
      assert.ok(equalBytes(await restoredBytes(client, { timestamp: new Date(states[3]!.timestamp) }), states[2]!.bytes));
    });

    it('the restored database opens and reads', async () => {
      const outputPath = output();
      await restore({ client, outputPath });
      const db = new Database(outputPath, { readonly: true });
      try {
        assert.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 122);
        assert.equal((db.prepare('SELECT v FROM t WHERE id = 121').get() as { v: string }).v, 'after vacuum');
      } finally {
        db.close();
      }
    });
  });

  describe('with compactions and snapshots', () => {
    it('an L1 compaction replaces L0 files that were removed', async () => {
      const client = await makeReplica(dir, 'compacted');
      for (const f of l0) await putLtx(client, 0, f);
      const sink = new MemorySink();
      await compactLtx(
        [2, 3, 4, 5].map((k) => ({ source: new MemorySource(l0[k - 1]!), name: `L0 ${k}` })),
        sink,
      );
      const l1 = await putLtx(client, 1, sink.bytes());
      assert.equal(l1.minTxid, 2n);
      assert.equal(l1.maxTxid, 5n);
      const gone = [];
      for await (const f of client.ltxFiles(0)) if (f.minTxid >= 2n && f.minTxid <= 4n) gone.push(f);
      await client.deleteLtxFiles(gone);

      assert.ok(equalBytes(await restoredBytes(client), states.at(-1)!.bytes));
      for (const k of [1, 5, 6, 7]) {
        assert.ok(equalBytes(await restoredBytes(client, { txid: BigInt(k) }), states[k - 1]!.bytes), `TXID ${k}`);
      }
      await assert.rejects(restore({ client, outputPath: output(), txid: 3n }), (err: unknown) => {
        assert.ok(err instanceof RestoreTargetUnavailableError);
        assert.equal(err.restorableTxid, 1n);
        return true;
      });
    });

    it('a level-9 snapshot followed by L0 files', async () => {
      const client = await makeReplica(dir, 'snapshot');
      const s3 = states[2]!;
      await putLtx(
        client,
        9,
        await encodeLtx({ pageSize: PAGE_SIZE, commit: pageCount(s3.bytes), minTxid: 1n, maxTxid: 3n, timestamp: s3.timestamp, pages: allPages(s3) }),
      );
      for (let k = 4; k <= states.length; k++) await putLtx(client, 0, l0[k - 1]!);

      for (let k = 3; k <= states.length; k++) {
        assert.ok(equalBytes(await restoredBytes(client, { txid: BigInt(k) }), states[k - 1]!.bytes), `TXID ${k}`);
      }
      const r = await restore({ client, outputPath: output() });
      assert.equal(r.files, 1 + states.length - 3);
      await assert.rejects(restore({ client, outputPath: output(), txid: 2n }), RestoreTargetUnavailableError);
    });
  });
});
