/**
 * Owns the segment files while the log is open: writes staged batches to the
 * active segment, rotates to a new segment when the next batch would not
 * fit, preallocates the next segment in the background, and deletes old
 * segments for truncateBefore.
 *
 * Rules that recovery relies on:
 * - a batch is never split across segments, and one write never spans two
 *   segments: each segment's share of a group is written and synced before
 *   the next segment is touched;
 * - a new segment's header goes to disk with its first batches, and its
 *   directory entry is synced before anything in it is acknowledged.
 *
 * Preallocation (as etcd's file pipeline does): the next segment is written
 * full of zeros and fsynced ahead of time under a temporary name, then
 * renamed into place at rotation. Overwriting allocated blocks lets each
 * commit's fdatasync skip the file-size metadata update, which is a large
 * part of its cost on ext4 and xfs.
 *
 * Small writes are issued synchronously: copying a few kilobytes into the
 * page cache takes microseconds, while a round trip through the libuv thread
 * pool costs tens of microseconds, which is most of the latency of a lone
 * append. Larger writes, which could hold the event loop for longer, and
 * every sync go through the thread pool.
 */
import { rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { wallClockNanos } from './clock.js';
import fs from 'node:fs';
import { closeFd, fdatasync, fsync, fsyncDir, openFd, writeAll, writeAllSync } from '../io/durable-fs.js';
import { SEGMENT_FLAG_DISCONTINUITY, SEGMENT_HEADER_SIZE, encodeSegmentHeader, setBatchWriteIndex } from './format.js';
import type { ActiveSegmentState } from './recovery.js';
import { segmentFileName, type SegmentName } from './segment.js';
import type { StagingGroup } from './staging.js';

export type SyncMode = 'fdatasync' | 'fsync';

/** Name of the segment being preallocated; it never matches a segment name. */
export const PREALLOC_FILE = 'prealloc.tmp';
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);
/** Writes up to this size are made on the main thread (a page-cache copy of a few microseconds). */
export const SYNC_WRITE_MAX_BYTES = 64 * 1024;
/**
 * When the sync itself runs on the main thread, the write before it may be
 * larger: the event loop is held for the sync anyway, and a page-cache copy
 * of 1 MiB takes a fraction of it.
 */
export const INLINE_WRITE_MAX_BYTES = 1024 * 1024;

export interface SegmentWriterConfig {
  walDir: string;
  shard: number;
  region: number;
  segmentSize: number;
  syncMode: SyncMode;
  preallocate: boolean;
}

interface OpenSegment {
  name: string;
  firstSeq: bigint;
  fd: number;
  dataEnd: number;
}

type Prealloc =
  | { state: 'idle' }
  | { state: 'preparing'; settled: Promise<void> }
  | { state: 'ready'; fd: number };

export interface SegmentWriterStats {
  writes: number;
  syncs: number;
  bytesWritten: number;
  rotations: number;
  preallocatedRotations: number;
}

function noop(): void {}

export class SegmentWriter {
  readonly stats: SegmentWriterStats = { writes: 0, syncs: 0, bytesWritten: 0, rotations: 0, preallocatedRotations: 0 };
  /** Duration of the last data sync, in ms. */
  lastSyncMs = 0;
  private active: OpenSegment | null = null;
  private prealloc: Prealloc = { state: 'idle' };
  private closed = false;

  private constructor(
    private readonly config: SegmentWriterConfig,
    /** Every segment on disk, oldest first; the last one is the active segment. */
    readonly segments: SegmentName[],
    /** The next write must start a new segment flagged as following a gap in the seqs. */
    private discontinuity: boolean,
  ) {}

  static async open(
    config: SegmentWriterConfig,
    segments: SegmentName[],
    active: ActiveSegmentState | null,
    discontinuity: boolean,
  ): Promise<SegmentWriter> {
    const w = new SegmentWriter(config, [...segments], discontinuity);
    await rm(join(config.walDir, PREALLOC_FILE), { force: true });
    if (active) {
      const fd = await openFd(join(config.walDir, active.name), 'r+');
      w.active = { name: active.name, firstSeq: active.firstSeq, fd, dataEnd: active.dataEnd };
    }
    w.startPrealloc();
    // A new log's first segment should be preallocated too, so wait for it once.
    if (!active && w.prealloc.state === 'preparing') await w.prealloc.settled;
    return w;
  }

