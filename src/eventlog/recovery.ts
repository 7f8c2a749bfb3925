/**
 * Opening a log: verify every segment, find the end of the durable data,
 * decide whether damage is a torn tail (expected after a crash, cut silently)
 * or corruption (refused, or cut off when `repair` is set), feed
 * post-checkpoint events to the caller and recent events to the dedup
 * window, and tell the writer where to continue.
 *
 * The scan is read-only. Every change to the files (cutting a torn tail,
 * removing a half-created segment, quarantining after corruption) is decided
 * first and applied only once the whole log has been judged, so a refusal
 * leaves the directory exactly as it was.
 *
 * What counts as a torn tail. The writer syncs each write before starting
 * the next and never lets one write span two segments, so only the last
 * write of the last segment can be incomplete. After a power loss that write
 * may be partly on disk in any pattern (pages are written back in no
 * particular order), so a damaged batch can be followed by intact batches of
 * the same write. Each batch header records how many events of its write
 * precede it (`writeIndex`): an intact batch after the damage whose write
 * began at or before the damaged position belongs to the torn write. One
 * whose write began later proves the damaged bytes had been synced, which is
 * corruption. Zero bytes after the last batch are unused (preallocated) space.
 */
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { CHECKPOINT_FILE, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { wallClockNanos } from './clock.js';
import { crc32c, crc32cBackend } from './crc32c.js';
import { closeFd, fdatasync, fsyncDir, fstatSize, ftruncate, openFd, readFully } from '../io/durable-fs.js';
import { EventLogCorruptionError } from './errors.js';
import type { ReplayedEvent } from './event.js';
import {
  BATCH_HEADER_SIZE,
  BATCH_MAGIC,
  MAX_BATCH_PAYLOAD,
  RECORD_SIZE,
  SEGMENT_FLAG_DISCONTINUITY,
  SEGMENT_HEADER_SIZE,
  parseBatchHeader,
  parseSegmentHeader,
  readRecord,
  type BatchHeader,
  type CheckpointRecord,
} from './format.js';
import { listSegments, type SegmentName } from './segment.js';

/**
 * Bytes read per I/O while scanning: large enough that the fixed cost of a
 * read and of the event-loop turn around it vanishes, small enough that
 * checking one chunk holds the event loop for about a millisecond with the
 * native CRC-32C (twice that with the table code), and that the read-ahead
 * buffers stay in the CPU cache between the read and the check. On the
 * benchmark machine 4 MiB was 8% slower and held the loop twice as long,
 * 1 MiB no faster.
 */
export const DEFAULT_READ_CHUNK_BYTES = 2 * 1024 * 1024;
/**
 * Room in front of each chunk of the read-ahead buffers: the part of a batch
 * cut by the end of one chunk is moved there, so that it continues straight
 * into the next chunk. No batch is longer.
 */
const CARRY_BYTES = BATCH_HEADER_SIZE + MAX_BATCH_PAYLOAD;
/**
 * Longest the scan keeps the event loop before it lets timers and I/O run,
 * even inside a chunk. A chunk normally takes well under this; the first
 * ones of a process do not (their code is still being compiled), nor does a
 * chunk on a busy machine or without the native CRC-32C.
 */
export const SCAN_SLICE_MS = 3;
/** Batches checked between two looks at the clock (about 70 KB of 100-event batches; ~0.1 ms warm, ~0.4 ms cold). */
const BATCHES_PER_CLOCK_CHECK = 32;
/** Where repair moves what it cuts off, inside `<dir>/wal/`. */
export const QUARANTINE_DIR = 'quarantine';
const ZERO_BLOCK = Buffer.alloc(64 * 1024);

export interface RecoverOptions {
  walDir: string;
  shard: number;
  region: number;
  repair: boolean;
  /** Receives every event with seq > checkpoint, in order. */
  onReplay: (event: ReplayedEvent) => void;
  /** Batches stamped at or after this wall time are passed to `onRecentBatch`. */
  recentSinceNanos: bigint;
  /** Receives recent batches (to rebuild the dedup window): `count` records starting at `view[offset]`. */
  onRecentBatch: (view: DataView, offset: number, count: number, timestampNanos: bigint) => void;
  readChunkBytes?: number;
}

/** The last segment, as the writer must continue it. */
export interface ActiveSegmentState {
  name: string;
  firstSeq: bigint;
  /** End of the last intact batch (or of the segment header): the next write goes here. */
  dataEnd: number;
  /** Current file size; the bytes between dataEnd and fileSize are zero (preallocated). */
  fileSize: number;
}

export interface RepairReport {
  /** Segment (or checkpoint file) and byte offset where the damage was found. */
  segment: string;
  offset: number;
  reason: string;
  /** Sequence numbers cut off (inclusive; empty when lostFromSeq > lostToSeq). They are never handed out again. */
  lostFromSeq: bigint;
  lostToSeq: bigint;
  /** Files moved to `<dir>/wal/quarantine/`; a damaged segment is copied there before being cut. */
  quarantined: string[];
}

export interface RecoveryReport {
  /** Last materialised sequence number from the checkpoint file (0 when there is none). */
  checkpointSeq: bigint;
  /** Highest sequence number the log has handed out (0 when none). */
  lastSeq: bigint;
  /** The sequence number the next appended event will get. */
  nextSeq: bigint;
  segmentsScanned: number;
  bytesScanned: number;
  eventsScanned: number;
  eventsReplayed: number;
  /** Bytes cut from a torn tail of the last segment (0 after a clean close). */
  bytesTruncated: number;
  /** The segment that was cut or removed because of a torn tail, if any. */
  truncatedSegment: string | null;
  /** Half-created last segments (no header, no intact batch) that were removed. */
  removedSegments: string[];
  /**
   * Sequence numbers recorded as durable in the checkpoint file but no longer
   * in the log: the last segment was cut or removed below what had been
   * acknowledged. Recovery goes on, and these numbers are never reused.
   */
  missingTail: { fromSeq: bigint; toSeq: bigint } | null;
  /** What repair did, when `repair` was set and something needed it. */
  repair: RepairReport | null;
  durationMs: number;
}

export interface RecoveryResult {
  report: RecoveryReport;
  /** The checkpoint file as it is on disk after recovery (all zero when there is none). */
  checkpoint: CheckpointRecord;
  /** Surviving segments, oldest first. */
  segments: SegmentName[];
  active: ActiveSegmentState | null;
  /**
   * The next seq does not follow the data on disk (a tail was lost or a
   * repair cut the log): the next segment must be flagged as a discontinuity.
   */
  discontinuity: boolean;
}

/** A segment whose header is valid, scanned up to `dataEnd`. */
interface GoodPrefix {
  seg: SegmentName;
  fileSize: number;
  dataEnd: number;
  /** The seq the next batch must carry. */
  nextSeq: bigint;
}

interface Problem {
  /** Index of the segment where the damage is (segments.length: after the last one). */
  index: number;
  segment: string;
  offset: number;
  reason: string;
}

/**
 * Sequential window over a file for the scan, with the next chunk always
 * being read (on libuv's thread pool, so on the other core) while the
 * current one is checked. Two buffers alternate; each holds CARRY_BYTES of
 * room and then one chunk.
 *
 * The window is `buf[off, off + len)`, the file's bytes `[base, base + len)`.
 */
class ReadAhead {
  buf: Buffer;
  view: DataView;
  base = 0;
  off = CARRY_BYTES;
  len = 0;
  /** File position just past the last byte read or being read. */
  private readPos = 0;
  private pending: Promise<number> | null = null;
  private pendingWant = 0;
  /** The read in flight has completed and its callback has run: awaiting it will not leave this turn. */
  nextReady = false;
  private current = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly bufs: readonly Buffer[],
    private readonly views: readonly DataView[],
    private readonly chunk: number,
  ) {
    this.buf = bufs[0]!;
    this.view = views[0]!;
  }

  /** Reads the first chunk (at least the segment header) into the window and starts reading the second. */
  async start(): Promise<void> {
    const n = Math.min(Math.max(this.chunk, SEGMENT_HEADER_SIZE), this.size);
    this.len = await readFully(this.fd, this.buf, CARRY_BYTES, n, 0);
    this.readPos = this.len;
    if (this.len === n) this.readNext();
  }

  /** Buffer offset of file position `pos` (inside the window). */
  at(pos: number): number {
    return this.off + (pos - this.base);
  }

  /** File position one past the window. */
  get end(): number {
    return this.base + this.len;
  }

  /**
   * Drops the window before `pos` (which must be inside it or at its end,
   * with fewer than CARRY_BYTES after it) and appends the chunk read ahead.
   * False when the file has nothing more.
   */
  async advance(pos: number): Promise<boolean> {
    if (this.pending === null) return false;
    const n = await this.pending;
    this.pending = null;
    const next = 1 - this.current;
    const into = this.bufs[next]!;
    const keep = this.end - pos;
    this.buf.copy(into, CARRY_BYTES - keep, this.at(pos), this.off + this.len);
    this.current = next;
    this.buf = into;
    this.view = this.views[next]!;
    this.base = pos;
    this.off = CARRY_BYTES - keep;
    this.len = keep + n;
    this.readPos += n;
    // A short read means the file ended early (it was cut while being read).
    if (n === this.pendingWant) this.readNext();
    return n > 0;
  }

  /** Waits for the read in flight, so that the buffers can be used for something else. */
  async settle(): Promise<void> {
    const p = this.pending;
    this.pending = null;
    // Whatever it held is read again by whoever needs it, so its error is not this scan's.
    if (p) await p.catch(() => 0);
  }

  private readNext(): void {
    const n = Math.min(this.chunk, this.size - this.readPos);
    if (n <= 0) return;
    this.pendingWant = n;
    this.nextReady = false;
    const p = readFully(this.fd, this.bufs[1 - this.current]!, CARRY_BYTES, n, this.readPos);
    // Also keeps a failed read that is never awaited (the scan stopped first) from being an unhandled rejection.
    p.then(
      () => {
        if (this.pending === p) this.nextReady = true;
      },
      () => undefined,
    );
    this.pending = p;
  }
}

