import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SignalEvent } from '../../src/eventlog/index.js';
import { encodeBatch, encodeSegmentHeader } from '../../src/eventlog/format.js';
import { segmentFileName } from '../../src/eventlog/segment.js';

/** Creates a temporary directory and returns it with a cleanup function. */
export async function tempDir(prefix = 'tidemark-eventlog-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await tempDir();
  try {
    return await fn(dir);
  } finally {
    await cleanup();
  }
}

/** The seed's make_event. */
export function makeEvent(id: number | bigint): SignalEvent {
  const n = BigInt(id);
  return { entityId: n, signalType: 1, weight: 1.0, timestampNanos: n * 1_000_000_000n };
}

/** The UAT's make_varied_event: a unique combination of all four fields per index. */
export function makeVariedEvent(index: number): SignalEvent {
  return {
    entityId: BigInt(index) * 7n + 13n,
    signalType: index % 256,
    weight: Math.fround((index % 100) * 0.01 + 0.5),
    timestampNanos: 1_000_000_000n + BigInt(index) * 1_000_000n,
  };
}

/** Compares an event read back with the one written; the weight as the f32 it was stored as. */
export function sameEvent(a: SignalEvent, b: SignalEvent): boolean {
  return (
    a.entityId === b.entityId &&
    a.signalType === b.signalType &&
    Object.is(Math.fround(a.weight), Math.fround(b.weight)) &&
    a.timestampNanos === b.timestampNanos
  );
}

export function walDirOf(dir: string): string {
  return join(dir, 'wal');
}

/** Segment file names in `<dir>/wal`, sorted. */
export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(walDirOf(dir))).filter((n) => n.startsWith('wal-') && n.endsWith('.seg')).sort();
}

export function segmentHeaderBytes(firstSeq: bigint, flags = 0, shard = 0): Buffer {
  return encodeSegmentHeader({ flags, shard, region: 0, firstSeq, createdNanos: 1_000n });
}

/** Writes a segment file made of a header and the given (already encoded) batches; returns its bytes. */
export async function writeSegment(dir: string, firstSeq: bigint, batches: Buffer[], shard = 0): Promise<Buffer> {
  const bytes = Buffer.concat([segmentHeaderBytes(firstSeq, 0, shard), ...batches]);
  await writeFile(join(walDirOf(dir), segmentFileName(shard, firstSeq)), bytes);
  return bytes;
}

/** Encodes events `from..to` (inclusive, makeEvent ids = seqs) as one batch starting at seq `from`. */
export function seedBatch(from: number, to: number, writeIndex = 0): Buffer {
  const events: SignalEvent[] = [];
  for (let i = from; i <= to; i++) events.push(makeEvent(i));
  return encodeBatch(events, BigInt(from), BigInt(from) * 1_000_000_000n, { writeIndex });
}

/** Length of a file up to its last non-zero byte: roughly where its data ends when the rest is preallocated zeros. */
export async function nonZeroLength(path: string): Promise<number> {
  const buf = await readFile(path);
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return end;
}
