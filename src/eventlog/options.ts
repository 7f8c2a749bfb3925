/** Options of EventLog.open, their defaults and their validation. */
import { DEFAULT_DEDUP_MAX_ENTRIES, DEFAULT_DEDUP_WINDOW_MS } from './dedup.js';
import type { ReplayedEvent } from './event.js';
import { BATCH_HEADER_SIZE, MAX_BATCH_EVENTS, RECORD_SIZE, SEGMENT_HEADER_SIZE } from './format.js';
import type { SyncMode } from './segment-writer.js';
import { MAX_SHARD } from './segment.js';
import { DEFAULT_QUEUE_CAPACITY } from './writer.js';

export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_BATCH_TIMEOUT_MS = 10;
export const DEFAULT_SYNC_MODE: SyncMode = 'fdatasync';
/** The smallest segment that holds its header and one single-event batch. */
export const MIN_SEGMENT_SIZE = SEGMENT_HEADER_SIZE + BATCH_HEADER_SIZE + RECORD_SIZE;
/** Larger segments make truncation and preallocation too coarse to be useful. */
export const MAX_SEGMENT_SIZE = 1024 * 1024 * 1024;
/** Bounds the staging buffers (two of them, ~21 bytes per event each). */
export const MAX_QUEUE_CAPACITY = 1 << 24;
/** Upper limit for dedupMaxEntries (about 40 bytes per entry). */
export const MAX_DEDUP_ENTRIES = 1 << 26;

export interface EventLogOptions {
  /** Directory of the log; segments live in `<dir>/wal/`. Created if missing. */
  dir: string;
  /** Segment size in bytes; a segment is rotated before a batch would take it past this. Default 16 MiB. */
  segmentSize?: number;
  /** Events that close a batch. Default 100. */
  batchSize?: number;
  /** Longest a batch stays open to more events, in ms. It never delays a write. Default 10. */
  batchTimeoutMs?: number;
  /** Window in which an identical event is a duplicate, in ms; 0 disables dedup. Default 30 000. */
  dedupWindowMs?: number;
  /**
   * Most events the dedup window remembers: its memory bound (about 40 MB at
   * the default: 32 bytes per entry plus the hash index). Default 1 000 000.
   */
  dedupMaxEntries?: number;
  /** How each write is made durable. Default 'fdatasync'. */
  syncMode?: SyncMode;
  /** Most events queued for the next write before appends wait (backpressure). Default 65 536. */
  queueCapacity?: number;
  /** Preallocate segments with zeros ahead of time. Default true. */
  preallocate?: boolean;
  /** Shard id stored in every segment and batch (0..65535). Default 0. */
  shard?: number;
  /** Region id stored in every segment and batch (0..65535). Default 0. */
  region?: number;
  /**
   * Instead of refusing to open a corrupt log, keep its longest valid prefix,
   * move the rest to `<dir>/wal/quarantine/` and continue after the highest
   * sequence number ever seen. Default false.
   */
  repair?: boolean;
  /**
   * Receives replayed events one by one during open, instead of collecting
   * them into `replayed` (which is then empty). Keeps memory flat when much
   * of the log is after the checkpoint.
   */
  onReplay?: (event: ReplayedEvent) => void;
}

export interface ResolvedOptions {
  dir: string;
  segmentSize: number;
  batchSize: number;
  batchTimeoutMs: number;
  dedupWindowMs: number;
  dedupMaxEntries: number;
  syncMode: SyncMode;
  queueCapacity: number;
  preallocate: boolean;
  shard: number;
  region: number;
  repair: boolean;
  onReplay: ((event: ReplayedEvent) => void) | undefined;
}

function integer(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`EventLog.open: ${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`EventLog.open: ${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

function duration(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`EventLog.open: ${name} must be a number, got ${typeof value}`);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`EventLog.open: ${name} must be a finite number >= 0, got ${value}`);
  }
  return value;
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`EventLog.open: ${name} must be a boolean, got ${typeof value}`);
  return value;
}

export function resolveOptions(options: EventLogOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('EventLog.open: options must be an object');
  }
  if (typeof options.dir !== 'string' || options.dir.length === 0) {
    throw new TypeError('EventLog.open: dir must be a non-empty string');
  }
  const syncMode = options.syncMode ?? DEFAULT_SYNC_MODE;
  if (syncMode !== 'fdatasync' && syncMode !== 'fsync') {
    throw new RangeError(`EventLog.open: syncMode must be 'fdatasync' or 'fsync', got ${String(syncMode)}`);
  }
  if (options.onReplay !== undefined && typeof options.onReplay !== 'function') {
    throw new TypeError('EventLog.open: onReplay must be a function');
  }
  return {
    dir: options.dir,
    segmentSize: integer(options.segmentSize, 'segmentSize', MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE, DEFAULT_SEGMENT_SIZE),
    batchSize: integer(options.batchSize, 'batchSize', 1, MAX_BATCH_EVENTS, DEFAULT_BATCH_SIZE),
    batchTimeoutMs: duration(options.batchTimeoutMs, 'batchTimeoutMs', DEFAULT_BATCH_TIMEOUT_MS),
    dedupWindowMs: duration(options.dedupWindowMs, 'dedupWindowMs', DEFAULT_DEDUP_WINDOW_MS),
    dedupMaxEntries: integer(options.dedupMaxEntries, 'dedupMaxEntries', 2, MAX_DEDUP_ENTRIES, DEFAULT_DEDUP_MAX_ENTRIES),
    syncMode,
    queueCapacity: integer(options.queueCapacity, 'queueCapacity', 1, MAX_QUEUE_CAPACITY, DEFAULT_QUEUE_CAPACITY),
    preallocate: flag(options.preallocate, 'preallocate', true),
    shard: integer(options.shard, 'shard', 0, MAX_SHARD, 0),
    region: integer(options.region, 'region', 0, MAX_SHARD, 0),
    repair: flag(options.repair, 'repair', false),
    onReplay: options.onReplay,
  };
}
