// makeDirs: `mkdir -p` that returns what it created, outermost first, and
// that reports the real reason a directory cannot be made (ENOTDIR, EROFS,
// EACCES), never the ENOENT Node's recursive mkdir turns those into.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeDirs } from '../../src/io/make-dirs.js';
import { withTempDir } from '../replication/helpers.js';

const run = promisify(execFile);
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'make-dirs-child.ts');
const IS_ROOT = process.getuid?.() === 0;
/** The user a root test runs the child as, so that permissions apply to it. */
const NOBODY = 65534;

type ChildResult = { created: string[] } | { code: string | null; message: string };

/** Runs makeDirs(`target`) in a child: `wrap` is the command (and arguments) the child runs under. */
async function makeDirsInChild(target: string, wrap: string[] = []): Promise<ChildResult> {
  const node = [process.execPath, '--import', 'tsx', CHILD, target];
  const [cmd, ...args] = [...wrap, ...node] as [string, ...string[]];
  const { stdout } = await run(cmd, args, { cwd: join(dirname(CHILD), '..', '..', '..') });
  return JSON.parse(stdout.trim()) as ChildResult;
}

/** The built makeDirs (npm test builds first), copied where an unprivileged child can read it, with a JS child beside it. */
const BUILT_IO = join(dirname(CHILD), '..', '..', '..', 'dist', 'io');
const BUILT_CHILD = `import { makeDirs } from './make-dirs.js';
try {
  process.stdout.write(JSON.stringify({ created: await makeDirs(process.argv[2]) }) + '\\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ code: e.code ?? null, message: e.message }) + '\\n');
}
`;

/**
 * makeDirs(`target`) in a child running as nobody. The child cannot be
 * expected to read the repository (a clone under a 0700 directory, such as
 * root's home), so it runs a copy of the built module from `dir`.
 */
async function makeDirsAsNobody(dir: string, target: string): Promise<ChildResult> {
  const lib = join(dir, 'lib');
  await mkdir(lib, { recursive: true, mode: 0o755 });
  for (const f of ['make-dirs.js', 'durable-fs.js']) await copyFile(join(BUILT_IO, f), join(lib, f));
  await writeFile(join(lib, 'child.mjs'), BUILT_CHILD);
  await chmod(lib, 0o755);
  const { stdout } = await run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, join(lib, 'child.mjs'), target], { cwd: lib });
  return JSON.parse(stdout.trim()) as ChildResult;
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p)).isDirectory();
}

describe('makeDirs', () => {
  it('creates nested directories and returns them outermost first', async () => {
    await withTempDir(async (dir) => {
      const target = join(dir, 'a', 'b', 'c');
      assert.deepEqual(await makeDirs(target), [join(dir, 'a'), join(dir, 'a', 'b'), target]);
      assert.ok(await isDir(target));
    });
  });

  it('is idempotent, and creates only what is missing', async () => {
    await withTempDir(async (dir) => {
      const target = join(dir, 'a', 'b');
      await makeDirs(target);
      assert.deepEqual(await makeDirs(target), [], 'nothing to create the second time');
      assert.deepEqual(await makeDirs(dir), [], 'an existing directory');
      assert.deepEqual(await makeDirs(join(target, 'c', 'd')), [join(target, 'c'), join(target, 'c', 'd')]);
      assert.deepEqual(await readdir(join(dir, 'a')), ['b']);
    });
  });

  it('concurrent calls for overlapping paths all succeed', async () => {
    await withTempDir(async (dir) => {
      const targets = ['x/y/z', 'x/y/w', 'x/y', 'x/q/r'].map((t) => join(dir, t));
      const created = (await Promise.all(targets.map((t) => makeDirs(t)))).flat();
      for (const t of targets) assert.ok(await isDir(t));
      assert.equal(new Set(created).size, created.length, 'no directory is reported created twice');
    });
  });

  it('works with a relative path', async () => {
    await withTempDir(async (dir) => {
      const rel = relative(process.cwd(), join(dir, 'r', 's'));
      assert.deepEqual(await makeDirs(rel), [dirname(rel), rel]);
      assert.ok(await isDir(join(dir, 'r', 's')));
    });
  });

  it('reports ENOTDIR when a component is a file, and creates nothing', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'a', 'file');
      await mkdir(join(dir, 'a'));
      await writeFile(file, 'x');
      await assert.rejects(makeDirs(join(file, 'b', 'c')), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'ENOTDIR');
        assert.match(err.message, /is a file|not a directory/);
        return true;
      });
      await assert.rejects(makeDirs(file), { code: 'ENOTDIR' }, 'the path itself is a file');
      assert.deepEqual(await readdir(join(dir, 'a')), ['file']);
    });
  });

  it(IS_ROOT ? 'reports EROFS under a read-only bind mount (root: a private mount namespace)' : 'reports EACCES under a directory it cannot write (chmod 0555)', async () => {
    await withTempDir(async (dir) => {
      const ro = join(dir, 'ro');
      await mkdir(ro);
      const target = join(ro, 'x', 'y');
      let result: ChildResult;
      if (IS_ROOT) {
        // root ignores permissions: a read-only bind mount in a private mount namespace is the real thing.
        const node = [process.execPath, '--import', 'tsx', CHILD, target].map((a) => `"${a}"`).join(' ');
        const script = `mount --bind "${ro}" "${ro}" && mount -o remount,bind,ro "${ro}" && exec ${node}`;
        result = await makeDirsInChild(target, ['unshare', '-m', 'sh', '-c', script]);
      } else {
        await chmod(ro, 0o555);
        result = await makeDirsInChild(target);
      }
      assert.ok('code' in result, `makeDirs succeeded: ${JSON.stringify(result)}`);
      assert.equal(result.code, IS_ROOT ? 'EROFS' : 'EACCES', result.message);
      assert.doesNotMatch(result.message, /ENOENT/, 'the real cause, not a missing directory');
      assert.match(result.message, new RegExp(`mkdir '${join(ro, 'x')}'`), 'names the directory it could not make');
    });
  });

  it('reports EACCES, not ENOENT, for a directory it may not write or search (as an unprivileged user)', async () => {
    await withTempDir(async (dir) => {
      // Root passes every permission check: the child runs as nobody then (and needs to reach the temporary directory).
      await chmod(dir, 0o755);
      const noWrite = join(dir, 'no-write');
      const noSearch = join(dir, 'no-search');
      await mkdir(noWrite, { mode: 0o755 });
      await mkdir(noSearch);
      await chmod(noWrite, 0o555);
      await chmod(noSearch, 0o600);
      for (const target of [join(noWrite, 'a', 'b'), join(noSearch, 'a', 'b')]) {
        const result = IS_ROOT ? await makeDirsAsNobody(dir, target) : await makeDirsInChild(target);
        assert.ok('code' in result, `makeDirs(${target}) succeeded: ${JSON.stringify(result)}`);
        assert.equal(result.code, 'EACCES', result.message);
        assert.doesNotMatch(result.message, /ENOENT/);
      }
      assert.deepEqual(await readdir(noWrite), []);
      await chmod(noSearch, 0o700);
      assert.deepEqual(await readdir(noSearch), []);
    });
  });
});
