import { formatFilename, parseFilename } from '../../ltx/file-name.js';

/**
 * Where LTX files live in a bucket, exactly as Litestream's S3 backend puts
 * them: `<path>/<level as %04x>/<min %016x>-<max %016x>.ltx`. There is no
 * `ltx/` segment (unlike the directory layout), and the path is joined with a
 * plain '/', so an empty path gives keys that start with '/'
 * (`/0000/…`). That quirk is kept on purpose: it is where Litestream writes
 * and looks, so both read each other's replicas.
 */

/** Prefix of everything a replica stores: `<path>/`. */
export function s3RootPrefix(path: string): string {
  return `${path}/`;
}

/** `<path>/<level %04x>/`. */
export function s3LevelPrefix(path: string, level: number): string {
  return `${s3RootPrefix(path)}${level.toString(16).padStart(4, '0')}/`;
}

export function s3LtxKey(path: string, level: number, minTxid: bigint, maxTxid: bigint): string {
  return `${s3LevelPrefix(path, level)}${formatFilename(minTxid, maxTxid)}`;
}

/**
 * The TXIDs of a listed key directly under a level prefix; null for anything
 * else (other names, deeper keys), which listings skip.
 */
export function parseS3LtxKey(levelPrefix: string, key: string): { minTxid: bigint; maxTxid: bigint } | null {
  if (!key.startsWith(levelPrefix)) return null;
  return parseFilename(key.slice(levelPrefix.length));
}

/**
 * The ListObjectsV2 StartAfter that skips every file with MinTXID below
 * `seek`: names are fixed-width lower-case hex, so key order is TXID order,
 * and `<prefix><seek %016x>` sorts just before the first name starting with it.
 */
export function s3SeekStartAfter(levelPrefix: string, seek: bigint): string | undefined {
  return seek > 0n ? `${levelPrefix}${seek.toString(16).padStart(16, '0')}` : undefined;
}