/** Random-access window over a file, refilled with large reads. */
class FileWindow {
  private base = 0;
  private len = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    public buf: Buffer,
  ) {}

  /** Ensures `[pos, pos+n)` is in the buffer; false when the file ends first. */
  async ensure(pos: number, n: number): Promise<boolean> {
    if (pos + n > this.size) return false;
    if (pos >= this.base && pos + n <= this.base + this.len) return true;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    const want = Math.min(this.buf.length, this.size - pos);
    this.len = await readFully(this.fd, this.buf, 0, want, pos);
    this.base = pos;
    return pos + n <= this.base + this.len;
  }

  /** Offset of file position `pos` inside `buf` (valid after ensure). */
  at(pos: number): number {
    return pos - this.base;
  }
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let p = from; p < to; p += ZERO_BLOCK.length) {
    const end = Math.min(to, p + ZERO_BLOCK.length);
    if (buf.compare(ZERO_BLOCK, 0, end - p, p, end) !== 0) return false;
  }
  return true;
}

interface TailFacts {
  /** One past the last non-zero byte at or after the start (equal to the start when all zero). */
  nonZeroEnd: number;
  /** Intact batches found at or after the start. */
  intact: BatchHeader[];
}

/** What `[from, size)` of a segment holds: where its non-zero bytes end and which intact batches it contains. */
async function examineTail(win: FileWindow, from: number, shard: number, chunk: number): Promise<TailFacts> {
  let nonZeroEnd = from;
  for (let pos = from; pos < win.size; pos += chunk) {
    const n = Math.min(chunk, win.size - pos);
    await win.ensure(pos, n);
    const o = win.at(pos);
    if (!isZero(win.buf, o, o + n)) {
      let last = o + n - 1;
      while (win.buf[last] === 0) last--;
      nonZeroEnd = pos + (last - o) + 1;
    }
  }
  const intact: BatchHeader[] = [];
  let pos = from;
  while (pos + BATCH_HEADER_SIZE <= nonZeroEnd) {
    const n = Math.min(chunk, nonZeroEnd - pos);
    await win.ensure(pos, n);
    const start = win.at(pos);
    const found = win.buf.indexOf(BATCH_MAGIC, start);
    if (found < 0 || found >= start + n) {
      pos += Math.max(1, n - (BATCH_MAGIC.length - 1));
      continue;
    }
    const cand = pos + (found - start);
    const h = await readIntactBatch(win, cand, shard);
    if (h) {
      intact.push(h);
      pos = cand + BATCH_HEADER_SIZE + h.payloadLength;
    } else {
      pos = cand + 1;
    }
  }
  return { nonZeroEnd, intact };
}

