/**
 * Group commit. Appenders encode their event straight into the active
 * staging group and get a promise; a single writer loop turns groups into
 * writes, one write and one sync per group.
 *
 * - When the writer is idle, the first append starts a write on the next
 *   turn of the event loop (appends made in the same turn join it); nobody
 *   waits for a timer.
 * - While a write is in flight, new appends accumulate in the other buffer
 *   and all go in the next write, as many batches of `batchSize` events
 *   as they fill. `batchTimeoutMs` caps how long a batch stays open to new
 *   events, which bounds how far any event's arrival is from its batch's
 *   timestamp; it never delays a write.
 * - The queue is bounded (`queueCapacity` events per group, two groups):
 *   when the active group is full, further appends wait in arrival order
 *   and are admitted as soon as a write frees a buffer.
 * - checkpoint, truncateBefore and close are control operations run by the
 *   same loop between writes, once everything appended before them is
 *   durable, so they never race a write or a rotation.
 */
import { writeCheckpoint } from './checkpoint.js';
import { wallClockNanos, monotonicMs } from './clock.js';
import type { DedupIndex } from './dedup.js';
import { EventLogClosedError, EventLogError, EventLogWriteError } from './errors.js';
import { MAX_U64, type SignalEvent } from './event.js';
import { writeRecord, type CheckpointRecord } from './format.js';
import type { SegmentWriter } from './segment-writer.js';
import { StagingGroup, stagingBufferBytes, type StagingLimits } from './staging.js';
import { SyncPolicy } from './sync-policy.js';

export const DEFAULT_QUEUE_CAPACITY = 65_536;
/** Admitted entries at the head of the wait queue are dropped in bulk, not one shift() at a time. */
const WAITING_COMPACT_AT = 1024;

interface ControlOp {
  name: string;
  ready: () => boolean;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface WaitingAppend {
  events: readonly SignalEvent[];
  next: number;
  results: bigint[];
  /** A single append resolves to one seq, appendMany to the array. */
  single: boolean;
  resolve: (value: bigint | bigint[] | PromiseLike<bigint | bigint[]>) => void;
  reject: (err: Error) => void;
}

export interface WriterInit {
  walDir: string;
  limits: StagingLimits;
  segments: SegmentWriter;
  dedup: DedupIndex;
  nextSeq: bigint;
  checkpoint: CheckpointRecord;
  /** Let syncs run on the main thread while that is faster (sync-policy.ts). Default true. */
  inlineSync?: boolean;
}

/** What `EventLog.stats()` reports: positions in the log, and counters since it was opened. */
export interface EventLogStats {
  nextSeq: bigint;
  durableSeq: bigint;
  checkpointSeq: bigint;
  /** Events accepted and not yet handed to a write. */
  queuedEvents: number;
  /** Events in the write currently in flight. */
  writingEvents: number;
  /** append/appendMany calls waiting for queue space. */
  waitingAppends: number;
  eventsAppended: number;
  duplicates: number;
  writes: number;
  syncs: number;
  bytesWritten: number;
  segments: number;
  rotations: number;
  dedupEntries: number;
  dedupMemoryBytes: number;
  dedupEarlyRotations: number;
}

const ZERO = (): bigint => 0n;
const RESOLVED: Promise<void> = Promise.resolve();

export class GroupCommitWriter {
  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: EventLogWriteError | null = null;
  private active: StagingGroup;
  private spare: Buffer | null;
  private writing: StagingGroup | null = null;
  private nextSeq: bigint;
  private durableSeq: bigint;
  private checkpointSeq: bigint;
  /** Highest checkpoint requested so far; later requests may not go below it. */
  private requestedCheckpoint: bigint;
  /** The checkpoint file as it is on disk. */
  private meta: CheckpointRecord;
  private readonly waiting: WaitingAppend[] = [];
  private waitingHead = 0;
  private readonly controls: ControlOp[] = [];
  private pumping = false;
  private scheduled = false;
  private closePromise: Promise<void> | null = null;
  private eventsAppended = 0;
  private duplicates = 0;
  private readonly walDir: string;
  private readonly limits: StagingLimits;
  private readonly segments: SegmentWriter;
  private readonly dedup: DedupIndex;
  private readonly syncPolicy: SyncPolicy;
  private readonly runPump = (): void => {
    this.scheduled = false;
    void this.pump();
  };

  constructor(init: WriterInit) {
    this.walDir = init.walDir;
    this.limits = init.limits;
    this.segments = init.segments;
    this.dedup = init.dedup;
    this.nextSeq = init.nextSeq;
    this.durableSeq = init.nextSeq - 1n;
    this.checkpointSeq = init.checkpoint.checkpointSeq;
    this.requestedCheckpoint = this.checkpointSeq;
    this.meta = init.checkpoint;
    this.syncPolicy = new SyncPolicy(init.inlineSync ?? true);
    const bytes = stagingBufferBytes(this.limits);
    this.active = new StagingGroup(Buffer.alloc(bytes), this.limits);
    this.spare = Buffer.alloc(bytes);
  }

  // ---- appends -------------------------------------------------------------------

