import { formatFilename, parseFilename } from '../../ltx/file-name.js';

/**
 * Where LTX files live on a WebDAV server, exactly as Litestream's WebDAV
 * backend puts them: `<path>/ltx/<level in decimal>/<min %016x>-<max %016x>.ltx`.
 * Paths here are relative to the server origin and start with '/'.
 */

/** Every collection this backend stores files under. */
const LTX_DIR = 'ltx';

/** `/<path>` or '' for the server root. */
function base(path: string): string {
  return path === '' ? '' : `/${path}`;
}

/** The replica's own collection, `/<path>` (or `/` at the server root). */
export function webdavRootPath(path: string): string {
  return path === '' ? '/' : base(path);
}

/**
 * What deleteAll removes: the replica's collection, or only `/ltx` when the
 * replica sits at the server root, where removing the root would reach past it.
 */
export function webdavDeleteAllPath(path: string): string {
  return path === '' ? `/${LTX_DIR}` : base(path);
}

/** `/<path>/ltx/<level>`. */
export function webdavLevelPath(path: string, level: number): string {
  return `${base(path)}/${LTX_DIR}/${level}`;
}

export function webdavLtxFilePath(path: string, level: number, minTxid: bigint, maxTxid: bigint): string {
  return `${webdavLevelPath(path, level)}/${formatFilename(minTxid, maxTxid)}`;
}

/** The TXIDs named by a listed file's base name; null for anything else (temporary uploads included), which listings skip. */
export function parseWebdavLtxName(basename: string): { minTxid: bigint; maxTxid: bigint } | null {
  return parseFilename(basename);
}

/**
 * The collections from the origin down to `dir`, outermost first:
 * `/a/ltx/0` gives `/a`, `/a/ltx`, `/a/ltx/0`.
 */
export function webdavAncestors(dir: string): string[] {
  const parts = dir.split('/').filter((p) => p !== '');
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}
