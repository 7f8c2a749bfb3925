/**
 * The package as a user gets it: `npm pack` of a copy of the repository (so the prepack build runs,
 * as on a fresh clone, without touching this checkout's dist/), `npm install` of the tarball into an
 * empty project, and then the CLI, the README's library examples (run as JavaScript, typechecked as
 * TypeScript against the installed declarations) and what the tarball holds.
 *
 * better-sqlite3 is installed with --ignore-scripts and given the binding this checkout built (same
 * version, same Node), because compiling it from source takes two minutes or more on two cores. What is
 * verified: the tarball's contents, that npm resolves and installs its dependencies, the bin link, the
 * exports map and the types. What is not: that better-sqlite3's own install script succeeds on the
 * user's machine (the repository's own `npm ci` runs that same script).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { startS3Server, S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY, type S3TestServer } from '../storage/s3/s3-server.js';
import { parseReadmeExamples, type ReadmeExample } from './readme-examples.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE_TIMEOUT_MS = 60_000;

/** The environment for npm and the examples, without the variables of the `npm test` that may be running this. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_(package|lifecycle)_/.test(k) && k !== 'NODE_OPTIONS' && k !== 'INIT_CWD') env[k] = v;
  }
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', env: opts.env ?? cleanEnv(), timeout: opts.timeout ?? 300_000, maxBuffer: 64 << 20 });
}

function check(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) {
    assert.fail(`${what} failed (exit ${r.status ?? r.signal}${r.error ? `, ${r.error.message}` : ''}):\n${r.stderr}\n${r.stdout}`.slice(0, 20_000));
  }
  return r.stdout;
}

function versionIn(dir: string, pkg: string): string {
  return (JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The files a fresh clone has: tracked ones, and new ones not ignored (for a run before a commit). */
