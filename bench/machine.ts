import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** What the figures were measured on, recorded next to every result file. */
export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

/** Bytes written for the sequential-write figure: large enough that the fsync at the end is most of the cost. */
const SEQ_WRITE_BYTES = 128 * 1024 * 1024;
const SEQ_CHUNK_BYTES = 1024 * 1024;
/** One SQLite page: the smallest write a commit or a checkpoint makes. */
const SYNC_WRITE_BYTES = 4096;
/** How long each fdatasync loop runs. */
const SYNC_LOOP_MS = 1000;
/** Each figure is the median of this many repetitions: a shared disk's speed wanders. */
const REPETITIONS = 3;
/** Size of the preallocated file the overwrite loop cycles through. */
const PREALLOCATED_BYTES = 16 * 1024 * 1024;

export interface DiskLimits {
  /** Directory (file system) measured. */
  dir: string;
  /** 128 MiB written in 1 MiB writes then fsync'd, over the whole time including the fsync (median of 3). */
  seqWriteFsyncMBps: number;
  /** 4 KiB appended then fdatasync, in a loop: each call also commits the new file size (median of 3). */
  fdatasyncAppendPerSec: number;
  /** 4 KiB written over an already allocated file then fdatasync, in a loop: data only (median of 3). */
  fdatasyncOverwritePerSec: number;
}

function syncLoop(path: string, overwrite: boolean): number {
  const fd = openSync(path, 'w');
  try {
    const page = randomBytes(SYNC_WRITE_BYTES);
    if (overwrite) {
      const fill = randomBytes(SEQ_CHUNK_BYTES);
      for (let at = 0; at < PREALLOCATED_BYTES; at += fill.length) writeSync(fd, fill, 0, fill.length, at);
      fsyncSync(fd);
    }
    let calls = 0;
    const start = performance.now();
    let now = start;
    while (now - start < SYNC_LOOP_MS) {
      const at = overwrite ? (calls * SYNC_WRITE_BYTES) % PREALLOCATED_BYTES : calls * SYNC_WRITE_BYTES;
      writeSync(fd, page, 0, page.length, at);
      fdatasyncSync(fd);
      calls++;
      now = performance.now();
    }
    return calls / ((now - start) / 1000);
  } finally {
    closeSync(fd);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function repeat(f: () => number): number {
  return median(Array.from({ length: REPETITIONS }, f));
}

function seqWriteFsyncMBps(path: string): number {
  const chunk = randomBytes(SEQ_CHUNK_BYTES);
  const fd = openSync(path, 'w');
  try {
    const start = performance.now();
    for (let written = 0; written < SEQ_WRITE_BYTES; written += chunk.length) writeSync(fd, chunk);
    fsyncSync(fd);
    const seconds = (performance.now() - start) / 1000;
    ftruncateSync(fd, 0);
    return SEQ_WRITE_BYTES / 1e6 / seconds;
  } finally {
    closeSync(fd);
  }
}

/**
 * What the disk under `parent` sustains, measured in a scratch directory
 * there: the ceiling a replicator's uploads and a writer's checkpoints run
 * against.
 */
export function measureDiskLimits(parent: string): DiskLimits {
  const dir = mkdtempSync(join(parent, 'disk-limits-'));
  try {
    const path = join(dir, 'probe');
    return {
      dir: parent,
      seqWriteFsyncMBps: Math.round(repeat(() => seqWriteFsyncMBps(path))),
      fdatasyncAppendPerSec: Math.round(repeat(() => syncLoop(path, false))),
      fdatasyncOverwritePerSec: Math.round(repeat(() => syncLoop(path, true))),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