  append(event: SignalEvent): Promise<bigint> {
    if (this.state !== 'open' || this.failure) return Promise.reject(this.refusal('append'));
    if (this.waiting.length > this.waitingHead) return this.wait([event], true) as Promise<bigint>;
    const g = this.active;
    const now = monotonicMs();
    const off = g.nextRecordOffset(now);
    if (off < 0) return this.wait([event], true) as Promise<bigint>;
    writeRecord(g.view, off, event);
    if (this.dedup.enabled && this.dedup.checkAndInsert(g.view, off, now)) {
      this.duplicates++;
      return this.afterQueued().then(ZERO);
    }
    const seq = this.nextSeq;
    this.nextSeq = seq + 1n;
    g.commit(off, seq, now);
    this.eventsAppended++;
    this.kick();
    return g.done.then(() => seq);
  }

  appendMany(events: readonly SignalEvent[]): Promise<bigint[]> {
    if (this.state !== 'open' || this.failure) return Promise.reject(this.refusal('appendMany'));
    const results = new Array<bigint>(events.length);
    if (this.waiting.length > this.waitingHead) return this.wait(events, false, results) as Promise<bigint[]>;
    const admitted = this.admit(events, 0, results);
    if (admitted < events.length) return this.wait(events, false, results, admitted) as Promise<bigint[]>;
    return this.afterQueued().then(() => results);
  }

  /**
   * Encodes events[from..] into the active group until it is full; returns
   * the index of the first event not admitted.
   */
  private admit(events: readonly SignalEvent[], from: number, results: bigint[]): number {
    const g = this.active;
    const dedup = this.dedup.enabled ? this.dedup : null;
    const now = monotonicMs();
    let i = from;
    let appended = 0;
    for (; i < events.length; i++) {
      const off = g.nextRecordOffset(now);
      if (off < 0) break;
      writeRecord(g.view, off, events[i]!);
      if (dedup && dedup.checkAndInsert(g.view, off, now)) {
        this.duplicates++;
        results[i] = 0n;
        continue;
      }
      const seq = this.nextSeq;
      this.nextSeq = seq + 1n;
      g.commit(off, seq, now);
      results[i] = seq;
      appended++;
    }
    if (appended > 0) {
      this.eventsAppended += appended;
      this.kick();
    }
    return i;
  }

  /** Settles once everything accepted so far is durable (what a duplicate waits for). */
  private afterQueued(): Promise<void> {
    if (this.active.events > 0) return this.active.done;
    if (this.writing) return this.writing.done;
    return RESOLVED;
  }

  private wait(events: readonly SignalEvent[], single: boolean, results?: bigint[], next = 0): Promise<bigint | bigint[]> {
    return new Promise<bigint | bigint[]>((resolve, reject) => {
      this.waiting.push({ events, next, results: results ?? new Array<bigint>(events.length), single, resolve, reject });
      this.kick();
    });
  }

  /** Admits waiting appends, oldest first, while the active group has room. */
  private admitWaiting(): void {
    while (this.waitingHead < this.waiting.length) {
      const w = this.waiting[this.waitingHead]!;
      w.next = this.admit(w.events, w.next, w.results);
      if (w.next < w.events.length) {
        if (this.waitingHead >= WAITING_COMPACT_AT) {
          this.waiting.splice(0, this.waitingHead);
          this.waitingHead = 0;
        }
        return;
      }
      this.waiting[this.waitingHead++] = undefined as unknown as WaitingAppend;
      const settled = this.afterQueued();
      const results = w.results;
      w.resolve(w.single ? settled.then(() => results[0]!) : settled.then(() => results));
    }
    this.waiting.length = 0;
    this.waitingHead = 0;
  }

  // ---- the writer loop -----------------------------------------------------------