/** The header of the batch at `pos` when its header and payload are both intact, else null. */
async function readIntactBatch(win: FileWindow, pos: number, shard: number): Promise<BatchHeader | null> {
  if (!(await win.ensure(pos, BATCH_HEADER_SIZE))) return null;
  const h = parseBatchHeader(win.buf, win.at(pos));
  if (typeof h === 'string' || h.shard !== shard) return null;
  if (!(await win.ensure(pos, BATCH_HEADER_SIZE + h.payloadLength))) return null;
  const p = win.at(pos) + BATCH_HEADER_SIZE;
  return crc32c(win.buf, 0, p, p + h.payloadLength) === h.payloadCrc ? h : null;
}

class Scanner {
  readonly report: RecoveryReport;
  /** The two read-ahead buffers (CARRY_BYTES + one chunk each), grown to the largest segment seen. */
  private bufs: Buffer[] = [];
  private views: DataView[] = [];
  /** checkpointSeq + 1, computed once rather than per batch. */
  private readonly replayAbove: bigint;

  constructor(
    private readonly opts: RecoverOptions,
    private readonly chunk: number,
    private readonly checkpointSeq: bigint,
  ) {
    this.replayAbove = checkpointSeq + 1n;
    this.report = {
      checkpointSeq,
      lastSeq: 0n,
      nextSeq: 1n,
      segmentsScanned: 0,
      bytesScanned: 0,
      eventsScanned: 0,
      eventsReplayed: 0,
      bytesTruncated: 0,
      truncatedSegment: null,
      removedSegments: [],
      missingTail: null,
      repair: null,
      durationMs: 0,
    };
  }

