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
import { join } from 'node:path';
import { CHECKPOINT_FILE, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { wallClockNanos } from './clock.js';
import { crc32c } from './crc32c.js';
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
 * Bytes read per I/O while scanning: large enough to scan at memory speed,
 * small enough that checking one chunk holds the event loop for only a few
 * milliseconds.
 */
export const DEFAULT_READ_CHUNK_BYTES = 2 * 1024 * 1024;
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
  buf: Buffer;

  constructor(
    private readonly opts: RecoverOptions,
    private readonly chunk: number,
    private readonly checkpointSeq: bigint,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(chunk, BATCH_HEADER_SIZE + MAX_BATCH_PAYLOAD));
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
    try {
      const size = await fstatSize(fd);
      const win = new FileWindow(fd, size, this.buf);
      this.report.segmentsScanned++;
      this.report.bytesScanned += size;
      try {
        const header = (await win.ensure(0, SEGMENT_HEADER_SIZE))
          ? parseSegmentHeader(win.buf.subarray(win.at(0), win.at(0) + SEGMENT_HEADER_SIZE))
          : 'segment header is incomplete';
        if (typeof header === 'string') {
          if (isLast) {
            // Its header never became durable: the segment was being created
            // when the process died, so nothing in it was acknowledged, unless
            // intact batches prove otherwise.
            const tail = await examineTail(win, Math.min(size, SEGMENT_HEADER_SIZE), shard, this.chunk);
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

        let next = header.firstSeq;
        let pos = SEGMENT_HEADER_SIZE;
        let bad: { offset: number; reason: string } | null = null;
        while (pos < size) {
          if (!(await win.ensure(pos, BATCH_HEADER_SIZE))) {
            bad = { offset: pos, reason: 'incomplete batch header' };
            break;
          }
          const h = parseBatchHeader(win.buf, win.at(pos));
          if (typeof h === 'string') {
            bad = { offset: pos, reason: h };
            break;
          }
          if (h.shard !== shard) {
            bad = { offset: pos, reason: `batch belongs to shard ${h.shard}` };
            break;
          }
          if (h.firstSeq !== next) {
            bad = { offset: pos, reason: `batch first seq ${h.firstSeq}, expected ${next}` };
            break;
          }
          const total = BATCH_HEADER_SIZE + h.payloadLength;
          if (!(await win.ensure(pos, total))) {
            bad = { offset: pos, reason: 'batch extends past the end of the file' };
            break;
          }
          const p = win.at(pos) + BATCH_HEADER_SIZE;
          if (crc32c(win.buf, 0, p, p + h.payloadLength) !== h.payloadCrc) {
            bad = { offset: pos, reason: 'batch payload checksum mismatch' };
            break;
          }
          this.deliver(win.buf, p, h);
          next += BigInt(h.count);
          pos += total;
        }
        const prefix: GoodPrefix = { seg, fileSize: size, dataEnd: pos, nextSeq: next };
        if (!bad) return { prefix, damage: null, torn: false, halfCreated: false };

        const tail = await examineTail(win, bad.offset, shard, this.chunk);
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
        this.buf = win.buf;
      }
    } finally {
      await closeFd(fd);
    }
  }

  private deliver(buf: Buffer, payload: number, h: BatchHeader): void {
    const report = this.report;
    const opts = this.opts;
    report.eventsScanned += h.count;
    const lastSeq = h.firstSeq + BigInt(h.count - 1);
    const recent = h.timestampNanos >= opts.recentSinceNanos;
    const replay = lastSeq > this.checkpointSeq;
    if (!recent && !replay) return;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
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
