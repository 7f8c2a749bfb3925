// Time travel on a replica the real Litestream v0.5.16 wrote (testdata/litestream-v0.5): at every TXID,
// every table reads as in the database restore builds, which is byte-identical to Litestream's own
// restore (test/restore/litestream-v05-golden.test.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { restore } from '../../../src/restore/restore.js';
import { openTimeTravel, type TimeTravelDatabase } from '../../../src/restore/time-travel/time-travel.js';
import { FileReplicaClient } from '../../../src/storage/file-replica-client.js';
import { TESTDATA } from '../../helpers/testdata.js';
import { makeTempDir } from '../replica-fixtures.js';

const V05 = join(TESTDATA, 'litestream-v0.5');
const MANIFEST = JSON.parse(readFileSync(join(V05, 'manifest.json'), 'utf8')) as Record<string, { rows_in_t: number }>;
const TXIDS = Object.keys(MANIFEST).sort();

function dumpWithSqlite(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true });
  try {
    const out: Record<string, unknown[]> = {};
    for (const { name } of db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]) {
      out[name] = (db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all() as Record<string, unknown>[]).map(plain);
    }
    return out;
  } finally {
    db.close();
  }
}

async function dumpWithTimeTravel(tt: TimeTravelDatabase): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const { name } of await tt.query<{ name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")) {
    out[name] = (await tt.query(`SELECT * FROM "${name}" ORDER BY rowid`)).map(plain);
  }
  return out;
}

function plain(r: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]));
}

describe('time travel on a replica written by Litestream v0.5.16', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const client = new FileReplicaClient(join(V05, 'replica'));
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('time-travel-litestream'));
  });
  after(() => cleanup());

  it(`reads every table as restore builds it, at each of its ${TXIDS.length} TXIDs, through one view`, async () => {
    const tt = await openTimeTravel(client);
    try {
      // Newest first, then oldest: the view moves both ways.
      for (const key of [...TXIDS].reverse()) {
        const txid = BigInt(`0x${key}`);
        const out = join(dir, `${key}.db`);
        await restore({ client, outputPath: out, txid });
        await tt.setTime({ txid });
        const got = await dumpWithTimeTravel(tt);
        assert.deepEqual(got, dumpWithSqlite(out), `TXID ${key}`);
        assert.equal(got['t']?.length, MANIFEST[key]!.rows_in_t, `TXID ${key}: rows in t`);
        assert.deepEqual(await tt.query('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
      }
    } finally {
      await tt.close();
    }
  });
});
