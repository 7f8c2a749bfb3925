import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AtomicFileSink } from '../io/atomic-file.js';
import type { ByteSink } from '../ltx/byte-sink.js';
import { HEADER_SIZE } from '../ltx/constants.js';
import { restoreDatabase, type DecodeDatabaseResult } from '../ltx/database.js';
import { LtxTruncatedError } from '../ltx/errors.js';
import { formatFilename, formatTxid } from '../ltx/file-name.js';
import { FileReplicaClient } from '../storage/file-replica-client.js';
import type { LtxFileInfo, ReplicaClient } from '../storage/replica-client.js';
import { canReadV03, toV03Reader } from '../storage/v03-reader.js';
import { CoalescingSink } from './coalescing-sink.js';
import { NoBackupsError, RestoreError, RestoreIntegrityError, RestoreOptionsError } from './errors.js';
import { FetchLimiter } from './fetch-limiter.js';
import { checkDatabaseIntegrity, INTEGRITY_CHECK_MODES, type IntegrityCheckMode } from './integrity-check.js';
import { ltxFileStream } from './ltx-file-stream.js';
import { checkOutputReplaceable, ensureOutputDir, outputOccupant, removeSidecars } from './output-path.js';
import { calcRestorePlan, checkRestoreTarget, type RestorePlan, type RestorePlanGap } from './plan.js';
import { ReadAheadSource } from './read-ahead-source.js';
import { chooseRestoreFormat } from './v03/choose-format.js';
import { counted } from './counted-stream.js';
import { V03RestoreError } from './v03/errors.js';
import { calcV03RestorePlan, type V03RestorePlan } from './v03/plan.js';
import { writeV03Image, type V03RestoreSummary } from './v03/write-image.js';

/** Replica requests in flight at once while fetching the plan's files. */
export const DEFAULT_RESTORE_PARALLELISM = 8;
/**
 * Read-ahead shared by all of the plan's files. Memory is bounded by this
 * plus, per file, the decoder's buffer and one chunk, whatever the database
 * size.
 */
export const RESTORE_READ_AHEAD_BYTES = 32 * 1024 * 1024;
/** Every file reads at least this far ahead, however many files the plan has. */
const MIN_READ_AHEAD_PER_FILE = 64 * 1024;
/** Beyond this, reading further ahead of the merge gains nothing. */
const MAX_READ_AHEAD_PER_FILE = 4 * 1024 * 1024;
/** The database image is written in pieces of this size rather than page by page. */
export const RESTORE_WRITE_SIZE = 1024 * 1024;

export interface RestoreOptions {
  client: ReplicaClient;
  /** Where the database goes. Nothing may exist there yet. */
  outputPath: string;
  /** Restore the database as of exactly this TXID (default: the latest). */
  txid?: bigint;
  /**
   * Restore the database from the files created strictly before this moment
   * (for Litestream v0.3 backups: the objects created at or before it, as
   * v0.3 does).
   */
  timestamp?: Date;
  /** Replica requests in flight at once (default DEFAULT_RESTORE_PARALLELISM), for LTX files and v0.3 WAL segments alike. */
  parallelism?: number;
  /** When the output path exists, skip instead of failing. */
  ifDbNotExists?: boolean;
  /** Check the rebuilt database with SQLite before it is put in place (default 'none', as Litestream). */
  integrityCheck?: IntegrityCheckMode;
  /** How the replica is named in error messages (a URL, say); defaults to its path or backend type. */
  replicaName?: string;
  /**
   * Replace a database already at the output path, and its `-wal`, `-shm` and
   * `-journal` files. The old database stays in place until the new one is
   * complete and durable; a directory is never replaced. Without it only an
   * empty file is replaced, as Litestream does.
   */
  force?: boolean;
  /** Called as the plan's files are fetched and the database is written (LTX restores). */
  onProgress?: (progress: RestoreProgress) => void;
  /** Aborting stops the restore; nothing is left at the output path or in its temporary file. */
  signal?: AbortSignal;
}

/** How far a restore has got. */
export interface RestoreProgress {
  /** Bytes of the plan's files read from the replica so far. */
  bytesFetched: number;
  /** Bytes of all the plan's files, as the replica lists them. */
  bytesToFetch: number;
  /** Database pages written so far. */
  pagesWritten: number;
  /** Database bytes written so far. */
  bytesWritten: number;
}

