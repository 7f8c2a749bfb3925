/** The directory replica as the checker sees it: its L0 files (`ltx/0/%016x-%016x.ltx`) and any leftovers. */
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseFilename } from '../../../src/ltx/file-name.js';

export interface L0File {
  readonly minTxid: bigint;
  readonly maxTxid: bigint;
  readonly name: string;
  /** Inode, size and mtime: a file replaced after it was checked shows a new one. */
  readonly fingerprint: string;
}

/** The L0 files, in TXID order, and the names in ltx/0 that are not LTX file names. */
export async function listL0(replicaDir: string): Promise<{ files: L0File[]; strays: string[] }> {
  const dir = join(replicaDir, 'ltx', '0');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { files: [], strays: [] };
  }
  const files: L0File[] = [];
  const strays: string[] = [];
  for (const name of names) {
    const p = parseFilename(name);
    if (p === null) {
      strays.push(name);
      continue;
    }
    let fingerprint: string;
    try {
      const st = await stat(join(dir, name), { bigint: true });
      fingerprint = `${st.ino}:${st.size}:${st.mtimeNs}`;
    } catch {
      continue; // removed by retention while we listed
    }
    files.push({ ...p, name, fingerprint });
  }
  files.sort((a, b) => (a.maxTxid < b.maxTxid ? -1 : a.maxTxid > b.maxTxid ? 1 : 0));
  return { files, strays };
}

/** The newest L0 TXID, 0n for none. */
export async function maxL0Txid(replicaDir: string): Promise<bigint> {
  const { files } = await listL0(replicaDir);
  return files[files.length - 1]?.maxTxid ?? 0n;
}

/** Every `*.tmp` anywhere under the replica, relative to it: an upload that was never finished or cleaned up. */
export async function tempFiles(replicaDir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.tmp')) out.push(relative(replicaDir, p));
    }
  };
  await walk(replicaDir);
  return out.sort();
}