function repositoryFiles(): string[] {
  const r = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
  check(r, 'git ls-files');
  return r.stdout.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

/**
 * Loaded with --import before each example: any connection or look-up of a host other than the
 * loopback fails at once, so an example can reach nothing but the servers this test starts.
 */
const NETWORK_GUARD = `
import net from 'node:net';
import dns from 'node:dns';
const local = (h) => h === undefined || h === null || h === '' || h === 'localhost' || /^127\\./.test(h) || h === '::1' || h === '[::1]';
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let o = args[0];
  if (Array.isArray(o)) o = o[0];
  // As net decides: options with a path, or a non-numeric string, are a local socket; else host (localhost when none).
  const host = o !== null && typeof o === 'object' ? (o.path ? undefined : o.host) : typeof o === 'string' && isNaN(Number(o)) ? undefined : args[1];
  if (!local(host)) throw new Error('example tried to connect to ' + host + ': only the loopback is allowed here');
  return connect.apply(this, args);
};
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  if (!local(host)) throw new Error('example tried to look up ' + host + ': only the loopback is allowed here');
  return lookup.call(this, host, ...rest);
};
`;

describe('the packed package, installed into an empty project', { timeout: 15 * 60_000 }, () => {
  let work: string;
  let app: string;
  let tarball: string;
  let pkgDir: string;
  let tarFiles: string[];
  let examples: ReadmeExample[];
  let s3: S3TestServer | undefined;

  before(async () => {
    examples = parseReadmeExamples(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    work = mkdtempSync(join(tmpdir(), 'tidemark-pack-'));

    // A copy of the repository with no dist/, sharing this checkout's node_modules. package-lock.json
    // is left out: npm pack does not need it, and a copy newer than node_modules would make the
    // prepack's dependency check reinstall into the shared node_modules.
    const clone = join(work, 'clone');
    for (const f of repositoryFiles()) {
      if (f === 'package-lock.json' || f.startsWith('dist/')) continue;
      mkdirSync(dirname(join(clone, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(clone, f));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const packs = join(work, 'packs');
    mkdirSync(packs);
    check(run('npm', ['pack', '--pack-destination', packs], clone), 'npm pack');
    const tgz = readdirSync(packs).filter((f) => f.endsWith('.tgz'));
    assert.equal(tgz.length, 1, `npm pack wrote ${tgz.join(', ') || 'no tarball'}`);
    tarball = join(packs, tgz[0]!);
    tarFiles = check(run('tar', ['-tzf', tarball], work), 'tar -t')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.replace(/^package\//, ''));

    // An empty project: the tarball, and what a TypeScript user adds (same versions as this
    // checkout, so npm finds them in its cache).
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'tidemark-user', private: true, type: 'module' }, null, 2));
    const devTypes = ['typescript', '@types/node', '@types/better-sqlite3'].map((p) => `${p}@${versionIn(ROOT, p)}`);
    check(
      run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball, ...devTypes], app),
      'npm install of the tarball',
    );
    pkgDir = join(app, 'node_modules', 'tidemark');

    // The native binding this checkout built, for the same better-sqlite3 version.
    const want = versionIn(ROOT, 'better-sqlite3');
    const got = versionIn(app, 'better-sqlite3');
    assert.equal(got, want, `the tarball installed better-sqlite3 ${got}, this checkout has ${want}: the binding cannot be reused`);
    const binding = join('build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
    copyFileSync(join(ROOT, 'node_modules', 'better-sqlite3', binding), join(app, 'node_modules', 'better-sqlite3', binding));

    writeFileSync(join(app, 'network-guard.mjs'), NETWORK_GUARD);
    s3 = await startS3Server(['backups']);
  });

  after(async () => {
    await s3?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('ships the built entry points, the types, the sources the maps name, the docs and the licence, and nothing else', () => {
    const size = statSync(tarball).size;
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/eventlog/index.js', 'dist/eventlog/index.d.ts', 'dist/ltx/index.js', 'dist/ltx/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts', 'dist/cli/main.js', 'src/index.ts']) {
      assert.ok(tarFiles.includes(f), `${f} is not in the tarball`);
    }
    const tops = new Set(tarFiles.map((f) => f.split('/')[0]));
    assert.deepEqual([...tops].sort(), ['LICENSE', 'README.md', 'dist', 'docs', 'package.json', 'src']);
    assert.ok(!tarFiles.some((f) => /\.test\.|(^|\/)node_modules\//.test(f)), 'the tarball holds tests or node_modules');
    assert.ok(size < 4 << 20, `the tarball is ${size} bytes`);
    assert.match(readFileSync(join(pkgDir, 'LICENSE'), 'utf8'), /^\s*Apache License\s+Version 2\.0, January 2004/);
  });

  it('has no source map that names a file missing from the package', () => {
    const maps = tarFiles.filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0, 'no source maps: the test of their sources would check nothing');
    const missing: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(pkgDir, m), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of map.sources) {
        const p = posix.normalize(posix.join(posix.dirname(m), map.sourceRoot ?? '', s));
        if (!tarFiles.includes(p)) missing.push(`${m} -> ${s}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('npx tidemark --help exits 0 and prints the usage', () => {
    const out = check(run('npx', ['--no', '--', 'tidemark', '--help'], app), 'npx tidemark --help');
    assert.match(out, /Usage: tidemark/i);
    assert.match(out, /replicate/);
    assert.match(out, /restore/);
  });

  it('is ESM only: require() is refused, as the README says', () => {
    const r = run(process.execPath, ['-e', "require('tidemark')"], app);
    assert.notEqual(r.status, 0, 'require(\'tidemark\') worked');
    assert.match(r.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED|ERR_REQUIRE_ESM/);
  });

  it('README.md has runnable examples', () => {
    assert.ok(examples.length >= 5, `found ${examples.map((e) => e.name).join(', ') || 'none'}`);
  });

  it("the README's examples run as ESM JavaScript", () => {
    const failures: string[] = [];
    for (const ex of examples) {
      const dir = join(app, 'js', ex.name);
      mkdirSync(dir, { recursive: true });
      const js = ts.transpileModule(ex.source, {
        fileName: `${ex.name}.ts`,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      }).outputText;
      writeFileSync(join(dir, 'example.mjs'), js);
      const r = run(process.execPath, ['--import', join(app, 'network-guard.mjs'), 'example.mjs'], dir, {
        timeout: EXAMPLE_TIMEOUT_MS,
        env: cleanEnv({
          AWS_ENDPOINT_URL_S3: s3!.endpoint,
          AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
          AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY,
          AWS_EC2_METADATA_DISABLED: 'true',
        }),
      });
      if (r.status !== 0) {
        const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
        failures.push(`README example "${ex.name}" (README.md:${ex.line}) failed as JavaScript (${why}):\n${r.stderr.slice(0, 4000)}${r.stdout.slice(0, 1000)}`);
      }
    }
    assert.ok(failures.length === 0, failures.join('\n\n'));
  });

  it("the README's examples typecheck as strict TypeScript (module nodenext) against the installed types", () => {
    const dir = join(app, 'ts');
    mkdirSync(dir, { recursive: true });
    const byFile = new Map<string, ReadmeExample>();
    for (const ex of examples) {
      const f = join(dir, `${ex.name}.ts`);
      writeFileSync(f, ex.source);
      byFile.set(`${ex.name}.ts`, ex);
    }
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2023'],
          types: ['node'],
          noEmit: true,
          skipLibCheck: false,
        },
        include: ['ts/*.ts'],
      }),
    );
    const r = run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--pretty', 'false'], app);
    if (r.status === 0) return;
    // Name the example each diagnostic belongs to, with the README line it comes from.
    const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '');
    const named = lines.map((l) => {
      const m = /^ts\/([^(]+)\((\d+),\d+\): (.*)$/.exec(l);
      const ex = m ? byFile.get(m[1]!) : undefined;
      if (!m || !ex) return l;
      const n = Number(m[2]);
      const setupLines = ex.setup === '' ? 0 : ex.setup.split('\n').length - 1;
      const where = n <= setupLines ? `its set-up, line ${n}` : `README.md:${ex.line + n - setupLines}`;
      return `README example "${ex.name}" (${where}): ${m[3]}`;
    });
    assert.fail(`tsc found errors in the README examples:\n${named.join("\n")}`);
  });
});