/**
 * A restore that happened. `restore()` and `restoreIfMissing()` both answer
 * with this or with RestoreSkipped, told apart by `restored`.
 */
export interface RestoreResult {
  restored: true;
  /** Absolute path of the restored database. */
  outputPath: string;
  /**
   * What the database was rebuilt from: LTX files, or backups Litestream
   * v0.3 left on the replica (chosen as Litestream v0.5 does when no TXID is
   * asked for; see shouldUseV03Restore).
   */
  format: 'ltx' | 'v0.3';
  /** The TXID the database was restored to; 0 for a v0.3 backup, which has no TXIDs. */
  txid: bigint;
  pageSize: number;
  /** Database size in pages. */
  pageCount: number;
  /** Bytes written: pageCount × pageSize. */
  bytes: number;
  /** LTX files merged, or v0.3 objects read (the snapshot and the WAL segments). */
  files: number;
  durationMs: number;
  /** For a v0.3 restore: the generation, snapshot and WAL position it reached. */
  v03?: V03RestoreSummary;
  /**
   * For a timestamp restore that stopped at a break in the replica's files
   * (see RestorePlan.gap): the database is the newest state that could be
   * built from before the time, older than some files from before it.
   */
  gap?: RestorePlanGap;
}

/** Why a restore did not happen, although the call succeeded. */
export type RestoreSkipReason =
  /** `ifDbNotExists` was set and something was already at the output path; nothing was touched. */
  | 'output-exists'
  /** restoreIfMissing only: the replica is empty (a first start). */
  | 'no-backups';

/** A call that succeeded without restoring anything; nothing at the output path was touched. */
export interface RestoreSkipped {
  restored: false;
  reason: RestoreSkipReason;
  /** Absolute path of the database that was not restored. */
  outputPath: string;
}

/**
 * Rebuilds a database from a replica at the latest TXID, a given TXID or a
 * point in time. Plans the files (calcRestorePlan), fetches them in parallel
 * with bounded read-ahead, merges them page by page into `<output>.tmp`,
 * optionally checks the result with SQLite, then fsyncs it and renames it into
 * place. A restore that fails or is aborted leaves neither the output nor the
 * temporary file behind.
 *
 * A replica that also holds backups in the Litestream v0.3 layout (or only
 * those) is restored from them when no TXID is asked for and they are the
 * better ones (shouldUseV03Restore): the snapshot, then each WAL index
 * checkpointed into it in turn (docs/litestream-v03.md).
 *
 * Refuses when the output path exists, and also when a `-wal` or `-journal`
 * file sits beside it: SQLite would replay that leftover into the restored
 * database. The output is checked again just before the rename; a file
 * created at the path in the moment between that check and the rename
 * would be replaced.
 */
export function restore(opts: RestoreOptions & { ifDbNotExists?: false }): Promise<RestoreResult>;
export function restore(opts: RestoreOptions): Promise<RestoreResult | RestoreSkipped>;
export async function restore(opts: RestoreOptions): Promise<RestoreResult | RestoreSkipped> {
  const started = performance.now();
  const { client, signal } = opts;
  const parallelism = opts.parallelism ?? DEFAULT_RESTORE_PARALLELISM;
  const integrityCheck = opts.integrityCheck ?? 'none';
  checkOptions(opts, parallelism, integrityCheck);
  const outputPath = resolve(opts.outputPath);

  const force = opts.force === true;

  signal?.throwIfAborted();
  if ((await outputOccupant(outputPath)) !== 'none' && opts.ifDbNotExists === true) return { restored: false, reason: 'output-exists', outputPath };
  await checkOutputReplaceable(outputPath, force);

  const source = await planRestore({ ...opts, client });
  if (source.format === 'ltx') for (const f of source.plan.files) checkListedSize(f);
  await ensureOutputDir(outputPath);

  const sink = await AtomicFileSink.create(outputPath);
  try {
    const image = await writeSource(client, source, sink, { parallelism, replica: replicaName(client, opts), onProgress: opts.onProgress, signal });
    if (integrityCheck !== 'none') {
      const problems = await checkDatabaseIntegrity(sink.tmpPath, integrityCheck);
      if (problems.length > 0) throw new RestoreIntegrityError(outputPath, integrityCheck === 'quick' ? 'quick_check' : 'integrity_check', problems);
    }
    signal?.throwIfAborted();
    if ((await outputOccupant(outputPath)) !== 'none' && opts.ifDbNotExists === true) {
      await sink.abort();
      return { restored: false, reason: 'output-exists', outputPath };
    }
    try {
      await checkOutputReplaceable(outputPath, force);
    } catch (err) {
      await sink.abort();
      throw err;
    }
    // The journals go before the rename: a WAL left beside the new database would be replayed into it.
    await removeSidecars(outputPath);
    await sink.commit();
    const gap = source.format === 'ltx' ? source.plan.gap : undefined;
    return { restored: true, outputPath, format: source.format, ...image, durationMs: performance.now() - started, ...(gap === undefined ? {} : { gap }) };
  } catch (err) {
    await sink.abort();
    if (signal?.aborted === true) throw signal.reason;
    throw err;
  }
}

