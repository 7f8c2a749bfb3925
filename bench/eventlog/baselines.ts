/**
 * What the event log is measured against in the same run:
 * - the machine's limit: a synchronous write + fdatasync loop of the same
 *   bytes per sync as the log wrote (appending to a file, and overwriting a
 *   preallocated one);
 * - better-sqlite3 in WAL mode with synchronous=FULL, one transaction per
 *   group of waiting events. It is given the same event objects, made the
 *   same way, as the log is, so that neither side is charged for making the
 *   other's input.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SignalEvent } from '../../src/eventlog/index.js';
import { Samples, type RateResult } from './stats.js';

/** The event both systems are given for id `id`. */
export function benchEvent(id: bigint): SignalEvent {
  return { entityId: id, signalType: Number(id & 0xffn), weight: 0.5, timestampNanos: id * 1000n };
}

const PREALLOCATED_BYTES = 256 * 1024 * 1024;

export interface RawResult extends RateResult {
  bytesPerSync: number;
  eventsPerSync: number;
  syncsPerSec: number;
}

/** Write `bytesPerSync` bytes and fdatasync, in a loop, for `ms`; each sync carries `eventsPerSync` events. */
export function rawSyncLoop(bytesPerSync: number, eventsPerSync: number, ms: number, preallocated: boolean): RawResult {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-raw-'));
  const fd = openSync(join(dir, 'raw.bin'), 'w');
  try {
    const data = Buffer.alloc(Math.max(1, Math.round(bytesPerSync)), 0x5a);
    if (preallocated) {
      const zeros = Buffer.alloc(8 * 1024 * 1024);
      for (let pos = 0; pos < PREALLOCATED_BYTES; pos += zeros.length) writeSync(fd, zeros, 0, zeros.length, pos);
      fdatasyncSync(fd);
    }
    const samples = new Samples(1 << 20);
    let pos = 0;
    let syncs = 0;
    const start = performance.now();
    const end = start + ms;
    let now = start;
    while (now < end) {
      if (preallocated && pos + data.length > PREALLOCATED_BYTES) pos = 0;
      writeSync(fd, data, 0, data.length, preallocated ? pos : null);
      pos += data.length;
      fdatasyncSync(fd);
      const t = performance.now();
      samples.add(t - now);
      now = t;
      syncs++;
    }
    const secs = (now - start) / 1000;
    return {
      eventsPerSec: (syncs * eventsPerSync) / secs,
      syncsPerSec: syncs / secs,
      p50Ms: samples.quantile(0.5),
      p99Ms: samples.quantile(0.99),
      bytesPerSync: data.length,
      eventsPerSync,
    };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SqliteResult extends RateResult {
  groupSize: number;
  sqliteVersion: string;
}

interface Statement {
  run(...params: unknown[]): unknown;
}
interface Database {
  pragma(source: string): unknown;
  exec(source: string): unknown;
  prepare(source: string): Statement & { get(): unknown };
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  close(): void;
}
type DatabaseConstructor = new (path: string) => Database;

/** Loads better-sqlite3 if it is installed; null otherwise (the comparison is then reported as unavailable). */
export async function loadSqlite(): Promise<DatabaseConstructor | null> {
  try {
    const mod = (await import('better-sqlite3')) as unknown as { default: DatabaseConstructor };
    return mod.default;
  } catch {
    return null;
  }
}

/**
 * Inserts events in transactions of `groupSize` rows for `ms`; every event of
 * a group waits for the group's commit, so each commit's duration is the
 * latency of each of its events.
 */
export function sqliteGroups(Database: DatabaseConstructor, groupSize: number, ms: number): SqliteResult {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-sqlite-'));
  const db = new Database(join(dir, 'events.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(
      'CREATE TABLE events (seq INTEGER PRIMARY KEY, entity_id INTEGER NOT NULL, signal_type INTEGER NOT NULL, ' +
        'weight REAL NOT NULL, timestamp_nanos INTEGER NOT NULL)',
    );
    const version = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    const insert = db.prepare('INSERT INTO events (entity_id, signal_type, weight, timestamp_nanos) VALUES (?, ?, ?, ?)');
    const commitGroup = db.transaction((n: number, base: bigint) => {
      for (let i = 0; i < n; i++) {
        const e = benchEvent(base + BigInt(i));
        insert.run(e.entityId, e.signalType, e.weight, e.timestampNanos);
      }
    });
    const samples = new Samples(1 << 20);
    let events = 0;
    let next = 1n;
    const start = performance.now();
    const end = start + ms;
    let now = start;
    while (now < end) {
      commitGroup(groupSize, next);
      next += BigInt(groupSize);
      const t = performance.now();
      samples.add(t - now);
      now = t;
      events += groupSize;
    }
    return {
      eventsPerSec: events / ((now - start) / 1000),
      p50Ms: samples.quantile(0.5),
      p99Ms: samples.quantile(0.99),
      groupSize,
      sqliteVersion: version,
    };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
