import { formatFilename, parseFilename } from '../../ltx/file-name.js';

/**
 * Where LTX files live in a container, exactly as Litestream's Azure backend
 * puts them: `<path>/ltx/<level in decimal>/<min %016x>-<max %016x>.ltx`,
 * joined like Go's path.Join, so an empty path gives `ltx/<level>/…`.
 */

/** `<path>/` or '' for the container root. */
function pathPrefix(path: string): string {
  return path === '' ? '' : `${path}/`;
}

/**
 * Everything deleteAll removes: `<path>/`, or `ltx/` at the container root,
 * where deleting the whole container's contents would reach past the replica.
 */
export function absRootPrefix(path: string): string {
  return path === '' ? 'ltx/' : pathPrefix(path);
}

/** `<path>/ltx/<level>/`. */
export function absLevelPrefix(path: string, level: number): string {
  return `${pathPrefix(path)}ltx/${level}/`;
}

export function absLtxBlobName(path: string, level: number, minTxid: bigint, maxTxid: bigint): string {
  return `${absLevelPrefix(path, level)}${formatFilename(minTxid, maxTxid)}`;
}

/** The TXIDs of a listed blob directly under a level prefix; null for anything else, which listings skip. */
export function parseAbsLtxBlobName(levelPrefix: string, name: string): { minTxid: bigint; maxTxid: bigint } | null {
  if (!name.startsWith(levelPrefix)) return null;
  return parseFilename(name.slice(levelPrefix.length));
}