/** What a database is rebuilt from: an LTX plan, or a v0.3 plan when the replica's v0.3 backups are the better ones. */
export type RestoreSourcePlan = { format: 'ltx'; plan: RestorePlan } | { format: 'v0.3'; plan: V03RestorePlan };

/**
 * What restore() would fetch for these options, without writing anything:
 * the format it would choose and its plan (`restore -dry-run`). Throws what
 * restore() would for an empty replica or an unreachable target.
 */
export async function planRestore(
  opts: Pick<RestoreOptions, 'client' | 'txid' | 'timestamp' | 'replicaName' | 'signal'>,
): Promise<RestoreSourcePlan> {
  const { client, signal } = opts;
  checkRestoreTarget(opts);
  await client.init(signal);
  // Litestream considers v0.3 backups only for a restore to the latest state or a time, never to a TXID.
  if (opts.txid === undefined && canReadV03(client)) {
    const choice = await chooseRestoreFormat(client, { timestamp: opts.timestamp, signal });
    if (choice.format === 'v0.3') {
      return { format: 'v0.3', plan: calcV03RestorePlan(choice.v03, { timestamp: opts.timestamp, replicaName: replicaName(client, opts) }) };
    }
  }
  try {
    const plan = await calcRestorePlan(client, { txid: opts.txid, timestamp: opts.timestamp, replicaName: opts.replicaName, signal });
    return { format: 'ltx', plan };
  } catch (err) {
    if (err instanceof NoBackupsError && opts.txid !== undefined && canReadV03(client) && (await toV03Reader(client).v03Generations(signal)).length > 0) {
      throw new V03RestoreError(
        `${replicaName(client, opts)} holds only Litestream v0.3 backups, which have no TXIDs: restore the latest state or a point in time instead`,
        { cause: err },
      );
    }
    throw err;
  }
}

type ImageFacts = Pick<RestoreResult, 'txid' | 'pageSize' | 'pageCount' | 'bytes' | 'files' | 'v03'>;

interface WriteOptions {
  parallelism: number;
  replica: string;
  onProgress: ((progress: RestoreProgress) => void) | undefined;
  signal: AbortSignal | undefined;
}

async function writeSource(client: ReplicaClient, source: RestoreSourcePlan, sink: AtomicFileSink, opts: WriteOptions): Promise<ImageFacts> {
  const { parallelism, replica, signal } = opts;
  if (source.format === 'ltx') {
    const merged = await writeImage(client, source.plan, sink, opts);
    return { txid: source.plan.txid, pageSize: merged.header.pageSize, pageCount: merged.header.commit, bytes: merged.size, files: source.plan.files.length };
  }
  if (!canReadV03(client)) throw new RestoreError(`${client.type} replica cannot read v0.3 backups`);
  const image = await writeV03Image(client, source.plan, sink.tmpPath, { name: (key) => `${replica}/${key}`, parallelism, signal, onProgress: opts.onProgress });
  return {
    txid: 0n,
    pageSize: image.pageSize,
    pageCount: image.pageCount,
    bytes: image.bytes,
    files: 1 + image.summary.segments,
    v03: image.summary,
  };
}

