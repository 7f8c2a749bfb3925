import { formatFilename, parseFilename } from '../../ltx/file-name.js';

/**
 * Where LTX files live in a bucket, exactly as Litestream's NATS backend
 * names its objects: `ltx/<level in decimal>/<min %016x>-<max %016x>.ltx`,
 * at the bucket's root (a NATS replica has no path inside its bucket).
 */

export function natsLevelPrefix(level: number): string {
  return `ltx/${level}/`;
}

export function natsObjectName(level: number, minTxid: bigint, maxTxid: bigint): string {
  return `${natsLevelPrefix(level)}${formatFilename(minTxid, maxTxid)}`;
}

/** The TXIDs of an object directly under a level prefix; null for anything else, which listings skip. */
export function parseNatsObjectName(levelPrefix: string, name: string): { minTxid: bigint; maxTxid: bigint } | null {
  if (!name.startsWith(levelPrefix)) return null;
  return parseFilename(name.slice(levelPrefix.length));
}
