import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import { isErrno } from '../io/durable-fs.js';
import { Crc64 } from '../ltx/crc64.js';
import { DatabaseModel } from './db-model.js';

/*
 * The model file, `<meta>/model`: the replicator's DatabaseModel as of one
 * TXID, so that after a restart it can tell exactly which pages changed
 * while it was not running. Big-endian throughout:
 *
 *   0  magic "TDMM"      4  version (1)     8  page size     12 commit (pages)
 *   16 TXID (u64)        24 database checksum (u64)
 *   32 commit × u64 page checksums (pages 1..commit; 0 for the lock page)
 *   then u64: CRC-64/ISO of every byte before it
 *
 * It is written whole (tmp, fsync, rename, directory fsync); a file that
 * fails any check is ignored, and the replicator falls back to a full image.
 */

export const MODEL_FILE = 'model';
const MAGIC = 0x54444d4d; // "TDMM"
const VERSION = 1;
const HEADER_BYTES = 32;
const TRAILER_BYTES = 8;
/** Page checksums encoded per write. */
const CHUNK_ENTRIES = 64 * 1024;

export function modelPath(metaDir: string): string {
  return join(metaDir, MODEL_FILE);
}

/** Writes the model durably to `<metaDir>/model`. */
export async function saveModel(metaDir: string, model: DatabaseModel): Promise<void> {
  const sums = model.sums();
  const crc = new Crc64();
  await writeFileAtomic(modelPath(metaDir), async (sink) => {
    const head = new Uint8Array(HEADER_BYTES);
    const hv = new DataView(head.buffer);
    hv.setUint32(0, MAGIC);
    hv.setUint32(4, VERSION);
    hv.setUint32(8, model.pageSize);
    hv.setUint32(12, sums.length);
    hv.setBigUint64(16, model.txid);
    hv.setBigUint64(24, model.checksum);
    crc.update(head);
    await sink.write(head);
    for (let i = 0; i < sums.length; i += CHUNK_ENTRIES) {
      const n = Math.min(CHUNK_ENTRIES, sums.length - i);
      const chunk = new Uint8Array(n * 8);
      const cv = new DataView(chunk.buffer);
      for (let j = 0; j < n; j++) cv.setBigUint64(j * 8, sums[i + j]!);
      crc.update(chunk);
      await sink.write(chunk);
    }
    const tail = new Uint8Array(TRAILER_BYTES);
    new DataView(tail.buffer).setBigUint64(0, crc.digest());
    await sink.write(tail);
  });
}

/** Why a model file could not be used, for the log line that says a full image follows. */
export type ModelLoad = { model: DatabaseModel } | { model: null; reason: string };

/** Reads `<metaDir>/model`; a missing, damaged or foreign file gives the reason instead. */
export async function loadModel(metaDir: string, pageSize: number): Promise<ModelLoad> {
  const path = modelPath(metaDir);
  let bytes: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      bytes = new Uint8Array(await fh.readFile());
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { model: null, reason: 'no model file' };
    return { model: null, reason: `cannot read ${path}: ${(err as Error).message}` };
  }
  if (bytes.length < HEADER_BYTES + TRAILER_BYTES) return { model: null, reason: `${path} is truncated` };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (v.getUint32(0) !== MAGIC || v.getUint32(4) !== VERSION) return { model: null, reason: `${path} is not a version ${VERSION} model file` };
  const commit = v.getUint32(12);
  if (bytes.length !== HEADER_BYTES + commit * 8 + TRAILER_BYTES) return { model: null, reason: `${path} has the wrong size for ${commit} pages` };
  const body = HEADER_BYTES + commit * 8;
  if (new Crc64().update(bytes, 0, body).digest() !== v.getBigUint64(body)) return { model: null, reason: `${path} fails its checksum` };
  if (v.getUint32(8) !== pageSize) return { model: null, reason: `${path} is for ${v.getUint32(8)}-byte pages, the database has ${pageSize}` };
  const sums = new BigUint64Array(commit);
  for (let i = 0; i < commit; i++) sums[i] = v.getBigUint64(HEADER_BYTES + i * 8);
  const model = DatabaseModel.fromSums(pageSize, v.getBigUint64(16), sums);
  if (model.checksum !== v.getBigUint64(24)) return { model: null, reason: `${path}: page checksums do not add up to the database checksum` };
  return { model };
}
