import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, isErrno } from './durable-fs.js';

/**
 * `mkdir -p`, one directory at a time, then makes each new directory's
 * entry durable in its parent. Returns the directories it created, outermost
 * first.
 *
 * Written by hand because Node's `mkdir(dir, { recursive: true })` reports a
 * failure to create a directory under a read-only or unwritable parent as
 * ENOENT of the directory asked for, hiding the real cause (EROFS, EACCES)
 * that an operator needs to see; creating each level in turn surfaces it.
 */
export async function makeDirs(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    try {
      const st = await stat(d);
      if (!st.isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}' (${d} is a file)`), { code: 'ENOTDIR', path: d });
      }
      break;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      missing.push(d);
      if (dirname(d) === d) break;
    }
  }
  missing.reverse();
  const created: string[] = [];
  for (const d of missing) {
    try {
      await mkdir(d);
      created.push(d);
    } catch (err) {
      // Made by someone else meanwhile: fine, it is there.
      if (!isErrno(err, 'EEXIST')) throw err;
    }
  }
  for (const d of created) await fsyncDir(dirname(d));
  return created;
}