/** How errors name the replica: the name given, else a directory replica's path, else its backend. */
function replicaName(client: ReplicaClient, opts: Pick<RestoreOptions, 'replicaName'>): string {
  if (opts.replicaName !== undefined) return opts.replicaName;
  return client instanceof FileReplicaClient ? client.root : `${client.type} replica`;
}

function checkOptions(opts: RestoreOptions, parallelism: number, integrityCheck: IntegrityCheckMode): void {
  if (typeof opts.outputPath !== 'string' || opts.outputPath === '') throw new RestoreOptionsError('an output path is required');
  if (opts.outputPath.includes('\0')) throw new RestoreOptionsError('the output path contains a NUL byte');
  if (!Number.isSafeInteger(parallelism) || parallelism < 1) {
    throw new RestoreOptionsError(`invalid parallelism ${String(parallelism)}: expected a positive integer`);
  }
  if (!INTEGRITY_CHECK_MODES.includes(integrityCheck)) {
    throw new RestoreOptionsError(`invalid integrity check ${JSON.stringify(integrityCheck)}: expected one of ${INTEGRITY_CHECK_MODES.join(', ')}`);
  }
  checkRestoreTarget(opts);
}

/** Anything shorter than a header cannot be an LTX file; saying so up front beats failing mid-merge. */
function checkListedSize(f: LtxFileInfo): void {
  if (f.size < HEADER_SIZE) {
    throw new LtxTruncatedError(`invalid LTX file: the replica lists it as ${f.size} bytes, less than the ${HEADER_SIZE}-byte header`, {
      file: inputName(f),
    });
  }
}

function inputName(f: LtxFileInfo): string {
  return `ltx/${f.level}/${formatFilename(f.minTxid, f.maxTxid)}`;
}

/** Fetches and merges the plan's files into the sink; on return or failure every stream is closed. */
async function writeImage(client: ReplicaClient, plan: RestorePlan, sink: AtomicFileSink, opts: WriteOptions): Promise<DecodeDatabaseResult> {
  const { parallelism, signal, onProgress } = opts;
  // One signal for every stream, fired by the caller's abort or by a failure
  // here, so that no fetch outlives the restore.
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const limiter = new FetchLimiter(parallelism);
  const perFile = Math.min(MAX_READ_AHEAD_PER_FILE, Math.max(MIN_READ_AHEAD_PER_FILE, Math.floor(RESTORE_READ_AHEAD_BYTES / plan.files.length)));
  const progress: RestoreProgress = { bytesFetched: 0, bytesToFetch: plan.files.reduce((n, f) => n + f.size, 0), pagesWritten: 0, bytesWritten: 0 };
  const stream = (f: LtxFileInfo): AsyncIterable<Uint8Array> => {
    const chunks = ltxFileStream(client, f, { signal: controller.signal });
    return onProgress === undefined ? chunks : counted(chunks, (n) => {
      progress.bytesFetched += n;
      onProgress({ ...progress });
    });
  };
  const sources = plan.files.map((f) => new ReadAheadSource(stream(f), limiter, perFile));
  try {
    const out = new CoalescingSink(sink, RESTORE_WRITE_SIZE);
    // The merge writes one page per call.
    const pages: ByteSink = {
      write: (page) => {
        progress.pagesWritten++;
        progress.bytesWritten += page.length;
        return out.write(page);
      },
    };
    const merged = await restoreDatabase(
      plan.files.map((f, i) => ({ source: sources[i]!, name: inputName(f) })),
      pages,
    );
    await out.flush();
    onProgress?.({ ...progress });
    if (merged.header.minTxid !== 1n || merged.header.maxTxid !== plan.txid) {
      throw new RestoreError(
        `the merged files cover TXIDs ${formatTxid(merged.header.minTxid)}-${formatTxid(merged.header.maxTxid)}, not 0000000000000001-${formatTxid(plan.txid)} as planned`,
      );
    }
    return merged;
  } finally {
    controller.abort();
    await Promise.all(sources.map((s) => s.close()));
    signal?.removeEventListener('abort', onAbort);
  }
}
