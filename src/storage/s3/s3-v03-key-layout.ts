import { posix } from 'node:path';
import { V03_GENERATIONS_DIR } from '../v03-replica-client.js';

/**
 * Where Litestream v0.3 put its backups in a bucket: the relative keys of
 * v03-replica-client.ts joined to the replica path the way Go's path.Join
 * joins them (v0.3 built every key with it). Unlike the LTX layout
 * (s3-key-layout.ts), an empty path therefore gives keys with no leading '/':
 * a v0.3 replica at the bucket root lives under `generations/…`, which is
 * where v0.3 wrote it. Joining also cleans the path (`a//b/` → `a/b`), as
 * path.Join did.
 */

/** `<path>/<relKey>`, joined and cleaned as Go's path.Join does; `relKey` alone for an empty path. */
export function s3V03Key(path: string, relKey: string): string {
  return posix.join(path, relKey);
}

/** `<path>/<relPrefix>/`: the listing prefix of everything under a v0.3 directory. */
export function s3V03Prefix(path: string, relPrefix: string): string {
  return `${s3V03Key(path, relPrefix)}/`;
}

/** `<path>/generations/`. */
export function s3V03GenerationsPrefix(path: string): string {
  return s3V03Prefix(path, V03_GENERATIONS_DIR);
}

/**
 * The ListObjectsV2 StartAfter that skips every key under `<prefix><name>/`:
 * '0' is the character right after '/', so `<prefix><name>0` sorts after all
 * of them and before the keys of any later name (the one key it also skips,
 * `<prefix><name>0` itself, would be an object, not a directory).
 */
export function s3V03SkipDirStartAfter(prefix: string, name: string): string {
  return `${prefix}${name}0`;
}