  /** Buffers for a file of `size` bytes; a log of small segments never allocates whole chunks. */
  private buffersFor(size: number): void {
    const want = CARRY_BYTES + Math.max(SEGMENT_HEADER_SIZE, Math.min(this.chunk, size));
    if (this.bufs.length > 0 && this.bufs[0]!.length >= want) return;
    this.bufs = [Buffer.allocUnsafe(want), Buffer.allocUnsafe(want)];
    this.views = this.bufs.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength));
  }

  /**
   * Scans one segment. `expected` is the seq the segment must start with
   * (null for the first segment, which may start anywhere up to
   * checkpoint + 1). Returns the good prefix, the damage found (if any) and,
   * for the last segment, whether the damage is a torn tail or the whole
   * file is a half-created segment.
   */
  async scan(
    seg: SegmentName,
    isLast: boolean,
    expected: bigint | null,
    strictStart: boolean,
  ): Promise<{ prefix: GoodPrefix | null; damage: { offset: number; reason: string } | null; torn: boolean; halfCreated: boolean }> {
    const { shard } = this.opts;
    const fd = await openFd(join(this.opts.walDir, seg.name), 'r');
    let rd: ReadAhead | null = null;
    try {
      const size = await fstatSize(fd);
      this.report.segmentsScanned++;
      this.report.bytesScanned += size;
      this.buffersFor(size);
      rd = new ReadAhead(fd, size, this.bufs, this.views, this.chunk);
      await rd.start();
      // The rare paths below (damage, zeros, a half-created file) reread what
      // they need through a random-access window over a spare buffer.
      const tailWindow = async () => {
        await rd!.settle();
        return new FileWindow(fd, size, this.bufs[0]!);
      };
      const header =
        rd.len >= SEGMENT_HEADER_SIZE
          ? parseSegmentHeader(rd.buf.subarray(rd.at(0), rd.at(0) + SEGMENT_HEADER_SIZE))
          : 'segment header is incomplete';
      if (typeof header === 'string') {
        if (isLast) {
          // Its header never became durable: the segment was being created
          // when the process died, so nothing in it was acknowledged, unless
          // intact batches prove otherwise.
          const tail = await examineTail(await tailWindow(), Math.min(size, SEGMENT_HEADER_SIZE), shard, this.chunk);
          if (tail.intact.length === 0) return { prefix: null, damage: null, torn: false, halfCreated: true };
        }
        return { prefix: null, damage: { offset: 0, reason: header }, torn: false, halfCreated: false };
      }
      const headerDamage = (reason: string) => ({
        prefix: null,
        damage: { offset: 0, reason },
        torn: false,
        halfCreated: false,
      });
      if (header.shard !== shard) return headerDamage(`segment header names shard ${header.shard}`);
      if (header.firstSeq !== seg.firstSeq) {
        return headerDamage(
          `segment header says first seq ${header.firstSeq} but the file name says ${seg.firstSeq} (renamed file?)`,
        );
      }
      const gapAllowed = (header.flags & SEGMENT_FLAG_DISCONTINUITY) !== 0;
      if (expected === null) {
        if (strictStart && !gapAllowed && header.firstSeq > this.checkpointSeq + 1n) {
          return headerDamage(`events ${this.checkpointSeq + 1n}..${header.firstSeq - 1n} after the checkpoint are missing`);
        }
      } else if (header.firstSeq !== expected && !(gapAllowed && header.firstSeq > expected)) {
        return headerDamage(
          header.firstSeq > expected
            ? `events ${expected}..${header.firstSeq - 1n} are missing (missing segment?)`
            : `segment starts at seq ${header.firstSeq}, inside the previous segment which ends at ${expected - 1n}`,
        );
      }

      const { next, pos, bad } = await this.scanBatches(rd, header.firstSeq);
      const prefix: GoodPrefix = { seg, fileSize: size, dataEnd: pos, nextSeq: next };
      if (!bad) return { prefix, damage: null, torn: false, halfCreated: false };

      const tail = await examineTail(await tailWindow(), bad.offset, shard, this.chunk);
      if (tail.nonZeroEnd === bad.offset) {
        // Only zeros follow: unused preallocated space, in any segment.
        return { prefix, damage: null, torn: false, halfCreated: false };
      }
      const tornWrite =
        isLast && tail.intact.every((g) => g.firstSeq >= next && g.firstSeq - BigInt(g.writeIndex) <= next);
      if (tornWrite) return { prefix, damage: bad, torn: true, halfCreated: false };
      const reason =
        tail.intact.length > 0
          ? `${bad.reason}; intact batches written later follow it`
          : `${bad.reason} in a segment that is not the last`;
      return { prefix, damage: { offset: bad.offset, reason }, torn: false, halfCreated: false };
    } finally {
      // No read may still be filling a buffer once the next segment uses it.
      await rd?.settle();
      await closeFd(fd);
    }
  }

  /**
   * Checks and delivers the batches from just after the segment header to
   * the first one that is not valid (or the end of the file). The batches
   * the window holds are handled in one synchronous run, with no await per
   * batch; the scan waits only for the chunk being read ahead, and yields on
   * its own when a run lasts SCAN_SLICE_MS.
   */
  private async scanBatches(
    rd: ReadAhead,
    firstSeq: bigint,
  ): Promise<{ next: bigint; pos: number; bad: { offset: number; reason: string } | null }> {
    const { shard } = this.opts;
    const size = rd.size;
    let next = firstSeq;
    let pos = SEGMENT_HEADER_SIZE;
    // Batches of a log mostly have the same size; this spares a BigInt per batch.
    let lastCount = 0;
    let lastCountBig = 0n;
    // When timers last had their turn, as far as the scan can tell. Awaiting
    // a read that has not completed returns to the event loop, and from an
    // I/O callback the loop passes its timers before the next one; awaiting
    // one that has completed does not leave the turn at all. A yield of its
    // own goes through a timer, because `setImmediate` from an I/O callback
    // runs before the timers do.
    let sliceStart = performance.now();
    let resumedByTimer = false;
    const yieldToLoop = async () => {
      await sleep(0);
      sliceStart = performance.now();
      resumedByTimer = true;
    };
    while (pos < size) {
      // Bytes needed at `pos` that the window does not hold yet (0 when the
      // time slice ran out first).
      let need = 0;
      const buf = rd.buf;
      const winEnd = rd.off + rd.len;
      let o = rd.at(pos);
      let untilClock = BATCHES_PER_CLOCK_CHECK;
      while (pos < size) {
        if (--untilClock === 0) {
          if (performance.now() - sliceStart >= SCAN_SLICE_MS) break;
          untilClock = BATCHES_PER_CLOCK_CHECK;
        }
        if (o + BATCH_HEADER_SIZE > winEnd) {
          if (pos + BATCH_HEADER_SIZE > size) return { next, pos, bad: { offset: pos, reason: 'incomplete batch header' } };
          need = BATCH_HEADER_SIZE;
          break;
        }
        const h = parseBatchHeader(buf, o);
        if (typeof h === 'string') return { next, pos, bad: { offset: pos, reason: h } };
        if (h.shard !== shard) return { next, pos, bad: { offset: pos, reason: `batch belongs to shard ${h.shard}` } };
        if (h.firstSeq !== next) {
          return { next, pos, bad: { offset: pos, reason: `batch first seq ${h.firstSeq}, expected ${next}` } };
        }
        const total = BATCH_HEADER_SIZE + h.payloadLength;
        if (o + total > winEnd) {
          if (pos + total > size) {
            return { next, pos, bad: { offset: pos, reason: 'batch extends past the end of the file' } };
          }
          need = total;
          break;
        }
        const p = o + BATCH_HEADER_SIZE;
        if (crc32c(buf, 0, p, p + h.payloadLength) !== h.payloadCrc) {
          return { next, pos, bad: { offset: pos, reason: 'batch payload checksum mismatch' } };
        }
        if (h.count !== lastCount) {
          lastCount = h.count;
          lastCountBig = BigInt(lastCount);
        }
        next += lastCountBig;
        this.deliver(rd.view, p, h, next);
        pos += total;
        o += total;
      }
      if (need === 0) {
        if (pos < size) await yieldToLoop();
        continue;
      }
      while (rd.end < pos + need) {
        if (performance.now() - sliceStart >= SCAN_SLICE_MS) await yieldToLoop();
        const leavesTurn = !rd.nextReady;
        if (!(await rd.advance(pos))) {
          // The file got shorter than fstat said while it was being read.
          const reason = need === BATCH_HEADER_SIZE ? 'incomplete batch header' : 'batch extends past the end of the file';
          return { next, pos, bad: { offset: pos, reason } };
        }
        if (leavesTurn) {
          // Resumed from a timer, the read may have been picked up in the
          // same loop iteration, before timers came round again.
          if (!resumedByTimer) sliceStart = performance.now();
          resumedByTimer = false;
        }
      }
    }
    return { next, pos, bad: null };
  }

  /** Hands a verified batch to the dedup window and the replay callback as needed; `after` is one past its last seq. */
  private deliver(view: DataView, payload: number, h: BatchHeader, after: bigint): void {
    const report = this.report;
    const opts = this.opts;
    report.eventsScanned += h.count;
    const recent = h.timestampNanos >= opts.recentSinceNanos;
    // last seq (after - 1) > checkpoint
    const replay = after > this.replayAbove;
    if (!recent && !replay) return;
    if (recent) opts.onRecentBatch(view, payload, h.count, h.timestampNanos);
    if (!replay) return;
    const skip = h.firstSeq > this.checkpointSeq ? 0 : Number(this.checkpointSeq - h.firstSeq + 1n);
    for (let k = skip; k < h.count; k++) {
      opts.onReplay(readRecord(view, payload + k * RECORD_SIZE, h.firstSeq + BigInt(k)));
    }
    report.eventsReplayed += h.count - skip;
  }
}

