import { open, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, posix, relative, sep } from 'node:path';
import { META_DIR_SUFFIX, defaultMetaDir } from '../replication/local-meta.js';
import { ConfigError, ValueSyntaxError } from './errors.js';
import { GlobPattern } from './glob-pattern.js';
import { expandPath, type PathContext } from './path-expand.js';
import { encodePath } from './replica-config.js';
import type { DbConfig, ReplicaConfig, ResolvedDatabase, TidemarkConfig } from './types.js';

/** The first 16 bytes of every SQLite database file. */
export const SQLITE_HEADER = 'SQLite format 3\0';

/** Whether the file starts with the SQLite header; unreadable files are not databases. */
export async function isSqliteDatabase(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(SQLITE_HEADER.length);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return bytesRead === buf.length && buf.toString('latin1') === SQLITE_HEADER;
  } catch {
    return false;
  } finally {
    await fh.close();
  }
}

/**
 * SQLite databases under `dir` whose base name matches `pattern`, in the
 * order Go's filepath.Walk visits them (names sorted, depth first).
 * Subdirectories are entered only when `recursive`; symbolic links are never
 * followed into, though a link to a database file counts as a database.
 */
export async function findSqliteDatabases(dir: string, pattern: string | GlobPattern, recursive: boolean): Promise<string[]> {
  const glob = typeof pattern === 'string' ? GlobPattern.compile(pattern) : pattern;
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (recursive) await walk(p);
      } else if (glob.matches(e.name) && (await isSqliteDatabase(p))) {
        out.push(p);
      }
    }
  };
  await walk(dir);
  return out;
}

/**
 * Local state of a database found under a `dir:` entry whose `meta-path` is
 * `base`: `<base>/<relDir>/.<file>-tidemark`, so databases never share it.
 */
export function dirEntryMetaPath(base: string, relPath: string): string {
  const rel = posix.normalize(relPath);
  if (rel === '.' || rel === '') return base;
  return join(base, posix.dirname(rel), `.${posix.basename(rel)}${META_DIR_SUFFIX}`);
}

/** The replica of a database found under a `dir:` entry: the entry's replica plus the database's relative path. */
export function replicaForRelativePath(replica: ReplicaConfig, relPath: string): ReplicaConfig {
  const rel = posix.normalize(relPath);
  if (rel === '.' || rel === '') return replica;
  if (replica.type === 'file') return { ...replica, url: join(replica.url, ...rel.split('/')) };
  return { ...replica, url: appendUrlPath(replica.url, rel) };
}