  private kick(): void {
    if (this.pumping || this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.runPump);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.failure) {
        const op = this.controls[0];
        if (op && op.ready()) {
          this.controls.shift();
          try {
            op.resolve(await op.run());
          } catch (err) {
            // A failed checkpoint or truncation leaves the log usable: both
            // only replace or remove whole files, so the caller can retry.
            op.reject(
              new EventLogError(`${op.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }),
            );
          }
          continue;
        }
        if (this.active.events > 0) {
          await this.flushActive();
          continue;
        }
        if (this.waiting.length > this.waitingHead) {
          this.admitWaiting();
          if (this.active.events > 0 || this.waiting.length === 0) continue;
        }
        break;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
  }

  private async flushActive(): Promise<void> {
    const g = this.active;
    g.seal();
    this.active = new StagingGroup(this.spare!, this.limits);
    this.spare = null;
    this.writing = g;
    this.admitWaiting();
    // On failure `writing` stays set so that fail() rejects this group's appenders.
    const inline = this.syncPolicy.inline();
    await this.segments.writeGroup(g, inline);
    this.syncPolicy.observe(this.segments.lastSyncMs, inline, this.active.events > 0);
    this.writing = null;
    this.spare = g.buf;
    this.durableSeq = g.lastSeq;
    g.resolve();
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    const failure =
      err instanceof EventLogWriteError
        ? err
        : new EventLogWriteError(
            `writing the event log in ${this.walDir} failed (${err instanceof Error ? err.message : String(err)}); ` +
              'the log accepts nothing more: close it and reopen to recover',
            { cause: err },
          );
    this.failure = failure;
    this.writing?.reject(failure);
    this.writing = null;
    this.active.reject(failure);
    for (let i = this.waitingHead; i < this.waiting.length; i++) this.waiting[i]!.reject(failure);
    this.waiting.length = 0;
    this.waitingHead = 0;
    for (const op of this.controls.splice(0)) op.reject(failure);
  }

  private refusal(operation: string): Error {
    if (this.state !== 'open') return new EventLogClosedError(operation);
    return this.failure ?? new EventLogError(`cannot ${operation}`);
  }

  private control<T>(name: string, ready: () => boolean, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.controls.push({ name, ready, run, resolve: resolve as (v: unknown) => void, reject });
      this.kick();
    });
  }

  private barrier(): () => boolean {
    const seq = this.nextSeq - 1n;
    return () => this.durableSeq >= seq;
  }

  // ---- control operations --------------------------------------------------------

  checkpoint(seq: bigint): Promise<void> {
    if (this.state !== 'open' || this.failure) return Promise.reject(this.refusal('checkpoint'));
    try {
      checkSeqArgument(seq, 'checkpoint');
      const last = this.nextSeq - 1n;
      if (seq > last) {
        throw new RangeError(`checkpoint: seq ${seq} is beyond the last sequence number handed out (${last})`);
      }
      if (seq < this.requestedCheckpoint) {
        throw new RangeError(`checkpoint: seq ${seq} is below the current checkpoint ${this.requestedCheckpoint}`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    this.requestedCheckpoint = seq;
    return this.control('checkpoint', this.barrier(), async () => {
      await this.writeMeta(seq);
      this.checkpointSeq = seq;
    });
  }

  truncateBefore(seq: bigint): Promise<string[]> {
    if (this.state !== 'open' || this.failure) return Promise.reject(this.refusal('truncateBefore'));
    try {
      checkSeqArgument(seq, 'truncateBefore');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.control('truncateBefore', this.barrier(), async () => {
      const limit = seq < this.checkpointSeq ? seq : this.checkpointSeq;
      const wouldRemove = this.segments.segments.length > 1 && this.segments.segments[1]!.firstSeq - 1n <= limit;
      // Record the high-water mark before any segment goes, so the seqs in
      // them stay retired even if every other trace is lost.
      if (wouldRemove && this.durableSeq > this.meta.highWaterSeq) await this.writeMeta(this.checkpointSeq);
      return this.segments.removeThrough(limit);
    });
  }

  private async writeMeta(checkpointSeq: bigint): Promise<void> {
    const hw = this.durableSeq > this.meta.highWaterSeq ? this.durableSeq : this.meta.highWaterSeq;
    const record: CheckpointRecord = {
      shard: this.limits.shard,
      checkpointSeq,
      highWaterSeq: hw,
      writtenAtNanos: wallClockNanos(),
    };
    await writeCheckpoint(this.walDir, record);
    this.meta = record;
  }

  /**
   * Stops accepting work, writes everything already accepted (including
   * appends waiting for queue space), records the high-water mark and closes
   * the files. Rejects with the write error if the log had failed, after
   * releasing the files anyway.
   */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.state = 'closing';
    if (!this.failure) {
      try {
        await this.control(
          'close',
          () => this.active.events === 0 && this.writing === null && this.waiting.length === this.waitingHead,
          async () => {
            if (this.durableSeq > this.meta.highWaterSeq || this.checkpointSeq !== this.meta.checkpointSeq) {
              await this.writeMeta(this.checkpointSeq);
            }
          },
        );
      } catch {
        // The failure is reported below, once the files are released.
      }
    }
    try {
      await this.segments.close();
    } finally {
      this.state = 'closed';
    }
    if (this.failure) throw this.failure;
  }

  get isOpen(): boolean {
    return this.state === 'open' && !this.failure;
  }

  stats(): EventLogStats {
    const s = this.segments.stats;
    return {
      nextSeq: this.nextSeq,
      durableSeq: this.durableSeq,
      checkpointSeq: this.checkpointSeq,
      queuedEvents: this.active.events,
      writingEvents: this.writing?.events ?? 0,
      waitingAppends: this.waiting.length - this.waitingHead,
      eventsAppended: this.eventsAppended,
      duplicates: this.duplicates,
      writes: s.writes,
      syncs: s.syncs,
      bytesWritten: s.bytesWritten,
      segments: this.segments.segments.length,
      rotations: s.rotations,
      dedupEntries: this.dedup.size,
      dedupMemoryBytes: this.dedup.memoryBytes,
      dedupEarlyRotations: this.dedup.earlyRotations,
    };
  }
}

function checkSeqArgument(seq: unknown, where: string): asserts seq is bigint {
  if (typeof seq !== 'bigint') throw new TypeError(`${where}: seq must be a bigint, got ${typeof seq}`);
  if (seq < 0n || seq > MAX_U64) throw new RangeError(`${where}: seq ${seq} is outside the unsigned 64-bit range`);
}