export async function recover(opts: RecoverOptions): Promise<RecoveryResult> {
  const started = performance.now();
  const { walDir, shard } = opts;
  const chunk = opts.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES;
  // Loading the native CRC-32C takes a few milliseconds once per process:
  // here, on its own turn, rather than on top of checking the first chunk.
  crc32cBackend();

  // ---- read ------------------------------------------------------------------
  let checkpointDamage: string | null = null;
  let stored: CheckpointRecord | null = null;
  try {
    stored = await readCheckpoint(walDir);
  } catch (err) {
    if (!(err instanceof EventLogCorruptionError) || !opts.repair) throw err;
    checkpointDamage = err.message;
  }
  if (stored && stored.shard !== shard) {
    throw new EventLogCorruptionError(CHECKPOINT_FILE, 0, `checkpoint belongs to shard ${stored.shard}, not ${shard}`);
  }
  const segments = await listSegments(walDir);
  const foreign = segments.find((s) => s.shard !== shard);
  if (foreign) {
    throw new EventLogCorruptionError(foreign.name, 0, `segment belongs to shard ${foreign.shard}; this log is shard ${shard}`);
  }

  // With a damaged checkpoint (repair only) replay everything still present rather than guess.
  const checkpointSeq =
    checkpointDamage === null ? (stored?.checkpointSeq ?? 0n) : segments.length > 0 ? segments[0]!.firstSeq - 1n : 0n;
  const highWater = stored?.highWaterSeq ?? 0n;

  // ---- scan and judge --------------------------------------------------------
  const scanner = new Scanner(opts, chunk, checkpointSeq);
  const report = scanner.report;
  const prefixes: GoodPrefix[] = [];
  let problem: Problem | null = null;
  let torn: { offset: number } | null = null;
  let halfCreated = false;
  let expected: bigint | null = null;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const r = await scanner.scan(seg, i === segments.length - 1, expected, checkpointDamage === null);
    if (r.halfCreated) {
      halfCreated = true;
      break;
    }
    if (r.prefix) {
      prefixes.push(r.prefix);
      expected = r.prefix.nextSeq;
    }
    if (r.damage && r.torn) {
      torn = { offset: r.damage.offset };
    } else if (r.damage) {
      problem = { index: i, segment: seg.name, offset: r.damage.offset, reason: r.damage.reason };
      break;
    }
  }
  const lastPresent = expected !== null ? expected - 1n : checkpointSeq;
  if (problem && !opts.repair) {
    throw new EventLogCorruptionError(problem.segment, problem.offset, problem.reason);
  }

  // ---- apply -----------------------------------------------------------------
  if (halfCreated) {
    const last = segments[segments.length - 1]!;
    await rm(join(walDir, last.name), { force: true });
    await fsyncDir(walDir);
    report.removedSegments.push(last.name);
    report.truncatedSegment = last.name;
  }
  if (torn) {
    const last = prefixes[prefixes.length - 1]!;
    await truncateFile(join(walDir, last.seg.name), torn.offset);
    report.bytesTruncated = last.fileSize - torn.offset;
    report.truncatedSegment = last.seg.name;
    last.fileSize = torn.offset;
    last.dataEnd = torn.offset;
  }

  if (problem) {
    const result = await repairFrom(opts, chunk, segments, prefixes, problem, checkpointSeq, highWater, checkpointDamage);
    report.checkpointSeq = result.checkpoint.checkpointSeq;
    report.lastSeq = result.checkpoint.highWaterSeq;
    report.nextSeq = result.checkpoint.highWaterSeq + 1n;
    report.repair = result.repair;
    report.durationMs = performance.now() - started;
    return {
      report,
      checkpoint: result.checkpoint,
      segments: result.segments,
      active: result.active,
      discontinuity: result.discontinuity,
    };
  }

  const tail = prefixes[prefixes.length - 1];
  let highest = lastPresent > highWater ? lastPresent : highWater;
  // An empty last segment (e.g. started after a lost tail) still claims the seqs before its first.
  if (tail && tail.seg.firstSeq - 1n > highest) highest = tail.seg.firstSeq - 1n;
  if (highWater > lastPresent && checkpointDamage === null) {
    report.missingTail = { fromSeq: lastPresent + 1n, toSeq: highWater };
  }
  let checkpoint: CheckpointRecord = {
    shard,
    checkpointSeq,
    highWaterSeq: highWater,
    writtenAtNanos: stored?.writtenAtNanos ?? 0n,
  };
  if (checkpointDamage !== null) {
    checkpoint = { shard, checkpointSeq, highWaterSeq: highest, writtenAtNanos: wallClockNanos() };
    await writeCheckpoint(walDir, checkpoint);
    report.repair = {
      segment: CHECKPOINT_FILE,
      offset: 0,
      reason: checkpointDamage,
      lostFromSeq: 1n,
      lostToSeq: 0n,
      quarantined: [],
    };
  }
  report.lastSeq = highest;
  report.nextSeq = highest + 1n;
  report.durationMs = performance.now() - started;
  const resumeSeq = tail ? tail.nextSeq : checkpointSeq + 1n;
  return {
    report,
    checkpoint,
    segments: prefixes.map((p) => p.seg),
    active: tail ? { name: tail.seg.name, firstSeq: tail.seg.firstSeq, dataEnd: tail.dataEnd, fileSize: tail.fileSize } : null,
    discontinuity: report.nextSeq > resumeSeq,
  };
}

