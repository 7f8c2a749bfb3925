/**
 * The public face of the event log: open (lock, recover, rebuild the dedup
 * window, start the writer), validated appends, checkpoint, truncation and
 * close. The mechanics live in writer.ts, segment-writer.ts and recovery.ts.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { removeStaleCheckpointTmp } from './checkpoint.js';
import { monotonicMs, wallClockNanos } from './clock.js';
import { DedupIndex } from './dedup.js';
import { fsyncDir } from '../io/durable-fs.js';
import { EventLogError } from './errors.js';
import { isValidEvent, validateEvent, type ReplayedEvent, type SignalEvent } from './event.js';
import { RECORD_SIZE } from './format.js';
import { DirectoryLock } from './lock.js';
import { resolveOptions, type EventLogOptions } from './options.js';
import { recover, type RecoveryReport } from './recovery.js';
import { SegmentWriter } from './segment-writer.js';
import { GroupCommitWriter, type EventLogStats } from './writer.js';

export type { EventLogStats };

/** Subdirectory of `dir` that holds the log's files. */
export const WAL_SUBDIR = 'wal';

export interface OpenResult {
  log: EventLog;
  /** Every event after the checkpoint, in sequence order (empty when `onReplay` was given). */
  replayed: ReplayedEvent[];
  /** What opening found and did. */
  recovery: RecoveryReport;
}


export class EventLog {
  private closing: Promise<void> | null = null;

  private constructor(
    /** The directory given to open (absolute). */
    readonly dir: string,
    /** `<dir>/wal`, where the files live. */
    readonly walDir: string,
    private readonly writer: GroupCommitWriter,
    private readonly lock: DirectoryLock,
  ) {}

  /**
   * Opens (creating if needed) the log in `options.dir`, recovers it and
   * returns it with the events after the checkpoint. Rejects with
   * EventLogLockedError if another EventLog has the directory open, and with
   * EventLogCorruptionError if the log is damaged beyond a torn tail (unless
   * `repair` is set).
   */
  static async open(options: EventLogOptions): Promise<OpenResult> {
    const cfg = resolveOptions(options);
    const dir = resolve(cfg.dir);
    const walDir = join(dir, WAL_SUBDIR);
    const created = await makeLogDir(dir, walDir);
    if (created !== undefined) {
      // Make every directory this call created durable in its parent.
      for (let d = walDir; ; d = dirname(d)) {
        await fsyncDir(dirname(d));
        if (d === created || dirname(d) === d) break;
      }
    }
    const lock = await DirectoryLock.acquire(walDir);
    try {
      await removeStaleCheckpointTmp(walDir);
      const nowMs = monotonicMs();
      const nowNanos = wallClockNanos();
      const dedup = new DedupIndex(cfg.dedupWindowMs, cfg.dedupMaxEntries, nowMs);
      const replayed: ReplayedEvent[] = [];
      const onReplay = cfg.onReplay ?? ((e: ReplayedEvent) => void replayed.push(e));
      const windowNanos = BigInt(Math.ceil(cfg.dedupWindowMs * 1e6));
      const result = await recover({
        walDir,
        shard: cfg.shard,
        region: cfg.region,
        repair: cfg.repair,
        onReplay,
        // Every batch still on disk that is inside the window feeds dedup,
        // including batches at or below the checkpoint.
        recentSinceNanos: dedup.enabled ? nowNanos - windowNanos : 1n << 64n,
        onRecentBatch: (view, offset, count, timestampNanos) => {
          const ageMs = Math.max(0, Number(nowNanos - timestampNanos) / 1e6);
          const acceptedAt = nowMs - ageMs;
          for (let k = 0; k < count; k++) dedup.remember(view, offset + k * RECORD_SIZE, acceptedAt, nowMs);
        },
      });
      const segments = await SegmentWriter.open(
        {
          walDir,
          shard: cfg.shard,
          region: cfg.region,
          segmentSize: cfg.segmentSize,
          syncMode: cfg.syncMode,
          preallocate: cfg.preallocate,
        },
        result.segments,
        result.active,
        result.discontinuity,
      );
      const writer = new GroupCommitWriter({
        walDir,
        limits: {
          capacity: cfg.queueCapacity,
          batchSize: cfg.batchSize,
          batchTimeoutMs: cfg.batchTimeoutMs,
          shard: cfg.shard,
          region: cfg.region,
        },
        segments,
        dedup,
        nextSeq: result.report.nextSeq,
        checkpoint: result.checkpoint,
      });
      return { log: new EventLog(dir, walDir, writer, lock), replayed, recovery: result.report };
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * Appends one event. Resolves to its sequence number once it is durable,
   * or to 0n when an identical event was accepted within the dedup window
   * (it is then not written; the promise settles once everything accepted
   * before it is durable). Waits while the queue is full.
   */
  append(event: SignalEvent): Promise<bigint> {
    if (!this.writer.isOpen) return this.writer.append(event);
    if (!isValidEvent(event)) {
      try {
        validateEvent(event, 'append');
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.writer.append(event);
  }

  /**
   * Appends several events in one call; resolves to their sequence numbers
   * (0n for duplicates) in input order once all are durable. Nothing is
   * appended if any event is invalid.
   */
  appendMany(events: readonly SignalEvent[]): Promise<bigint[]> {
    if (!this.writer.isOpen) return this.writer.appendMany(events);
    try {
      if (!Array.isArray(events)) throw new TypeError('appendMany: events must be an array');
      for (let i = 0; i < events.length; i++) {
        if (!isValidEvent(events[i])) validateEvent(events[i], `appendMany[${i}]`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.writer.appendMany(events);
  }

  /**
   * Records, atomically and durably, that every event up to `seq` has been
   * materialised; they are not replayed by later opens. Waits until `seq` is
   * durable. Rejects with RangeError when `seq` is beyond the last sequence
   * number handed out or below the current checkpoint.
   */
  checkpoint(seq: bigint): Promise<void> {
    return this.writer.checkpoint(seq);
  }

  /**
   * Deletes whole segments holding only events at or below `seq` and at or
   * below the checkpoint, oldest first, never the active segment. Resolves to
   * the names of the deleted files.
   */
  truncateBefore(seq: bigint): Promise<string[]> {
    return this.writer.truncateBefore(seq);
  }

  /** Counters and queue depths, for monitoring and tests. */
  stats(): EventLogStats {
    return this.writer.stats();
  }

  /**
   * Writes and syncs everything accepted so far (including appends waiting
   * for queue space), then releases the directory. Later calls of any other
   * method reject with EventLogClosedError; calling close again returns the
   * same promise.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.writer.close();
      } finally {
        await this.lock.release();
      }
    })();
    return this.closing;
  }
}

/**
 * Creates `<dir>/wal`, turning the file-system error into one that names the
 * path a user gave, since a bare ENOTDIR or EEXIST does not say which of the
 * two paths was a file.
 */
async function makeLogDir(dir: string, walDir: string): Promise<string | undefined> {
  try {
    return await mkdir(walDir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') {
      const file = (await isFile(dir)) ? dir : walDir;
      throw new EventLogError(`event log directory ${dir}: ${file} is a file, not a directory`, { cause: err });
    }
    throw new EventLogError(`event log directory ${dir}: cannot create ${walDir}: ${(err as Error).message}`, { cause: err });
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return !(await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