const ARN_AUTHORITY_RE = /^arn:[^/?#]*:accesspoint\/[^/?#]+/i;

/** `scheme://authority/path?query` with `rel` joined onto the path; the query and fragment stay. */
function appendUrlPath(url: string, rel: string): string {
  const schemeEnd = url.indexOf('://') + 3;
  const scheme = url.slice(0, schemeEnd);
  const rest = url.slice(schemeEnd);
  const tailAt = rest.search(/[?#]/);
  const main = tailAt < 0 ? rest : rest.slice(0, tailAt);
  const tail = tailAt < 0 ? '' : rest.slice(tailAt);
  const arn = ARN_AUTHORITY_RE.exec(main);
  const slash = main.indexOf('/');
  const authorityEnd = arn !== null ? arn[0].length : slash < 0 ? main.length : slash;
  const path = safeDecode(main.slice(authorityEnd));
  // Two leading slashes mark an absolute sftp path (a config file's); joining must not fold them into one.
  const absolute = path.startsWith('//') ? '/' : '';
  return `${scheme}${main.slice(0, authorityEnd)}${absolute}${encodePath(posix.join(path, rel))}${tail}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A `path:` entry as a database to replicate. */
export function resolvePathDatabase(db: DbConfig): ResolvedDatabase {
  if (db.path === undefined) throw new TypeError(`${db.source.keyPath} is a dir entry`);
  return { path: db.path, metaPath: db.metaPath ?? defaultMetaDir(db.path), replica: db.replica, replicas: db.replicas, relPath: undefined, entry: db };
}

function dirEntryDatabase(db: DbConfig, root: string, path: string): ResolvedDatabase {
  const relPath = relative(root, path).split(sep).join('/');
  return {
    path,
    metaPath: db.metaPath === undefined ? defaultMetaDir(path) : dirEntryMetaPath(db.metaPath, relPath),
    replica: replicaForRelativePath(db.replica, relPath),
    replicas: db.replicas.map((r) => replicaForRelativePath(r, relPath)),
    relPath,
    entry: db,
  };
}

/**
 * The databases a `dir:` entry stands for right now: every SQLite file under
 * the directory matching the pattern (recursively when asked), each with its
 * own meta path and its own replica location. Without `watch`, finding none
 * is an error, as in Litestream.
 */
export async function expandDirDatabases(db: DbConfig): Promise<ResolvedDatabase[]> {
  const dir = db.dir;
  if (dir === undefined) throw new TypeError(`${db.source.keyPath} is not a dir entry`);
  const at = dir.source;
  let root: string;
  let paths: string[];
  try {
    if (!(await stat(dir.path)).isDirectory()) throw new ConfigError(at, `${dir.path} is not a directory`);
    root = dir.path;
    paths = await findSqliteDatabases(root, dir.pattern, dir.recursive);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(at, `cannot scan directory ${dir.path}${code === undefined ? '' : ` (${code})`}`, { cause: err });
  }
  if (paths.length === 0 && !dir.watch) {
    throw new ConfigError(at, `no SQLite databases found in ${dir.path} matching ${JSON.stringify(dir.pattern)}`);
  }
  const found = paths.map((p) => dirEntryDatabase(db, root, p));
  checkResolvedDistinct(found);
  return found;
}

/** Every database the configuration names, with `dir:` entries scanned. */
export async function resolveDatabases(config: TidemarkConfig): Promise<ResolvedDatabase[]> {
  const out: ResolvedDatabase[] = [];
  for (const db of config.dbs) {
    if (db.dir !== undefined) out.push(...(await expandDirDatabases(db)));
    else out.push(resolvePathDatabase(db));
  }
  checkResolvedDistinct(out);
  return out;
}

function checkResolvedDistinct(dbs: readonly ResolvedDatabase[]): void {
  const byPath = new Map<string, ResolvedDatabase>();
  const byMeta = new Map<string, ResolvedDatabase>();
  const describe = (d: ResolvedDatabase): string =>
    `${d.entry.source.keyPath}${d.entry.source.line === undefined ? '' : ` (line ${d.entry.source.line})`}`;
  for (const d of dbs) {
    const samePath = byPath.get(d.path);
    if (samePath !== undefined && samePath.entry !== d.entry) {
      throw new ConfigError(d.entry.source, `database ${d.path} is also configured by ${describe(samePath)}`);
    }
    byPath.set(d.path, d);
    const sameMeta = byMeta.get(d.metaPath);
    if (sameMeta !== undefined) {
      throw new ConfigError(
        d.entry.source,
        `meta-path collision: ${sameMeta.path} and ${d.path} would share ${d.metaPath} and corrupt each other's state`,
      );
    }
    byMeta.set(d.metaPath, d);
  }
}

/**
 * The configured database at `dbPath` (made absolute like config paths), for
 * `restore DB_PATH`, `ltx DB_PATH`, `reset DB_PATH` and `status DB_PATH`.
 * `path:` entries are matched first. Unlike Litestream, a path that a `dir:`
 * entry would cover (inside the directory, matching the pattern) is found
 * too, even when the file does not exist yet, so databases replicated through
 * a directory can be restored by path.
 */
export function findDatabase(config: TidemarkConfig, dbPath: string, paths?: Partial<PathContext>): ResolvedDatabase | undefined {
  let p: string;
  try {
    p = expandPath(dbPath, { cwd: paths?.cwd ?? process.cwd(), homeDir: paths?.homeDir ?? homedir() });
  } catch (err) {
    if (err instanceof ValueSyntaxError) return undefined;
    throw err;
  }
  for (const db of config.dbs) if (db.path === p) return resolvePathDatabase(db);
  for (const db of config.dbs) {
    if (db.dir === undefined) continue;
    const rel = relative(db.dir.path, p);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) continue;
    if (!db.dir.recursive && dirname(rel) !== '.') continue;
    if (!GlobPattern.compile(db.dir.pattern).matches(basename(p))) continue;
    return dirEntryDatabase(db, db.dir.path, p);
  }
  return undefined;
}
