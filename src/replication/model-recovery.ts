import { withFileSource } from '../io/file-source.js';
import { verifyLtx } from '../ltx/decoder.js';
import type { DatabaseModel } from './db-model.js';
import type { LocalMeta } from './local-meta.js';
import { loadModel, type ModelLoad } from './model-file.js';

/**
 * The model as of the newest local L0 file, `localTxid`: the saved model
 * file brought forward through the local L0 files written after it (every
 * such file is still there: local pruning never removes one above the saved
 * model's TXID). Anything missing or inconsistent gives the reason instead,
 * and the replicator then starts from a full image.
 */
export async function recoverModel(meta: LocalMeta, pageSize: number, localTxid: bigint): Promise<ModelLoad> {
  const loaded = await loadModel(meta.dir, pageSize);
  if (loaded.model === null) return loaded;
  const model: DatabaseModel = loaded.model;
  if (model.txid > localTxid) return { model: null, reason: `the model file is at TXID ${model.txid}, past the newest local L0 file ${localTxid}` };
  for (let t = model.txid + 1n; t <= localTxid; t++) {
    const path = meta.pathOf(t);
    const pages: { pgno: number; sum: bigint }[] = [];
    let commit: number;
    try {
      const summary = await withFileSource(path, (src) =>
        verifyLtx(src, { file: path, pageChecksums: true, onPage: (p) => pages.push({ pgno: p.pgno, sum: p.checksum! }) }),
      );
      commit = summary.header.commit;
      if (summary.header.minTxid !== t || summary.header.maxTxid !== t) return { model: null, reason: `${path} does not hold TXID ${t}` };
      if (summary.header.pageSize !== pageSize) return { model: null, reason: `${path} has ${summary.header.pageSize}-byte pages` };
    } catch (err) {
      return { model: null, reason: `cannot bring the model forward through ${path}: ${(err as Error).message}` };
    }
    model.setCommit(commit);
    for (const p of pages) model.setSum(p.pgno, p.sum);
    model.txid = t;
  }
  if (model.unsetPages(1).length > 0) return { model: null, reason: `the local L0 files up to TXID ${localTxid} leave pages of the database without content` };
  return { model };
}
