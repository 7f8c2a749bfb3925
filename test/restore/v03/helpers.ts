import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TESTDATA } from '../../helpers/testdata.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const V03_TESTDATA = join(TESTDATA, 'litestream-v0.3');
export const V03_FIXTURE_REPLICA = join(V03_TESTDATA, 'replica');
export const V03_EXPECTED_DB = join(V03_TESTDATA, 'expected_restored.db');
export const V03_FIXTURE_GENERATION = '0000000000000000';
/** The Litestream v0.3.13 binary installed as a dev dependency. */
export const LITESTREAM_V03_BIN = join(ROOT, 'node_modules', '@flydotio', 'litestream-linux-x64', 'litestream');

export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `tidemark-${prefix}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A writable copy of the golden v0.3 replica, mtimes preserved, so tests never alter the checked-in one (which may be read-only). */
export async function copyFixtureReplica(dir: string, name = 'replica'): Promise<string> {
  const dst = join(dir, name);
  await cp(V03_FIXTURE_REPLICA, dst, { recursive: true, preserveTimestamps: true });
  await makeWritable(dst);
  return dst;
}

async function makeWritable(path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true });
  await chmod(path, 0o755);
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) await makeWritable(p);
    else await chmod(p, 0o644);
  }
}

/** Runs the `lz4` command-line tool (a real, independent LZ4 implementation) on bytes. */
export function lz4Cli(args: string[], input: Uint8Array): Buffer {
  const r = spawnSync('lz4', [...args, '-c'], { input, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`lz4 ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Collects a stream of chunks into one buffer. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** Feeds bytes as an async stream cut at the given sizes (cycled), to exercise every buffer boundary. */
export async function* chunked(bytes: Uint8Array, sizes: readonly number[] = [bytes.length || 1]): AsyncGenerator<Uint8Array> {
  let pos = 0;
  let i = 0;
  while (pos < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    yield bytes.slice(pos, pos + n);
    pos += n;
  }
}

/** Lists every file under a directory, relative paths, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name), join(rel, e.name));
      else out.push(join(rel, e.name));
    }
  };
  await walk(dir, '');
  return out.sort();
}
