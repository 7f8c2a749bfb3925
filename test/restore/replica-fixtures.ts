import { mkdtemp, rm, writeFile, utimes, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MemorySink } from '../../src/ltx/byte-sink.js';
import { LtxEncoder } from '../../src/ltx/encoder.js';
import { decodeHeader, makeHeader } from '../../src/ltx/header.js';
import { FileReplicaClient, ltxFilePath } from '../../src/storage/file-replica-client.js';
import type { LtxFileInfo } from '../../src/storage/replica-client.js';
import { chunked, makeLtxFile } from '../storage/ltx-fixtures.js';

/** A temporary directory for one test file; `cleanup` removes it. */
export async function makeTempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `tidemark-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A directory replica in a fresh subdirectory of `dir`. */
export async function makeReplica(dir: string, name: string): Promise<FileReplicaClient> {
  const root = join(dir, name);
  await mkdir(root, { recursive: true });
  return new FileReplicaClient(root);
}

/** Stores LTX bytes at a level under the TXIDs of their header, as a replica upload would. */
export async function putLtx(client: FileReplicaClient, level: number, bytes: Uint8Array): Promise<LtxFileInfo> {
  const h = decodeHeader(bytes);
  return client.writeLtxFile(level, h.minTxid, h.maxTxid, chunked(bytes));
}

/** A small synthetic file (two 512-byte pages) for planner tests; the timestamp is the TXID in seconds unless given. */
export async function putSynthetic(
  client: FileReplicaClient,
  level: number,
  minTxid: bigint,
  maxTxid: bigint,
  timestamp = T0 + Number(maxTxid) * 1000,
): Promise<LtxFileInfo> {
  return putLtx(client, level, await makeLtxFile({ minTxid, maxTxid, timestamp }));
}

/** Base of the synthetic timestamps: TXID n is created at T0 + n seconds. */
export const T0 = Date.UTC(2024, 0, 1);

/**
 * Writes bytes straight into the replica's directory under any name,
 * bypassing the upload checks, with the mtime (the createdAt) given.
 */
export async function placeRaw(
  client: FileReplicaClient,
  level: number,
  minTxid: bigint,
  maxTxid: bigint,
  bytes: Uint8Array,
  createdAt: Date,
): Promise<string> {
  const path = ltxFilePath(client.root, level, minTxid, maxTxid);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  await utimes(path, createdAt, createdAt);
  return path;
}

export interface PageImage {
  pgno: number;
  data: Uint8Array;
}

/** Encodes an LTX file from explicit pages (ascending pgno). */
export async function encodeLtx(opts: {
  pageSize: number;
  commit: number;
  minTxid: bigint;
  maxTxid: bigint;
  timestamp: number;
  pages: Iterable<PageImage>;
}): Promise<Uint8Array> {
  const sink = new MemorySink();
  const enc = new LtxEncoder(
    sink,
    makeHeader({ pageSize: opts.pageSize, commit: opts.commit, minTxid: opts.minTxid, maxTxid: opts.maxTxid, timestamp: opts.timestamp }),
  );
  for (const p of opts.pages) await enc.writePage(p.pgno, p.data);
  await enc.finish();
  return sink.bytes();
}

/** Names of the entries in a directory, sorted; [] when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
