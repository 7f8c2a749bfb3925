import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeLtx } from '../../src/ltx/decoder.js';
import { parseFilename } from '../../src/ltx/file-name.js';
import { lockPgno } from '../../src/ltx/constants.js';
import type { DecodedLtxHeader } from '../../src/ltx/header.js';

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-repl-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The application's own connection: WAL mode, no busy wait, auto-checkpoint off so only the test decides. */
export function openAppDb(path: string, pageSize = 4096): Database.Database {
  const db = new Database(path, { timeout: 0 });
  db.pragma(`page_size = ${pageSize}`);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  return db;
}

export interface LogicalDump {
  schema: string[];
  rows: Record<string, string[]>;
}

function cell(v: unknown): string {
  if (Buffer.isBuffer(v)) return `x'${v.toString('hex')}'`;
  if (typeof v === 'bigint') return `${v}n`;
  return JSON.stringify(v);
}

/** Schema and every row of every user table, in rowid order: what a restore must reproduce. */
export function logicalDump(db: Database.Database): LogicalDump {
  const objects = db
    .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
    .all() as { type: string; name: string; sql: string | null }[];
  const rows: Record<string, string[]> = {};
  for (const o of objects) {
    if (o.type !== 'table' || o.name.startsWith('_litestream_')) continue;
    const all = db.prepare(`SELECT rowid AS __rowid, * FROM "${o.name}" ORDER BY rowid`).raw().all() as unknown[][];
    rows[o.name] = all.map((r) => r.map(cell).join('|'));
  }
  return { schema: objects.map((o) => `${o.type}:${o.name}:${o.sql ?? ''}`), rows };
}

export interface ReplicaFile {
  txid: bigint;
  path: string;
}

/** The replica's L0 files, in TXID order. */
export async function replicaL0(replicaRoot: string): Promise<ReplicaFile[]> {
  const dir = join(replicaRoot, 'ltx', '0');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: ReplicaFile[] = [];
  for (const name of names) {
    const p = parseFilename(name);
    if (p !== null) out.push({ txid: p.maxTxid, path: join(dir, name) });
  }
  return out.sort((a, b) => (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : 0));
}

/** Decodes a file strictly (index, order, checksums, name) and returns its header and pages. */
export async function readLtxStrict(path: string): Promise<{ header: DecodedLtxHeader; pages: { pgno: number; data: Uint8Array }[] }> {
  const bytes = await readFile(path);
  const d = await decodeLtx(bytes, { strict: true, file: path });
  return { header: d.header, pages: d.pages };
}

/**
 * Rebuilds a database file by applying the replica's L0 files 1..upto in
 * order: each page at (pgno-1)*pageSize, then truncation to commit pages. The
 * files must be contiguous from TXID 1.
 */
export async function rebuildFromReplica(replicaRoot: string, upto: bigint): Promise<Buffer> {
  const files = (await replicaL0(replicaRoot)).filter((f) => f.txid <= upto);
  if (files.length === 0) throw new Error('replica has no L0 files');
  let db = Buffer.alloc(0);
  let expect = 1n;
  for (const f of files) {
    if (f.txid !== expect) throw new Error(`replica L0 gap: expected TXID ${expect}, found ${f.txid}`);
    expect++;
    const { header, pages } = await readLtxStrict(f.path);
    const ps = header.pageSize;
    const size = header.commit * ps;
    if (db.length !== size) {
      const next = Buffer.alloc(size);
      db.copy(next, 0, 0, Math.min(db.length, size));
      db = next;
    }
    for (const p of pages) Buffer.from(p.data.buffer, p.data.byteOffset, p.data.length).copy(db, (p.pgno - 1) * ps);
    const lock = lockPgno(ps);
    if (lock <= header.commit) db.fill(0, (lock - 1) * ps, lock * ps);
  }
  if (expect - 1n !== upto) throw new Error(`replica ends at TXID ${expect - 1n}, wanted ${upto}`);
  return db;
}

let seq = 0;

/** Opens database bytes in a scratch file and returns their logical dump and integrity_check verdict. */
export async function inspectBytes(dir: string, bytes: Uint8Array): Promise<{ dump: LogicalDump; integrity: string }> {
  const path = join(dir, `rebuilt-${seq++}.db`);
  await writeFile(path, bytes);
  const db = new Database(path);
  try {
    const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join(';');
    return { dump: logicalDump(db), integrity };
  } finally {
    db.close();
    await rm(path, { force: true });
    await rm(`${path}-wal`, { force: true });
    await rm(`${path}-shm`, { force: true });
  }
}

/** Every L0 file under a directory decodes strictly. */
export async function assertAllStrict(dir: string): Promise<number> {
  let n = 0;
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (parseFilename(name) === null) continue;
    await readLtxStrict(join(dir, name));
    n++;
  }
  return n;
}