async function truncateFile(path: string, length: number): Promise<void> {
  const fd = await openFd(path, 'r+');
  try {
    await ftruncate(fd, length);
    await fdatasync(fd);
  } finally {
    await closeFd(fd);
  }
}

/**
 * Repair keeps the longest valid prefix: everything from the problem on is
 * moved to quarantine, the sequence numbers it held are retired for good,
 * and the next segment written is flagged as a discontinuity after them.
 *
 * Order matters for a crash in the middle: the high-water mark is made
 * durable first, so whatever happens next no seq can be handed out twice; a
 * repair interrupted later is simply repeated by the next `repair: true` open,
 * and one that moved everything aside before the crash looks like a lost tail.
 */
async function repairFrom(
  opts: RecoverOptions,
  chunk: number,
  segments: SegmentName[],
  prefixes: GoodPrefix[],
  problem: Problem,
  checkpointSeq: bigint,
  highWater: bigint,
  checkpointDamage: string | null,
): Promise<{
  checkpoint: CheckpointRecord;
  segments: SegmentName[];
  active: ActiveSegmentState | null;
  discontinuity: boolean;
  repair: RepairReport;
}> {
  const { walDir, shard } = opts;
  // Keep whole segments before the problem, and the good part of the damaged one.
  const kept = prefixes.filter((p, i) => i < problem.index || (i === problem.index && problem.offset > 0));
  const keptLast = kept.length > 0 ? kept[kept.length - 1]!.nextSeq - 1n : checkpointSeq;

  let retired = await highestEvidence(walDir, segments.slice(problem.index), shard, chunk);
  if (highWater > retired) retired = highWater;
  if (keptLast > retired) retired = keptLast;
  const newCheckpoint = checkpointSeq > retired ? retired : checkpointSeq;
  const checkpoint: CheckpointRecord = {
    shard,
    checkpointSeq: newCheckpoint,
    highWaterSeq: retired,
    writtenAtNanos: wallClockNanos(),
  };
  await writeCheckpoint(walDir, checkpoint);

  const qdir = join(walDir, QUARANTINE_DIR);
  const quarantined: string[] = [];
  if (problem.index < segments.length) {
    await mkdir(qdir, { recursive: true });
    const stamp = Date.now();
    for (let i = problem.index; i < segments.length; i++) {
      const seg = segments[i]!;
      const qname = `${seg.name}.${stamp}`;
      const keepPrefix = i === problem.index && problem.offset > 0;
      if (keepPrefix) {
        await copyFile(join(walDir, seg.name), join(qdir, qname));
        const qfd = await openFd(join(qdir, qname), 'r');
        try {
          await fdatasync(qfd);
        } finally {
          await closeFd(qfd);
        }
        await fsyncDir(qdir);
        const p = kept[kept.length - 1]!;
        await truncateFile(join(walDir, seg.name), p.dataEnd);
        p.fileSize = p.dataEnd;
      } else {
        await rename(join(walDir, seg.name), join(qdir, qname));
      }
      quarantined.push(`${QUARANTINE_DIR}/${qname}`);
    }
    await fsyncDir(qdir);
    await fsyncDir(walDir);
  }

  const active = kept[kept.length - 1];
  return {
    checkpoint,
    segments: kept.map((p) => p.seg),
    active: active
      ? { name: active.seg.name, firstSeq: active.seg.firstSeq, dataEnd: active.dataEnd, fileSize: active.fileSize }
      : null,
    discontinuity: true,
    repair: {
      segment: problem.segment,
      offset: problem.offset,
      reason: checkpointDamage ?? problem.reason,
      lostFromSeq: keptLast + 1n,
      lostToSeq: retired,
      quarantined,
    },
  };
}

/**
 * The highest sequence number that any intact batch or segment name among
 * `segments` shows was handed out. Repair retires everything up to it, so a
 * seq that may have been acknowledged is never reused.
 */
async function highestEvidence(walDir: string, segments: SegmentName[], shard: number, chunk: number): Promise<bigint> {
  let max = 0n;
  for (const seg of segments) {
    if (seg.firstSeq - 1n > max) max = seg.firstSeq - 1n;
    const fd = await openFd(join(walDir, seg.name), 'r');
    try {
      const size = await fstatSize(fd);
      const win = new FileWindow(fd, size, Buffer.allocUnsafe(Math.max(1, Math.min(chunk, size))));
      for (const h of (await examineTail(win, 0, shard, chunk)).intact) {
        const last = h.firstSeq + BigInt(h.count) - 1n;
        if (last > max) max = last;
      }
    } finally {
      await closeFd(fd);
    }
  }
  return max;
}
