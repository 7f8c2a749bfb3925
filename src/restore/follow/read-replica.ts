import { EventEmitter } from 'node:events';
import { readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { writeFileAtomic } from '../../io/atomic-file.js';
import { fsyncDir, isErrno } from '../../io/durable-fs.js';
import { decodeLtx } from '../../ltx/decoder.js';
import { formatFilename, formatTxid, parseTxid } from '../../ltx/file-name.js';
import type { LtxFileInfo, ReplicaClient } from '../../storage/replica-client.js';
import { RestoreError } from '../errors.js';
import { ltxFileStream } from '../ltx-file-stream.js';
import { pathExists } from '../output-path.js';
import { SNAPSHOT_LEVEL } from '../plan.js';
import { restore } from '../restore.js';
import { DatabasePageWriter } from './database-page-writer.js';

/** How often a follower looks for new files on the replica, as Litestream's `-follow-interval`. */
export const DEFAULT_FOLLOW_INTERVAL_MS = 1000;
/** Suffix of the file beside the database that holds the TXID it is at, as Litestream names it. */
export const TXID_FILE_SUFFIX = '-txid';
/**
 * When L0 holds nothing new, how often the higher levels are still searched
 * for a file that continues from the current TXID (L0 files removed by
 * retention before the follower saw them). L0 is listed at every look.
 */
export const HIGHER_LEVEL_SEARCH_INTERVAL_MS = 60_000;
/** Where the first restore is built before it is put in place. */
const RESTORING_SUFFIX = '.restoring';

export interface ReadReplicaOptions {
  client: ReplicaClient;
  /** The database to keep current. Restored first if missing; resumed from its `-txid` file if present. */
  outputPath: string;
  /** Time between looks at the replica (default DEFAULT_FOLLOW_INTERVAL_MS). */
  intervalMs?: number;
  /** How long an apply waits for readers to finish their transactions (default 30 s). */
  lockTimeoutMs?: number;
}

/** One step forward: the TXIDs applied and the file they came from. */
export interface AppliedEvent {
  fromTxid: bigint;
  txid: bigint;
  /** The LTX file applied, as `ltx/<level>/<name>`. */
  file: string;
  /** When that TXID was committed on the primary (the file's header timestamp). */
  committedAt: Date;
}

export class ReadReplicaError extends RestoreError {
  override name = 'ReadReplicaError';
}

function txidPath(outputPath: string): string {
  return outputPath + TXID_FILE_SUFFIX;
}

async function readTxidFile(outputPath: string): Promise<bigint | undefined> {
  let text: string;
  try {
    text = await readFile(txidPath(outputPath), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  const txid = parseTxid(text.trim());
  if (txid === null) throw new ReadReplicaError(`${txidPath(outputPath)}: not a TXID (${JSON.stringify(text.trim().slice(0, 40))})`);
  return txid;
}

async function writeTxidFile(outputPath: string, txid: bigint): Promise<void> {
  await writeFileAtomic(txidPath(outputPath), (sink) => sink.write(new TextEncoder().encode(`${formatTxid(txid)}\n`)));
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

/**
 * A database kept current from a replica, for reading: `restore -f` as a
 * library. Each LTX file is applied as one transaction under SQLite's own
 * lock with a rollback journal (DatabasePageWriter), so readers see each TXID
 * whole, and a follower killed at any moment resumes from the TXID in its
 * `-txid` file (a file applied again is the same state).
 *
 * Readers open the database as usual; the follower keeps it a
 * rollback-journal database. A reader that opens it read-only cannot play
 * back the journal of a follower that died midway (SQLITE_READONLY_ROLLBACK)
 * until the follower restarts or a read-write connection opens it. Events:
 * `applied` (AppliedEvent) and `error` (an apply or a listing failed; the
 * next look tries again; also kept as `lastError`). Like a server, it keeps
 * the process running until `close()`; waits still pending then reject.
 */
export class ReadReplica extends EventEmitter {
  private current: bigint;
  private newest: bigint;
  private committedAt: Date | undefined;
  private checkedAt = Date.now();
  private searchedLevelsAt = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<{ txid: bigint; resolve: () => void; reject: (err: unknown) => void }>();
  private failure: unknown;

  private constructor(
    readonly client: ReplicaClient,
    readonly outputPath: string,
    private readonly writer: DatabasePageWriter,
    txid: bigint,
    private readonly intervalMs: number,
  ) {
    super();
    this.current = txid;
    this.newest = txid;
  }

  /** Restores the database (or resumes following it) and starts following. */
  static async open(opts: ReadReplicaOptions): Promise<ReadReplica> {
    const outputPath = resolve(opts.outputPath);
    const intervalMs = opts.intervalMs ?? DEFAULT_FOLLOW_INTERVAL_MS;
    if (!(intervalMs > 0)) throw new ReadReplicaError(`invalid follow interval ${intervalMs} ms: must be longer than 0`);
    await opts.client.init();
    let txid: bigint;
    if (await pathExists(outputPath)) {
      const saved = await readTxidFile(outputPath);
      if (saved === undefined) {
        throw new ReadReplicaError(
          `cannot resume following ${outputPath}: it exists but ${txidPath(outputPath)} does not, so its TXID is unknown; remove the database to restore it again`,
        );
      }
      txid = saved;
    } else {
      txid = await restoreForFollowing(opts.client, outputPath);
    }
    const writer = await DatabasePageWriter.open(outputPath, opts.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: opts.lockTimeoutMs });
    const replica = new ReadReplica(opts.client, outputPath, writer, txid, intervalMs);
    replica.schedule(0);
    return replica;
  }

  /** The TXID the database is at. */
  get txid(): bigint {
    return this.current;
  }

  /** Why the last look at the replica failed, until one succeeds; undefined when the last one did. */
  get lastError(): unknown {
    return this.failure;
  }

  /** The newest TXID seen on the replica. */
  get replicaTxid(): bigint {
    return this.newest;
  }

  /**
   * How far behind the replica the database is, in milliseconds: since the
   * last look that found nothing newer when caught up, else since the newest
   * applied TXID was committed on the primary.
   */
  get lagMs(): number {
    if (this.current >= this.newest) return Date.now() - this.checkedAt;
    return this.committedAt === undefined ? Date.now() - this.checkedAt : Date.now() - this.committedAt.getTime();
  }

  /** Resolves once the database is at `txid` or later. */
  waitFor(txid: bigint, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.current >= txid) return Promise.resolve();
    if (this.closed) return Promise.reject(new ReadReplicaError(`read replica of ${this.outputPath} is closed`));
    return new Promise((resolvePromise, reject) => {
      const waiter = {
        txid,
        resolve: () => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolvePromise();
        },
        reject: (err: unknown) => {
          opts.signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(opts.signal?.reason);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Looks at the replica now and applies what is new; resolves with the TXID reached. */
  sync(): Promise<bigint> {
    const run = this.running.then(() => this.step());
    this.running = run.catch(() => undefined);
    return run.then(() => this.current);
  }

  /** Stops following; an apply in progress finishes first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.writer.close();
    for (const w of this.waiters) w.reject(new ReadReplicaError(`read replica of ${this.outputPath} closed before it reached TXID ${formatTxid(w.txid)}`));
    this.waiters.clear();
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.sync().then(
        () => this.schedule(this.intervalMs),
        (err: unknown) => {
          this.failure = err;
          // An EventEmitter throws an 'error' nobody listens for; the failure stays readable as lastError instead.
          if (!this.closed && this.listenerCount('error') > 0) this.emit('error', err);
          this.schedule(this.intervalMs);
        },
      );
    }, delayMs);
  }

  private async step(): Promise<void> {
    if (this.closed) return;
    for (;;) {
      const next = await this.nextFile();
      if (next === undefined) break;
      await this.applyFile(next);
      if (this.closed) return;
    }
    this.checkedAt = Date.now();
    this.failure = undefined;
  }

  /**
   * The file that continues from the current TXID: the first L0 file, or,
   * when L0 has none (compacted and removed), the file of a higher level
   * reaching furthest that starts at or before current+1, as Litestream
   * bridges such a gap.
   */
  private async nextFile(): Promise<LtxFileInfo | undefined> {
    const want = this.current + 1n;
    let first: LtxFileInfo | undefined;
    for await (const f of this.client.ltxFiles(0, want)) {
      if (f.maxTxid > this.newest) this.newest = f.maxTxid;
      first ??= f;
    }
    if (first !== undefined && first.minTxid === want) return first;
    // Nothing new in L0 is the idle case: the other levels are listed only now and then, not at every look.
    if (first === undefined && Date.now() - this.searchedLevelsAt < HIGHER_LEVEL_SEARCH_INTERVAL_MS) return undefined;
    this.searchedLevelsAt = Date.now();
    let best: LtxFileInfo | undefined;
    for (let level = 1; level <= SNAPSHOT_LEVEL; level++) {
      for await (const f of this.client.ltxFiles(level)) {
        if (f.maxTxid > this.newest) this.newest = f.maxTxid;
        if (f.minTxid <= want && f.maxTxid >= want && (best === undefined || f.maxTxid > best.maxTxid)) best = f;
      }
    }
    if (best !== undefined) return best;
    if (first !== undefined) {
      throw new ReadReplicaError(
        `replica has no file with TXID ${formatTxid(want)} (the database is at ${formatTxid(this.current)}; the next file is level 0 ${formatFilename(first.minTxid, first.maxTxid)}): restore again to continue`,
      );
    }
    return undefined;
  }

  private async applyFile(f: LtxFileInfo): Promise<void> {
    const name = `ltx/${f.level}/${formatFilename(f.minTxid, f.maxTxid)}`;
    const file = await decodeLtx(await readAll(ltxFileStream(this.client, f)));
    const h = file.header;
    if (h.minTxid > this.current + 1n || h.maxTxid <= this.current) {
      throw new ReadReplicaError(`${name}: covers TXIDs ${formatTxid(h.minTxid)}-${formatTxid(h.maxTxid)}, which do not continue from ${formatTxid(this.current)}`);
    }
    if (h.commit === 0) throw new ReadReplicaError(`${name}: the database was deleted on the primary; restore again to continue`);
    const pages = new Map<number, Uint8Array>();
    for (const p of file.pages) pages.set(p.pgno, p.data);
    await this.writer.apply({ pageSize: h.pageSize, commit: h.commit, pages });
    await writeTxidFile(this.outputPath, h.maxTxid);
    const fromTxid = this.current + 1n;
    this.current = h.maxTxid;
    if (this.current > this.newest) this.newest = this.current;
    this.committedAt = new Date(h.timestamp);
    const event: AppliedEvent = { fromTxid, txid: h.maxTxid, file: name, committedAt: this.committedAt };
    this.emit('applied', event);
    for (const w of [...this.waiters]) {
      if (this.current >= w.txid) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }
}

/**
 * The first restore: built beside the output, turned into a rollback-journal
 * database (so no reader ever opens it in WAL mode), then put in place with
 * its `-txid` file.
 */
async function restoreForFollowing(client: ReplicaClient, outputPath: string): Promise<bigint> {
  const building = join(dirname(outputPath), basename(outputPath) + RESTORING_SUFFIX);
  // What a follower killed during its first restore left behind.
  for (const s of ['', '.tmp', '-wal', '-shm', '-journal']) await rm(building + s, { force: true });
  const result = await restore({ client, outputPath: building });
  if (result.format !== 'ltx') {
    for (const s of ['', '-wal', '-shm']) await rm(building + s, { force: true });
    throw new ReadReplicaError('the replica holds only Litestream v0.3 backups, which cannot be followed (they have no TXIDs)');
  }
  const db = new Database(building);
  try {
    db.pragma('journal_mode = DELETE');
  } finally {
    db.close();
  }
  for (const s of ['-wal', '-shm']) await rm(building + s, { force: true });
  await writeTxidFile(outputPath, result.txid);
  await rename(building, outputPath);
  await fsyncDir(dirname(outputPath));
  return result.txid;
}

/** Opens a read replica: see ReadReplica. */
export function followReplica(opts: ReadReplicaOptions): Promise<ReadReplica> {
  return ReadReplica.open(opts);
}