  /**
   * Writes every sealed batch of `g` durably, rotating segments as needed.
   * With `inline`, the data syncs run on the main thread (see sync-policy.ts).
   */
  async writeGroup(g: StagingGroup, inline = false): Promise<void> {
    const { segmentSize } = this.config;
    const n = g.batchStarts.length;
    let i = 0;
    while (i < n) {
      let seg = this.active;
      let header: Buffer | null = null;
      if (
        !seg ||
        this.discontinuity ||
        (seg.dataEnd > SEGMENT_HEADER_SIZE && seg.dataEnd + g.batchBytes(i) > segmentSize)
      ) {
        const flags = this.discontinuity ? SEGMENT_FLAG_DISCONTINUITY : 0;
        seg = await this.rotate(g.batchFirstSeqs[i]!);
        this.discontinuity = false;
        header = encodeSegmentHeader({
          flags,
          shard: this.config.shard,
          region: this.config.region,
          firstSeq: seg.firstSeq,
          createdNanos: wallClockNanos(),
        });
      }
      const runStart = g.batchStarts[i]!;
      let bytes = 0;
      let events = 0;
      do {
        setBatchWriteIndex(g.buf, g.batchStarts[i]!, events);
        bytes += g.batchBytes(i);
        events += g.batchCounts[i]!;
        i++;
      } while (i < n && seg.dataEnd + bytes + g.batchBytes(i) <= segmentSize);

      if (header) {
        writeAllSync(seg.fd, header, 0, header.length, 0);
        seg.dataEnd = SEGMENT_HEADER_SIZE;
      }
      if (bytes <= (inline ? INLINE_WRITE_MAX_BYTES : SYNC_WRITE_MAX_BYTES)) {
        writeAllSync(seg.fd, g.buf, runStart, bytes, seg.dataEnd);
      } else {
        await writeAll(seg.fd, g.buf, runStart, bytes, seg.dataEnd);
      }
      this.stats.writes++;
      this.stats.bytesWritten += bytes;
      const syncStart = performance.now();
      const full = this.config.syncMode === 'fsync';
      if (inline) (full ? fs.fsyncSync : fs.fdatasyncSync)(seg.fd);
      else await (full ? fsync(seg.fd) : fdatasync(seg.fd));
      this.lastSyncMs = performance.now() - syncStart;
      this.stats.syncs++;
      if (header) await fsyncDir(this.config.walDir);
      seg.dataEnd += bytes;
    }
  }

  private async rotate(firstSeq: bigint): Promise<OpenSegment> {
    const { walDir, shard } = this.config;
    const old = this.active;
    this.active = null;
    if (old) await closeFd(old.fd);
    const name = segmentFileName(shard, firstSeq);
    let fd: number;
    if (this.prealloc.state === 'ready') {
      fd = this.prealloc.fd;
      this.prealloc = { state: 'idle' };
      await rename(join(walDir, PREALLOC_FILE), join(walDir, name));
      this.stats.preallocatedRotations++;
    } else {
      fd = await openFd(join(walDir, name), 'wx');
    }
    const seg: OpenSegment = { name, firstSeq, fd, dataEnd: 0 };
    this.active = seg;
    this.segments.push({ name, shard, firstSeq });
    this.stats.rotations++;
    this.startPrealloc();
    return seg;
  }

  private startPrealloc(): void {
    if (!this.config.preallocate || this.closed || this.prealloc.state !== 'idle') return;
    const settled = this.preparePrealloc().then(
      (fd) => {
        if (this.closed) {
          void closeFd(fd).catch(noop);
          this.prealloc = { state: 'idle' };
        } else {
          this.prealloc = { state: 'ready', fd };
        }
      },
      () => {
        // Preallocation is an optimisation: on failure rotation creates the file directly.
        this.prealloc = { state: 'idle' };
      },
    );
    this.prealloc = { state: 'preparing', settled };
  }

  private async preparePrealloc(): Promise<number> {
    const { walDir, segmentSize } = this.config;
    const fd = await openFd(join(walDir, PREALLOC_FILE), 'w');
    try {
      for (let pos = 0; pos < segmentSize; pos += ZERO_CHUNK.length) {
        if (this.closed) throw new Error('closed while preallocating');
        await writeAll(fd, ZERO_CHUNK, 0, Math.min(ZERO_CHUNK.length, segmentSize - pos), pos);
      }
      await fsync(fd);
      return fd;
    } catch (err) {
      await closeFd(fd).catch(noop);
      throw err;
    }
  }

  /**
   * Deletes the oldest segments whose every event is at or below `limit`.
   * The active segment is never deleted. Returns the names removed.
   */
  async removeThrough(limit: bigint): Promise<string[]> {
    const removed: string[] = [];
    while (this.segments.length > 1 && this.segments[1]!.firstSeq - 1n <= limit) {
      const old = this.segments.shift()!;
      await unlink(join(this.config.walDir, old.name));
      removed.push(old.name);
    }
    if (removed.length > 0) await fsyncDir(this.config.walDir);
    return removed;
  }

  /** Closes the files. Bytes already written were synced by writeGroup. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const p = this.prealloc;
    if (p.state === 'preparing') await p.settled;
    const q = this.prealloc;
    if (q.state === 'ready') await closeFd(q.fd);
    this.prealloc = { state: 'idle' };
    await rm(join(this.config.walDir, PREALLOC_FILE), { force: true });
    const a = this.active;
    this.active = null;
    if (a) await closeFd(a.fd);
  }
}
