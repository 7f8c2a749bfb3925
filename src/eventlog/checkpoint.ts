/**
 * The checkpoint file, `<dir>/wal/checkpoint.meta`: the materialised
 * sequence number and the sequence high-water mark, replaced atomically.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, writeBytesAtomic } from '../io/durable-fs.js';
import { EventLogCorruptionError } from './errors.js';
import { encodeCheckpoint, parseCheckpoint, type CheckpointRecord } from './format.js';

export const CHECKPOINT_FILE = 'checkpoint.meta';

/** Reads the checkpoint file; null when there is none. Throws EventLogCorruptionError when it is damaged. */
export async function readCheckpoint(walDir: string): Promise<CheckpointRecord | null> {
  let buf: Buffer;
  try {
    buf = await readFile(join(walDir, CHECKPOINT_FILE));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  const parsed = parseCheckpoint(buf);
  if (typeof parsed === 'string') throw new EventLogCorruptionError(CHECKPOINT_FILE, 0, parsed);
  return parsed;
}

export async function writeCheckpoint(walDir: string, record: CheckpointRecord): Promise<void> {
  await writeBytesAtomic(join(walDir, CHECKPOINT_FILE), encodeCheckpoint(record));
}

/**
 * Removes a temporary checkpoint left by a crash between writing and
 * renaming it; the rename never happened, so the old file is authoritative.
 */
export async function removeStaleCheckpointTmp(walDir: string): Promise<void> {
  await rm(join(walDir, `${CHECKPOINT_FILE}.tmp`), { force: true });
}
