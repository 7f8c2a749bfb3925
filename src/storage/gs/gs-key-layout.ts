import { formatFilename, parseFilename } from '../../ltx/file-name.js';

/**
 * Where LTX files live in a bucket, exactly as Litestream's GCS backend puts
 * them: `<path>/ltx/<level in decimal>/<min %016x>-<max %016x>.ltx`, joined
 * like Go's path.Join, so an empty path gives `ltx/<level>/…`.
 */

function pathPrefix(path: string): string {
  return path === '' ? '' : `${path}/`;
}

/**
 * Everything deleteAll removes: `<path>/`, or `ltx/` at the bucket root,
 * where deleting the whole bucket's contents would reach past the replica.
 */
export function gsRootPrefix(path: string): string {
  return path === '' ? 'ltx/' : pathPrefix(path);
}

/** `<path>/ltx/<level>/`. */
export function gsLevelPrefix(path: string, level: number): string {
  return `${pathPrefix(path)}ltx/${level}/`;
}

export function gsLtxObjectName(path: string, level: number, minTxid: bigint, maxTxid: bigint): string {
  return `${gsLevelPrefix(path, level)}${formatFilename(minTxid, maxTxid)}`;
}

/**
 * The listing's startOffset for a seek: names sort as (MinTXID, MaxTXID), so
 * every file with MinTXID >= seek sorts at or after the seek's 16 hex digits.
 */
export function gsSeekOffset(levelPrefix: string, seek: bigint): string | undefined {
  return seek <= 0n ? undefined : `${levelPrefix}${seek.toString(16).padStart(16, '0')}`;
}

/** The TXIDs of a listed object directly under a level prefix; null for anything else, which listings skip. */
export function parseGsLtxObjectName(levelPrefix: string, name: string): { minTxid: bigint; maxTxid: bigint } | null {
  if (!name.startsWith(levelPrefix)) return null;
  return parseFilename(name.slice(levelPrefix.length));
}
